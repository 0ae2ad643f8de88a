"""Money, dates, percentages, serials and model codes in English and Chinese."""

from __future__ import annotations

import pytest

from ingest.nlp.quantities import find_dates, find_money, find_percentages, find_serials, model_codes


@pytest.mark.parametrize(
    ("text", "surface", "value"),
    [
        ("预算金额：人民币120万元。", "人民币120万元", (1_200_000.0, "CNY")),
        ("项目总投资3亿元", "3亿元", (300_000_000.0, "CNY")),
        ("单价¥50,000", "¥50,000", (50_000.0, "CNY")),
        ("approved a budget of $1.2 million", "$1.2 million", (1_200_000.0, "USD")),
        ("a fee of €300k per year", "€300k", (300_000.0, "EUR")),
        ("price 45 USD each", "45 USD", (45.0, "USD")),
        ("合同金额为45.5万美元", "45.5万美元", (455_000.0, "USD")),
    ],
)
def test_money(text, surface, value):
    (found,) = find_money(text)
    assert (found.text, found.value) == (surface, value)
    assert text[found.start : found.end] == found.text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("投标截止时间：2026年12月1日。", "2026-12-01"),
        ("于2025年3月签订", "2025-03"),
        ("dated 2025-03-01 and", "2025-03-01"),
        ("entered into on March 3, 2019 between", "2019-03-03"),
        ("made this 3rd day of March 2019", "2019-03-03"),
        ("delivery in Q4 2025", "2025-Q4"),
        ("2025年第四季度交付", "2025-Q4"),
    ],
)
def test_dates(text, value):
    assert [q.value for q in find_dates(text)] == [value]


def test_invalid_dates_are_not_dates():
    assert find_dates("2025-13-45 and 2025年13月") == []


def test_percentages_and_serials_and_codes():
    assert [q.value for q in find_percentages("价格40%，技术45%，服务百分之十五, margin 12.5 percent")] == [0.4, 0.45, 0.15, 0.125]
    assert [q.value for q in find_serials("S/N: us900-0142 and 序列号：AB12345")] == ["US900-0142", "AB12345"]
    assert "dscw120p" in model_codes("Sony Cyber-shot DSC-W120/P (pink)")
    assert "dscw120p" in model_codes("sony dscw120p pink camera")
    assert model_codes("in 2019 we met") == []
