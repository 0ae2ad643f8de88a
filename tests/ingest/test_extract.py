"""Entity, title and relation extraction with the real spaCy and jieba pipelines."""

from __future__ import annotations

import pytest

from ingest.nlp.extract import Extractor, KnownTerm, detect_language
from ontology.gazetteers import default_gazetteers


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor([KnownTerm("Product", "UltraScan 900", "us-900"), KnownTerm("Policy", "上海市医疗设备更新补贴", "sh-subsidy")])


def by_label(extraction, label):
    return [m.text for m in extraction.mentions if m.label == label]


def relation_set(extraction):
    return {(r.type, extraction.mentions[r.subject].text, extraction.mentions[r.object].text) for r in extraction.relations}


def test_english_entities_titles_relations(extractor):
    text = (
        "This Agreement is entered into on March 3, 2019 between Acme Medical Inc. and Beta Hospital GmbH. "
        "John Smith, Chief Financial Officer of Beta Hospital GmbH, approved $1.2 million for the UltraScan 900. "
        "Mary Jones reports to John Smith."
    )
    e = extractor.extract(text)
    assert e.language == "en"
    assert "Acme Medical Inc." in by_label(e, "Account")
    assert {"John Smith", "Mary Jones"} <= set(by_label(e, "Contact"))
    product = next(m for m in e.mentions if m.label == "Product")
    assert (product.text, product.node_id, product.method) == ("UltraScan 900", "us-900", "ruler")
    assert ("WORKS_AT", "John Smith", "Beta Hospital GmbH") in relation_set(e)
    role = next(r for r in e.relations if r.type == "HAS_ROLE")
    assert role.props == {"role": "budget_holder"}
    assert ("REPORTS_TO", "Mary Jones", "John Smith") in relation_set(e)
    assert {(q.kind, q.value) for q in e.quantities} >= {("date", "2019-03-03"), ("money", (1_200_000.0, "USD"))}
    for m in e.mentions:
        assert text[m.start : m.end] == m.text


def test_chinese_entities_titles_relations(extractor):
    text = "采购人：上海交通大学医学院附属仁济医院。仁济医院设备科科长李明表示，预算金额为人民币120万元。根据上海市医疗设备更新补贴，张伟向王芳汇报。"
    e = extractor.extract(text)
    assert e.language == "zh"
    assert "上海交通大学医学院附属仁济医院" in by_label(e, "Account")
    assert {"李明", "张伟", "王芳"} <= set(by_label(e, "Contact"))
    assert "设备科科长" not in by_label(e, "Account") + by_label(e, "Contact")
    assert by_label(e, "Policy") == ["上海市医疗设备更新补贴"]
    rels = relation_set(e)
    assert ("WORKS_AT", "李明", "仁济医院") in rels
    assert ("REPORTS_TO", "张伟", "王芳") in rels
    assert next(r.props for r in e.relations if r.type == "HAS_ROLE") == {"role": "technical_evaluator"}
    assert ("money", (1_200_000.0, "CNY")) in {(q.kind, q.value) for q in e.quantities}
    for m in e.mentions:
        assert text[m.start : m.end] == m.text


def test_language_detection():
    assert detect_language("招标公告 Tender notice 预算") == "zh"
    assert detect_language("Tender notice for ultrasound equipment") == "en"
    assert detect_language("12345") == "en"


@pytest.mark.parametrize(
    ("title", "role"),
    [
        ("Chief Financial Officer", "budget_holder"),
        ("财务处处长", "budget_holder"),
        ("设备科科长", "technical_evaluator"),
        ("Senior Procurement Manager", "procurement"),
        ("法律顾问", "legal"),
        ("assistant to the CEO", "gatekeeper"),
        ("Gardener", None),
    ],
)
def test_titles_map_to_decision_roles(title, role):
    assert default_gazetteers().role_for_title(title) == role
