"""Entity, title and relation extraction with the real spaCy and jieba pipelines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.nlp.extract import Extractor, KnownTerm, TermMatcher, detect_language, device_id
from ontology.errors import SchemaInvalid
from ontology.gazetteers import GAZETTEER_DIR, default_gazetteers, load_gazetteers, term_labels
from ontology.model import default_ontology


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


# ----------------------------------------------------------------------------- gazetteer terms and relations
@pytest.fixture(scope="module")
def default_extractor() -> Extractor:
    return Extractor()


def relation_of(extraction, rtype):
    """(subject text, object text, confidence) of each relation of a type."""
    return [(extraction.mentions[r.subject].text, extraction.mentions[r.object].text, r.confidence) for r in extraction.relations if r.type == rtype]


def test_gazetteer_terms_are_recognised_by_default_in_english_and_chinese(default_extractor):
    shipped = {t.id: t for t in default_gazetteers().terms}
    assert {"us-900", "cn-medical-equipment-renewal-subsidy", "cn-export-control-law"} <= set(shipped)
    assert {t.label for t in shipped.values()} == {"Product", "Policy"}
    text = "ULTRASCAN-900 units and a uct760 scanner; the Medical Equipment Renewal Subsidy and the PRC Export Control Law."
    e = default_extractor.extract(text)
    terms = {m.text: m for m in e.mentions if m.method == "ruler"}
    assert {k: m.node_id for k, m in terms.items()} == {
        "ULTRASCAN-900": "us-900",
        "uct760": "united-imaging-uct-760",
        "Medical Equipment Renewal Subsidy": "cn-medical-equipment-renewal-subsidy",
        "PRC Export Control Law": "cn-export-control-law",
    }
    product = dict(terms["uct760"].node_props)
    assert product["is_competitor"] is True and product["name"] == "United Imaging uCT 760" and product["model_number"] == "uCT 760"
    assert dict(terms["PRC Export Control Law"].node_props)["policy_kind"] == "regulation"
    zh = default_extractor.extract("仁济医院评估了联影uCT 760，并关注大型医疗设备更新补贴和出口管制法。")
    assert {m.text: m.node_id for m in zh.mentions if m.method == "ruler"} == {
        "联影uCT 760": "united-imaging-uct-760",
        "大型医疗设备更新补贴": "cn-medical-equipment-renewal-subsidy",
        "出口管制法": "cn-export-control-law",
    }
    for m in e.mentions + zh.mentions:
        assert (text if m in e.mentions else "仁济医院评估了联影uCT 760，并关注大型医疗设备更新补贴和出口管制法。")[m.start : m.end] == m.text


def _gazetteer_dir(tmp_path: Path, terms: str) -> Path:
    for name in ("roles.yaml", "organisations.yaml"):
        shutil.copy(GAZETTEER_DIR / name, tmp_path / name)
    (tmp_path / "terms.yaml").write_text(terms, encoding="utf-8")
    return tmp_path


def test_model_codes_match_with_or_without_separators_and_names_whole_words(tmp_path):
    gaz = load_gazetteers(
        _gazetteer_dir(
            tmp_path,
            "device_models:\n  - {id: cam-w120, name: CyberCam W120, codes: [DSC-W120], zh: [赛博相机W120], is_competitor: true}\n"
            "policies:\n  - {id: p1, name: Camera Import Tariff, zh: [相机进口关税], policy_kind: tariff, region_code: CN}\n",
        )
    )
    x = Extractor(gazetteers=gaz)
    for written in ("DSC-W120", "dscw120", "DSC W120", "dsc.w120", "Dsc-W 120"):
        (m,) = [m for m in x.extract(f"They use the {written} daily.").mentions if m.method == "ruler"]
        assert (m.text, m.node_id, m.label) == (written, "cam-w120", "Product")
    for other in ("DSC-W1200", "XDSC-W120", "DSC-W12"):
        assert not [m for m in x.extract(f"They use the {other} daily.").mentions if m.method == "ruler"]
    assert [m.node_id for m in x.extract("THE CAMERA IMPORT TARIFF and camera-import tariff").mentions if m.method == "ruler"] == ["p1", "p1"]
    assert [m.text for m in x.extract("新的相机进口关税将调整").mentions if m.method == "ruler"] == ["相机进口关税"]
    # a known term of the caller wins over the gazetteer for the same name
    mine = Extractor([KnownTerm("Product", "CyberCam W120", "graph-node-7")], gazetteers=gaz)
    assert [m.node_id for m in mine.extract("The CyberCam W120 is old.").mentions if m.method == "ruler"] == ["graph-node-7"]


def test_the_term_ruler_scans_thousands_of_terms_in_one_pass():
    terms = [KnownTerm("Product", f"Model X{i:04d} Pro", f"p{i}") for i in range(3000)]
    terms += [KnownTerm("Policy", f"第{i}号设备更新补贴", f"z{i}") for i in range(2000)]
    matcher = TermMatcher(known=terms)
    text = "We compared the Model X0042 Pro with the model x2999 pro and the Model X0042 Prototype; 第17号设备更新补贴适用。" * 10
    found = matcher.find(text)
    assert [m.node_id for m in found[:3]] == ["p42", "p2999", "z17"] and len(found) == 30
    assert matcher._name_re is not None and matcher._name_re.pattern.count("(?<![A-Za-z0-9])") < 20  # a trie, not 5,000 alternatives


RELATIONS = [
    # (text, type, subject, object)
    ("Renji Hospital operates a US-900 ultrasound system (serial SN-2019-0142).", "OWNS", "Renji Hospital", "SN-2019-0142"),
    ("Renji Hospital operates a US-900 ultrasound system (serial SN-2019-0142).", "INSTANCE_OF", "SN-2019-0142", "US-900"),
    ("Ruijin Hospital, which has operated a LOGIQ E10 (S/N LQ-7781) since 2019, plans a tender.", "OWNS", "Ruijin Hospital", "LQ-7781"),
    ("The US-900 ultrasound system (SN-2019-0142) installed at Renji Hospital is due for service.", "OWNS", "Renji Hospital", "SN-2019-0142"),
    ("Beta Hospital GmbH's UltraScan 900 (serial SN-2019-0142) needs a new probe.", "OWNS", "Beta Hospital GmbH", "SN-2019-0142"),
    ("仁济医院的US-900超声设备（序列号SN20190142）需要维保。", "OWNS", "仁济医院", "SN20190142"),
    ("仁济医院的US-900超声设备（序列号SN20190142）需要维保。", "INSTANCE_OF", "SN20190142", "US-900"),
    ("仁济医院目前在用一台迈瑞Resona 7彩超（序列号AB12345678）。", "OWNS", "仁济医院", "AB12345678"),
    ("序列号为SN20190142的超声设备安装在仁济医院。", "OWNS", "仁济医院", "SN20190142"),
    ("Renji Hospital uses the LOGIQ E10 for cardiac exams.", "USES_PRODUCT", "Renji Hospital", "LOGIQ E10"),
    ("仁济医院目前使用联影uCT 760进行胸部筛查。", "USES_PRODUCT", "仁济医院", "联影uCT 760"),
    ("The 2025 equipment renewal subsidy applies to hospitals in Shanghai.", "APPLIES_TO", "equipment renewal subsidy", "Shanghai"),
    ("Hospitals in Jiangsu are eligible for the medical equipment renewal subsidy.", "APPLIES_TO", "medical equipment renewal subsidy", "Jiangsu"),
    ("The medical equipment renewal subsidy covers the uCT 760 and the uMR 780.", "APPLIES_TO", "medical equipment renewal subsidy", "uMR 780"),
    ("上海市大型医疗设备更新补贴覆盖全市二级以上医院。", "APPLIES_TO", "大型医疗设备更新补贴", "上海市"),
    ("设备更新改造专项再贷款适用于江苏省和浙江省的制造业企业。", "APPLIES_TO", "设备更新改造专项再贷款", "浙江省"),
    ("The Resona 7 was offered as an alternative to the UltraScan 900.", "COMPETES_WITH", "Resona 7", "UltraScan 900"),
    ("US-900 vs. LOGIQ E10: a price comparison.", "COMPETES_WITH", "LOGIQ E10", "US-900"),
    ("The hospital may switch from the US-900 to the Resona 7 next year.", "COMPETES_WITH", "Resona 7", "US-900"),
    ("医院计划用联影uCT 760替代现有的SOMATOM go.Top。", "COMPETES_WITH", "联影uCT 760", "SOMATOM go.Top"),
    ("迈瑞Resona 7是US-900的竞品。", "COMPETES_WITH", "迈瑞Resona 7", "US-900"),
    ("Rival Imaging Ltd. is a direct competitor of MediSupply Distribution Co.", "COMPETES_WITH", "Rival Imaging Ltd.", "MediSupply Distribution Co."),
]


@pytest.mark.parametrize(("text", "rtype", "subject", "obj"), RELATIONS)
def test_relations_from_patterns(default_extractor, text, rtype, subject, obj):
    e = default_extractor.extract(text)
    found = {(s, o): c for s, o, c in relation_of(e, rtype)}
    assert (subject, obj) in found, (rtype, relation_set(e))
    assert 0.5 <= found[(subject, obj)] < 1
    for r in e.relations:  # every relation joins mentions of the types the ontology allows
        ends = (e.mentions[r.subject].label, e.mentions[r.object].label)
        assert (
            ends
            in {
                "OWNS": {("Account", "Device")},
                "INSTANCE_OF": {("Device", "Product")},
                "USES_PRODUCT": {("Account", "Product")},
                "APPLIES_TO": {("Policy", "Region"), ("Policy", "Product"), ("Policy", "Account")},
                "COMPETES_WITH": {("Product", "Product"), ("Account", "Account")},
                "WORKS_AT": {("Contact", "Account")},
                "HAS_ROLE": {("Contact", "Account")},
                "REPORTS_TO": {("Contact", "Contact")},
            }[r.type]
        )


NO_RELATION = [
    # (text, type that must not be found)
    ("Renji Hospital is planning to buy a US-900 ultrasound system (serial SN-2019-0142).", "OWNS"),
    ("Renji Hospital no longer operates the US-900 (serial SN-2019-0142).", "OWNS"),
    ("Renji Hospital owned a US-900 (SN-2019-0142) until 2020.", "OWNS"),
    ("Renji Hospital will purchase a US-900 (SN-2019-0142) next year.", "OWNS"),
    ("Renji Hospital has a budget for the US-900.", "USES_PRODUCT"),
    ("Renji Hospital requested a quote for the US-900.", "USES_PRODUCT"),
    ("Renji Hospital operates a CT scanner, and Beta Hospital owns a US-900 (SN-2019-0142).", "OWNS:Renji Hospital"),
    ("仁济医院计划采购US-900超声设备（序列号SN20190142）。", "OWNS"),
    ("仁济医院曾使用US-900（序列号SN20190142）。", "OWNS"),
    ("仁济医院不再使用US-900超声设备（序列号SN20190142）。", "OWNS"),
    ("仁济医院计划采购US-900超声设备。", "USES_PRODUCT"),
    ("The equipment renewal subsidy does not apply to private clinics in Beijing.", "APPLIES_TO"),
    ("The equipment renewal subsidy was discussed at a meeting in Beijing.", "APPLIES_TO"),
    ("大型医疗设备更新补贴不适用于北京市的民营诊所。", "APPLIES_TO"),
    ("The US-900 and the LOGIQ E10 were both installed in 2019.", "COMPETES_WITH"),
    ("The US-900 is not an alternative to the LOGIQ E10.", "COMPETES_WITH"),
    ("仁济医院的US-900和LOGIQ E10都已安装。", "COMPETES_WITH"),
    ("迈瑞Resona 7不是US-900的竞品。", "COMPETES_WITH"),
    ("Rival Imaging Ltd. signed a supply contract with MediSupply Distribution Co.", "COMPETES_WITH"),
]


@pytest.mark.parametrize(("text", "rtype"), NO_RELATION)
def test_no_relation_without_its_cue(default_extractor, text, rtype):
    rtype, _, subject = rtype.partition(":")
    e = default_extractor.extract(text)
    assert not [r for r in relation_of(e, rtype) if not subject or r[0] == subject], relation_set(e)


def test_devices_come_from_serials_with_a_stable_id_and_their_model(default_extractor):
    en = default_extractor.extract("Renji Hospital operates a US-900 ultrasound system (serial SN-2019-0142).")
    zh = default_extractor.extract("仁济医院的US-900超声设备（序列号SN-2019-0142）需要维保。")
    (d_en,) = [m for m in en.mentions if m.label == "Device"]
    (d_zh,) = [m for m in zh.mentions if m.label == "Device"]
    assert d_en.node_id == d_zh.node_id == device_id("sn20190142")
    assert dict(d_en.node_props) == {"serial": "SN-2019-0142", "model": "US-900"}
    # without a serial no device is invented: the account uses the product instead
    plain = default_extractor.extract("Renji Hospital operates a US-900 ultrasound system.")
    assert not [m for m in plain.mentions if m.label == "Device"]
    assert relation_of(plain, "USES_PRODUCT") and not relation_of(plain, "OWNS")
    # numbers of contracts, or serials with no device around, are not devices
    for text in ("The contract (serial no. HT-2024-0017) covers the maintenance of ultrasound systems.", "Please quote S/N 12345678 in every reply."):
        assert not [m for m in default_extractor.extract(text).mentions if m.label == "Device"]


@pytest.mark.parametrize(
    ("terms", "element", "message"),
    [
        ("products:\n  - {id: w1, name: Widget One, label: Widget}\n", "products[0] (w1).label", "not a node type"),
        ("products:\n  - {id: d1, name: Scanner One, label: Device}\n", "products[0] (d1).label", "cannot be a term"),
        ("products:\n  - {id: p1, name: Probe One, colour: red}\n", "products[0] (p1).colour", "not a property"),
        ("products:\n  - {id: p1, name: Probe One, is_competitor: maybe}\n", "products[0] (p1).is_competitor", "true or false"),
        ("products:\n  - {id: p1, name: Probe One, sku: P-1}\n", "products[0] (p1).sku", "unique key"),
        ("policies:\n  - {id: q1, name: Some Grant, policy_kind: grant}\n", "policies[0] (q1).policy_kind", "not one of"),
        ("policies:\n  - {id: q1, name: Some Rule, effective_from: soon}\n", "policies[0] (q1).effective_from", "YYYY-MM-DD"),
        ("device_models:\n  - {id: m1, name: Model One, codes: [R5]}\n", "device_models[0] (m1).codes", "too short"),
        ("device_models:\n  - {id: m1, name: Model One, codes: [ABCD]}\n", "device_models[0] (m1).codes", "no digit"),
        ("device_models:\n  - {id: m1, name: CT}\n", "device_models[0] (m1).name", "too short"),
        ("device_models:\n  - {id: m1, codes: [M-100]}\n", "device_models[0] (m1)", "needs a name"),
        ("device_models:\n  - {id: m1, name: Model One, en: [CT]}\n", "device_models[0] (m1).en", "too short"),
        ("products:\n  - {id: p1, name: Probe One}\n  - {id: p1, name: Probe Two}\n", "products[1] (p1)", "also used by products[0] (p1)"),
        ("products:\n  - {id: p1, name: Probe One}\n  - {id: p2, name: Probe Two, en: [probe-one]}\n", "products[1] (p2)", "also names products[0] (p1)"),
        ("products:\n  - {name: Probe One}\n", "products[0] (?)", "needs an id"),
        ("gadgets:\n  - {id: g1, name: Gadget One}\n", "gadgets", "unknown section"),
    ],
)
def test_term_gazetteer_errors_name_file_line_and_entry(tmp_path, terms, element, message):
    directory = _gazetteer_dir(tmp_path, "# header\n" + terms)
    with pytest.raises(SchemaInvalid) as info:
        load_gazetteers(directory)
    issues = [i for i in info.value.issues if i.element == element]
    assert issues, [str(i) for i in info.value.issues]
    assert message in issues[0].message and issues[0].file == str(directory / "terms.yaml") and issues[0].line >= 2
    assert str(directory / "terms.yaml") in str(info.value) and element in str(info.value)


def test_shipped_term_gazetteer_is_valid_and_names_its_lines():
    terms = default_gazetteers().terms
    assert len(terms) >= 20 and all(t.where.startswith("terms.yaml:") for t in terms)
    assert {t.label for t in terms} <= set(term_labels(default_ontology()))
    kinds = {dict(t.props).get("policy_kind") for t in terms if t.label == "Policy"}
    assert {"subsidy", "regulation", "tariff"} <= kinds
