"""The contract parse rule: parties, agreement date, governing law (EN and ZH), and CUAD quality."""

from __future__ import annotations

import pytest

from ingest.doc_rules import detect_type, extract_facts

PREAMBLE = (
    'EXHIBIT 10.32 CO-BRANDING AGREEMENT This Agreement, dated as of January 30, 2000 ("Effective Date"), is made and entered into by and '
    'between Amazon.com Commerce Services, Inc., a Delaware corporation ("ACSI"), and Audible Inc. a Delaware corporation ("Company"). '
    "ACSI and Company agree as follows: 1. Definitions ... 12. This Agreement shall be governed by and construed in accordance with the "
    "laws of the State of Washington, without regard to its conflict of laws principles. The Company is duly organized under the laws of "
    "the State of Delaware."
)


def test_english_preamble():
    facts = extract_facts(PREAMBLE)
    assert facts is not None and facts.doc_type == "contract"
    parties = [v.value for v in facts.fields["parties"]]
    assert [p["name"] for p in parties] == ["Amazon.com Commerce Services, Inc.", "Audible Inc."]
    assert parties[0]["aliases"] == ["ACSI"]
    assert facts.first("agreement_date") == "2000-01-30"
    assert facts.first("governing_law") == "Washington"  # not the incorporation statement
    span = facts.fields["governing_law"][0]
    assert PREAMBLE[span.start : span.end] == "Washington"


def test_parties_listed_with_defined_terms_and_party_labels():
    text = (
        'AGENCY AGREEMENT. Athens Bancshares Corporation, a Tennessee corporation (the "Company"), Athens Federal Community Bank '
        '(the "Bank") and Keefe, Bruyette & Woods, Inc. (the "Agent") hereby agree. This agreement is governed by the Laws of England.'
    )
    names = [v.value["name"] for v in extract_facts(text, "contract").fields["parties"]]
    assert {"Athens Bancshares Corporation", "Athens Federal Community Bank", "Keefe, Bruyette & Woods, Inc."} <= set(names)
    assert extract_facts(text, "contract").first("governing_law") == "England"
    labelled = (
        "Cooperation Agreement\nParty A: Beike Internet Security Technology Co., Ltd.\nAddress: Room 2101\nParty B: Baidu Online Network Technology Co., Ltd.\n"
    )
    names = [v.value["name"] for v in extract_facts(labelled, "contract").fields["parties"]]
    assert names == ["Beike Internet Security Technology Co., Ltd.", "Baidu Online Network Technology Co., Ltd."]


def test_chinese_contract():
    text = "设备采购合同\n甲方（买方）：上海交通大学医学院附属仁济医院\n乙方（卖方）：医供分销有限公司\n签订日期：2026年3月5日\n本合同适用中华人民共和国法律。"
    facts = extract_facts(text)
    assert facts.doc_type == "contract"
    assert [v.value["name"] for v in facts.fields["parties"]] == ["上海交通大学医学院附属仁济医院", "医供分销有限公司"]
    assert facts.first("agreement_date") == "2026-03-05"
    assert facts.first("governing_law") == "中华人民共和国"


def test_a_memo_is_not_a_contract():
    assert detect_type("Minutes of the weekly sales meeting. Attendees: Li Ming, Wang Fang. Next steps: send the brochure.") is None


def test_cuad_quality_holds(shared_data_dir):
    from bench.cuad_quality import evaluate, load_cuad

    if not (shared_data_dir / "documents" / "cuad").exists():
        pytest.skip(f"CUAD not found under {shared_data_dir} (set KHUB_SHARED_DATA to run the quality check)")
    figures = evaluate(load_cuad(shared_data_dir))["khub"]
    assert figures["party_recall"] >= 0.85  # the target
    assert figures["party_precision"] >= 0.75
    assert figures["agreement_date_accuracy"] >= 0.78
    assert figures["governing_law_accuracy"] >= 0.73
