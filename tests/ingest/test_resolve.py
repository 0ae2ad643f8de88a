"""Entity resolution: normalisation, pair scores, clustering, linking, graph mentions, benchmark quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data import shared_data_dir
from ingest.resolve import (
    DEFAULT_LEVELS,
    EntityCandidate,
    FieldSpec,
    MatchModel,
    Resolver,
    TokenStats,
    _average_linkage,
    candidate_keys,
    cluster,
    codes_of,
    compare,
    fit,
    link,
    name_similarity,
    normalise_address,
    normalise_date,
    normalise_domain,
    normalise_email,
    normalise_key,
    normalise_name,
    normalise_phone,
    numerals_conflict,
    phones_match,
    prepare,
    score,
    soft_tfidf,
)


# ----------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [
        ("Acme Medical, Inc.", "ACME MEDICAL INC", "organisation"),
        ("Acme Medical, Inc.", "Acme Medical GmbH", "organisation"),
        ("The Acme Co., Ltd.", "ACME", "organisation"),
        ("Siemens Healthcare GmbH & Co. KG", "siemens healthcare", "organisation"),
        ("A.B.C. Trading Pte. Ltd.", "ABC Trading", "organisation"),
        ("Intl. Business Machines Corp.", "International Business Machines", "organisation"),
        ("Smith & Sons", "smith and sons", "organisation"),
        ("上海仁濟醫院有限公司", "上海仁济医院", "organisation"),
        ("北京協和醫院", "北京协和医院", "organisation"),
        ("深圳市腾讯计算机系统有限公司", "深圳市腾讯计算机系统", "organisation"),
        ("Smith, John", "John Smith", "person"),
        ("Dr. John Smith", "john smith", "person"),
        ("张伟先生", "张伟", "person"),
        ("ＡＣＭＥ　Ｍｅｄｉｃａｌ", "acme medical", "generic"),
    ],
)
def test_normalised_names_equal(a, b, kind):
    assert normalise_name(a, kind) == normalise_name(b, kind)
    assert name_similarity(normalise_name(a, kind), normalise_name(b, kind)) == 1.0


def test_normalise_name_keeps_what_identifies():
    assert normalise_name("Acme Medical, Inc.", "organisation") == "acme medical"
    assert normalise_name("上海仁濟醫院有限公司", "organisation") == "上海仁济医院"
    assert normalise_name("Inc.", "organisation") == "inc"  # never empties a name
    assert normalise_name("Acme Medical Inc", "generic") == "acme medical inc"  # suffixes only for organisations
    assert normalise_name(None) == "" and normalise_name("  ") == ""


def test_key_normalisers():
    assert normalise_phone("+1 (415) 555-1234 ext. 12") == "14155551234"
    assert phones_match(normalise_phone("+1 (415) 555-1234"), normalise_phone("(415) 555-1234"))
    assert phones_match(normalise_phone("+86 21 6543 2100"), normalise_phone("021-6543-2100"))
    assert phones_match(normalise_phone("0086 138 1234 5678"), normalise_phone("13812345678"))
    assert not phones_match(normalise_phone("415 555 1234"), normalise_phone("415 555 1235"))
    assert normalise_phone("12") == ""
    assert normalise_email("Mailto:John.Smith+news@Acme.COM") == "john.smith@acme.com"
    assert normalise_email("not an email") == ""
    assert normalise_domain("https://www.Acme.com/about") == "acme.com"
    assert normalise_domain("john@mail.acme.co.uk") == "mail.acme.co.uk"
    assert normalise_domain("john@mail.acme.co.uk", registrable=True) == "acme.co.uk"
    assert normalise_domain("WWW.ACME.COM:8080") == "acme.com"
    assert normalise_domain("localhost") == "" and normalise_domain("10.0.0.1") == ""
    assert normalise_key("de 123-456.789") == normalise_key("DE123456789") == "DE123456789"
    assert normalise_date("2019-03-01") == normalise_date("March 1, 2019") == normalise_date("2019年3月1日") == "20190301"
    assert normalise_address("1420 North Hudson Avenue") == normalise_address("1420 N. Hudson Ave") == "1420 n hudson ave"


def test_model_codes_from_differently_worded_listings():
    a = "Sony Cyber-shot DSC-W120/P 7.2MP Digital Camera (Pink)"
    b = "SONY DSCW120P pink compact camera, 7.2 megapixels, 4x optical zoom"
    assert codes_of(a) == codes_of(b) == frozenset({"dscw120p"})  # unit quantities (7.2MP) are not codes


def test_name_similarity_orders_variants():
    def sim(a, b, kind="organisation"):
        return name_similarity(normalise_name(a, kind), normalise_name(b, kind))

    assert sim("Jon Smith", "John Smith", "person") > 0.92
    assert sim("Acme Medicl", "Acme Medical") > 0.92
    assert 0.6 < sim("Acme Medical", "Acme Medical Systems") < 0.9
    assert sim("Acme Medical", "Globex Corporation") < 0.5
    assert sim("上海仁济医院", "上海仁济医院东院") > sim("上海仁济医院", "北京协和医院")


def test_soft_tfidf_discounts_common_words():
    names = [f"erie neighborhood house {n} site" for n in ("maria guerrero", "lucia rubio", "carmen vega", "ana cruz")] + ["acme"] * 20
    stats = TokenStats.of(names)
    plain = soft_tfidf(names[0], names[1])
    weighted = soft_tfidf(names[0], names[1], stats)
    assert weighted < plain  # the shared words are the common ones
    assert soft_tfidf("jon smith", "john smith") > 0.9  # near-identical words count as shared


def test_numerals_conflict():
    assert numerals_conflict("little tykes i", "little tykes ii")
    assert numerals_conflict("plant 2", "plant 3")
    assert not numerals_conflict("little tykes", "little tykes ii")
    assert not numerals_conflict("john i smith", "john v smith", roman=False)


# ----------------------------------------------------------------------------- plain records
PEOPLE = (
    FieldSpec("name", "name", entity="person"),
    FieldSpec("dob", "date"),
    FieldSpec("postcode", "postcode"),
    FieldSpec("email", "email"),
)


def test_compare_levels_and_missing():
    name = PEOPLE[0]
    assert compare(prepare("Smith, John", name), prepare("John Smith", name), name) == len(DEFAULT_LEVELS["name"].m) - 1
    assert compare(prepare("John Smith", name), prepare(None, name), name) == -1
    addr = FieldSpec("address", "address")
    assert compare(prepare("12 Main St", addr), prepare("14 Main Street", addr), addr) == 0  # house numbers differ
    code = FieldSpec("title", "code")
    assert compare(prepare("DSC-W120/P camera", code), prepare("dscw120p", code), code) == 2


def test_score_is_a_probability_that_orders_pairs():
    a = {"name": "Smith, John", "dob": "1980-02-01", "postcode": "2000", "email": "john@acme.com"}
    same = {"name": "John Smith", "dob": "1980-02-01", "postcode": "2000", "email": "JOHN@ACME.COM"}
    typo = {"name": "Jon Smith", "dob": "1980-01-02", "postcode": "2000"}
    other = {"name": "Mary Jones", "dob": "1975-07-30", "postcode": "3000", "email": "mary@globex.com"}
    s_same, s_typo, s_other = score(a, same, PEOPLE), score(a, typo, PEOPLE), score(a, other, PEOPLE)
    assert 0.0 <= s_other < 0.01 < s_typo < s_same <= 1.0
    assert s_same > 0.99 and s_typo > 0.5
    weights = MatchModel.default(PEOPLE).weights()
    assert all(np.all(np.diff(w) > 0) for w in weights)  # closer agreement never weighs less


def test_strong_key_disagreement_is_strong_evidence_against():
    fields = (FieldSpec("name", "name", entity="organisation"), FieldSpec("tax_id", "key", strong=True))
    a, b = {"name": "Acme Medical Inc", "tax_id": "DE123456789"}, {"name": "ACME Medical GmbH", "tax_id": "FR987654321"}
    assert score(a, b, fields) < 0.5 < score(a, {**b, "tax_id": "de 123 456 789"}, fields)


ORGS = [
    {"name": "Acme Medical, Inc.", "address": "12 Main Street", "phone": "+1 415 555 0100"},
    {"name": "ACME MEDICAL INC", "address": "12 Main St.", "phone": "(415) 555-0100"},
    {"name": "Acme Medical GmbH", "address": "12 Main St", "phone": None},
    {"name": "Globex Corporation", "address": "400 Elm Avenue", "phone": "+1 212 555 0199"},
    {"name": "Globex Corp", "address": "400 Elm Ave", "phone": "212-555-0199"},
    {"name": "Initech", "address": "9 Oak Road", "phone": "+1 312 555 0142"},
    {"name": "Little Tykes I", "address": "1711 W 35th St", "phone": "773 254 7700"},
    {"name": "Little Tykes II", "address": "1723 W 35th St", "phone": "773 579 1791"},
]
ORG_FIELDS = (FieldSpec("name", "name", entity="organisation"), FieldSpec("address", "address"), FieldSpec("phone", "phone"))


def test_cluster_small_batch():
    assert cluster(ORGS, ORG_FIELDS) == [[0, 1, 2], [3, 4], [5], [6], [7]]
    assert cluster([], ORG_FIELDS) == []
    # components too big to check densely are split on more confident edges; always a partition
    split = cluster(ORGS * 2, ORG_FIELDS, max_component=2)
    assert sorted(i for c in split for i in c) == list(range(2 * len(ORGS)))


def test_cluster_breaks_chains():
    # A ~ B and B ~ C are likely, A ~ C is not: average linkage keeps C out instead of chaining
    prob = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.6], [0.1, 0.6, 1.0]])
    assert sorted(sorted(c) for c in _average_linkage(prob, 0.5)) == [[0, 1], [2]]
    assert sorted(sorted(c) for c in _average_linkage(np.array([[1.0, 0.9, 0.8], [0.9, 1.0, 0.6], [0.8, 0.6, 1.0]]), 0.5)) == [[0, 1, 2]]


def test_link_one_to_one():
    left = [{"name": "John Smith", "dob": "1980-02-01"}, {"name": "Mary Jones", "dob": "1975-07-30"}]
    right = [{"name": "Jones, Mary", "dob": "1975-07-30"}, {"name": "Jon Smith", "dob": "1980-02-01"}, {"name": "John Smith", "dob": "1980-02-01"}]
    fields = PEOPLE[:2]
    many = link(left, right, fields, model=MatchModel.default(fields))
    assert {(i, j) for i, j, _ in many} == {(0, 1), (0, 2), (1, 0)}
    one = link(left, right, fields, model=MatchModel.default(fields), one_to_one=True)
    assert {(i, j) for i, j, _ in one} == {(0, 2), (1, 0)}
    assert all(0.5 <= p <= 1 for _, _, p in one)


def test_fit_is_unsupervised_and_learns_frequencies():
    records = ORGS * 3
    model = fit(records, ORG_FIELDS)
    assert 0 < model.prior < 1
    assert model.tf[0] is not None and model.tf[2] is not None  # names and phone numbers have value frequencies
    assert score(ORGS[0], ORGS[1], ORG_FIELDS, model) > 0.5 > score(ORGS[0], ORGS[3], ORG_FIELDS, model)


def test_cluster_scales_to_10k_records():
    import random
    import string
    import time

    rng = random.Random(7)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))

    records = []
    for _ in range(5000):
        name, street, number = f"{word()} {word()} {rng.choice(['inc', 'ltd', 'gmbh', ''])}", f"{word()} street", rng.randint(1, 9999)
        phone = f"{rng.randint(200, 999)}{rng.randint(1000000, 9999999)}"
        records.append({"name": name, "address": f"{number} {street}", "phone": phone})
        records.append({"name": name.upper().replace("INC", "Incorporated"), "address": f"{number} {street.replace('street', 'St.')}", "phone": f"+1 {phone}"})
    start = time.perf_counter()
    clusters = cluster(records, ORG_FIELDS)
    elapsed = time.perf_counter() - start
    assert sum(1 for c in clusters if len(c) == 2 and c[1] == c[0] + 1) >= 4990
    assert elapsed < 30, f"10k records took {elapsed:.1f} s"


# ----------------------------------------------------------------------------- graph mentions
def account(node_id, name, **kw):
    return EntityCandidate(node_id, "Account", name, **kw)


def test_organisation_name_variants_resolve():
    resolver = Resolver()
    nodes = [account("a1", "Acme Medical GmbH"), account("a2", "Globex Corporation")]
    match = resolver.resolve(account(None, "ACME MEDICAL, INC."), nodes)
    assert match is not None and match.node_id == "a1" and match.score == 1.0
    assert match.reasons == ["name 1.00 (ACME MEDICAL, INC. ~ Acme Medical GmbH)"]
    assert resolver.resolve(account(None, "Acme Medical Systems"), nodes) is None
    zh = resolver.resolve(account(None, "上海仁濟醫院有限公司"), [account("h1", "上海仁济医院"), account("h2", "上海市第一人民医院")])
    assert zh is not None and zh.node_id == "h1"


def test_aliases_match():
    node = account("a1", "International Business Machines", aliases=["IBM", "Big Blue"])
    match = Resolver().resolve(account(None, "I.B.M."), [node])
    assert match is not None and match.node_id == "a1"


def test_person_name_variants_resolve():
    nodes = [EntityCandidate("c1", "Contact", "John Smith", context={"account_id": "a1"}), EntityCandidate("c2", "Contact", "Joan Smithers")]
    match = Resolver().resolve(EntityCandidate(None, "Contact", "Smith, John", context={"account_id": "a1"}), nodes)
    assert match is not None and match.node_id == "c1"
    assert "same account id" in match.reasons
    # the same name at another account is another person
    assert Resolver().resolve(EntityCandidate(None, "Contact", "Smith, John", context={"account_id": "a9"}), nodes[:1]) is None


def test_key_match_wins_over_name_mismatch():
    node = EntityCandidate("c1", "Contact", "Robert Jones", keys={"email": "bob.jones@acme.com"})
    mention = EntityCandidate(None, "Contact", "Bob J.", keys={"email": "Bob.Jones@ACME.com"})
    match = Resolver().resolve(mention, [node, EntityCandidate("c2", "Contact", "Bob J.")])
    assert match is not None and match.node_id == "c1"
    assert match.reasons == ["same email (bob.jones@acme.com)"]
    tax = Resolver().resolve(
        account(None, "Shanghai Renji", keys={"tax_id": "91310000-1234"}), [account("a1", "上海仁济医院", keys={"tax_id": "913100001234"})]
    )
    assert tax is not None and tax.node_id == "a1"


def test_conflicting_serials_block():
    node = EntityCandidate("d1", "Device", "Sony DSC-W120", keys={"serial": "SN-0001"}, context={"account_id": "a1"})
    same_name = EntityCandidate(None, "Device", "Sony DSC-W120", keys={"serial": "SN-0002"}, context={"account_id": "a1"})
    assert Resolver().resolve(same_name, [node]) is None
    same_serial = EntityCandidate(None, "Device", "camera", keys={"serial": "sn 0001"})
    match = Resolver().resolve(same_serial, [node])
    assert match is not None and match.node_id == "d1" and match.reasons == ["same serial (SN0001)"]


def test_weak_key_needs_compatible_names():
    # a shared switchboard number does not make two different people one
    node = EntityCandidate("c1", "Contact", "Alice Wong", keys={"phone": "+1 415 555 0100"})
    assert Resolver().resolve(EntityCandidate(None, "Contact", "Peter Brown", keys={"phone": "415-555-0100"}), [node]) is None
    match = Resolver().resolve(EntityCandidate(None, "Contact", "Alice Wang", keys={"phone": "415-555-0100"}), [node])
    assert match is not None and match.reasons == ["same phone (4155550100)"]
    # a free-mail domain identifies nobody
    assert EntityCandidate(None, "Account", "x", keys={"website": "https://gmail.com"}).normalised_keys() == {}


def test_products_match_on_model_codes():
    node = EntityCandidate("p1", "Product", "Sony Cyber-shot DSC-W120/P 7.2MP Digital Camera (Pink)")
    other = EntityCandidate("p2", "Product", "Sony Cyber-shot DSC-W130 8.1MP Digital Camera")
    mention = EntityCandidate(None, "Product", "SONY DSCW120P pink compact camera, 7.2 megapixels")
    match = Resolver().resolve(mention, [other, node])
    assert match is not None and match.node_id == "p1"
    assert "same model code dscw120p" in match.reasons
    # near-identical names with different model codes are different products
    assert Resolver().resolve(EntityCandidate(None, "Product", "Sony Cyber-shot DSC-W130/P 7.2MP Digital Camera (Pink)"), [node]) is None


def test_device_code_needs_context():
    node = EntityCandidate("d1", "Device", "DSC-W120 camera", context={"account_id": "a1"})
    assert Resolver().resolve(EntityCandidate(None, "Device", "the dscw120 at reception"), [node]) is None
    match = Resolver().resolve(EntityCandidate(None, "Device", "the dscw120 at reception", context={"account_id": "a1"}), [node])
    assert match is not None and match.node_id == "d1"


def test_labels_never_mix():
    assert Resolver().resolve(EntityCandidate(None, "Contact", "Acme"), [account("a1", "Acme")]) is None


def test_embedding_is_optional_and_blended():
    class FakeEmbedder:
        name, dim = "fake", 2

        def embed(self, texts, kind="passage"):
            return np.array([[1.0, 0.0] if "acme" in t.lower() else [0.0, 1.0] for t in texts], dtype=np.float32)

    nodes = [account("a1", "Acme Medical Group")]
    mention = account(None, "Acme Medical Grp")
    plain = Resolver().compare(mention, nodes[0])[0]
    with_vectors = Resolver(embedder=FakeEmbedder()).compare(mention, nodes[0])
    assert with_vectors[0] > plain and "embedding cosine 1.00" in with_vectors[1]
    given = Resolver().compare(account(None, "Acme Medical Grp", embedding=[0.0, 1.0]), account("a1", "Acme Medical Group", embedding=[1.0, 0.0]))
    assert given[0] < plain and "embedding cosine 0.00" in given[1]


def test_candidate_keys_are_store_agnostic_blocking_keys():
    mention = EntityCandidate(
        None, "Product", "Sony DSC-W120/P camera", keys={"email": "Sales@Sony.com", "phone": "+1 415 555 0100", "website": "https://www.sony.com"}
    )
    keys = candidate_keys(mention)
    assert {"key:email:sales@sony.com", "key:phone:5550100", "key:domain:sony.com", "code:dscw120p", "name:sony dsc w120 p camera", "token:sony"} <= set(keys)
    assert "token:上海" in candidate_keys(account(None, "上海仁濟醫院有限公司"))
    # a stored node and a differently written mention of it share keys
    assert set(candidate_keys(account("a1", "Acme Medical GmbH"))) & set(candidate_keys(account(None, "ACME MEDICAL, INC.")))


def test_group_dedupes_a_batch_and_reingest():
    mentions = [
        account(None, "Acme Medical, Inc."),
        EntityCandidate(None, "Contact", "Smith, John", keys={"email": "john@acme.com"}),
        account(None, "Globex"),
        account(None, "ACME MEDICAL GMBH"),
        EntityCandidate(None, "Contact", "J. Smith", keys={"email": "JOHN@acme.com"}),
    ]
    assert Resolver().group(mentions) == [[0, 3], [1, 4], [2]]
    # ingesting the same mentions again adds no group
    assert Resolver().group(mentions + mentions) == [[0, 3, 5, 8], [1, 4, 6, 9], [2, 7]]


# ----------------------------------------------------------------------------- benchmark quality
def _er_data() -> Path:
    data = shared_data_dir()
    if not (data / "er").is_dir():
        pytest.skip(f"entity-resolution benchmark data not found at {data}/er (set KHUB_SHARED_DATA to the shared data folder)")
    return data


def test_febrl4_link_quality():
    from bench.er_quality import run_febrl4

    result = run_febrl4(_er_data())["resolver"]
    assert result["f1"] >= 0.95, result


def test_dedupe_chicago_cluster_quality():
    from bench.er_quality import run_chicago

    result = run_chicago(_er_data())
    assert result["resolver"]["f1"] >= 0.90, result
    assert result["resolver"]["f1"] > result["baseline"]["f1"] + 0.2
