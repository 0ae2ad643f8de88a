"""Stewards change the ontology over GraphQL on both stores: a draft of checked edits, a dry run,
an apply that migrates the graph and records the version, and a schema rebuilt for the new types."""

from __future__ import annotations

from typing import Any

from graph.factory import load_configured_ontology
from ontology.workspace import configured_intents

EDIT_RESULT = "{ ok errors { element line message } draft { baseVersion version intentDefinitions edits { kind element by } steps { description safe } } }"

TURBINE_INTENT = """
id: firmware_risk
version: 1
subject: Device
description: {en: The device runs a beta firmware channel., zh: 设备运行测试版固件。}
threshold: 0.5
purposes: [service]
signals:
  - id: beta_channel
    kind: feature
    weight: 0.9
    describe: it runs the beta firmware channel
    subject_where: {firmware_channel: beta}
"""


def gql(api: Any, query: str, variables: dict[str, Any] | None = None, role: str = "steward") -> dict[str, Any]:
    response = api.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=api.headers(role, "ontology_curation"))
    assert response.status_code == 200, response.text
    return response.json()


def data(api: Any, query: str, variables: dict[str, Any] | None = None, role: str = "steward") -> dict[str, Any]:
    body = gql(api, query, variables, role)
    assert not body.get("errors"), body["errors"]
    return body["data"]


def add_node_type(api: Any, name: str, properties: list[dict[str, Any]], role: str = "steward") -> dict[str, Any]:
    query = f'mutation($name: String!, $props: [PropertyInput!]) {{ addNodeType(name: $name, properties: $props, comment: "wind fleet") {EDIT_RESULT} }}'
    return gql(api, query, {"name": name, "props": properties}, role)


def test_a_steward_adds_types_and_an_intent_applies_them_and_the_schema_follows(api, store) -> None:
    version = store.ontology.version
    added = add_node_type(
        api,
        "WindTurbine",
        [{"name": "rated_power_kw", "range": "float"}, {"name": "site", "privacy": "location", "indexed": True}, {"name": "tags", "multivalued": True}],
    )["data"]["addNodeType"]
    assert added["ok"] and added["errors"] == [], added
    draft = added["draft"]
    assert draft["baseVersion"] == version and draft["version"] != version
    assert draft["edits"] == [{"kind": "add_node_type", "element": "WindTurbine", "by": "test-steward"}]
    assert any("WindTurbine" in s["description"] and s["safe"] for s in draft["steps"])

    edge = data(
        api,
        f'mutation {{ addEdgeType(name: "MAINTAINED_BY", subject: ["WindTurbine", "Device"], object: ["Account"], cardinality: "many_to_one") {EDIT_RESULT} }}',
    )["addEdgeType"]
    assert edge["ok"], edge
    prop = data(api, f'mutation {{ addProperty(owner: "Device", property: {{name: "firmware_channel"}}) {EDIT_RESULT} }}')["addProperty"]
    assert prop["ok"], prop
    intent = data(api, f"mutation($y: String!) {{ addIntentDefinition(yaml: $y) {EDIT_RESULT} }}", {"y": TURBINE_INTENT})["addIntentDefinition"]
    assert intent["ok"] and intent["draft"]["intentDefinitions"] == ["firmware_risk"], intent
    assert [e["kind"] for e in intent["draft"]["edits"]] == ["add_node_type", "add_edge_type", "add_property", "add_intent_definition"]

    # nothing is in force before the apply; a dry run changes nothing
    assert gql(api, '{ windTurbine(id: "x") { id } }')["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    dry = data(api, "mutation { applyOntology(dryRun: true) { version dryRun recorded done } }")["applyOntology"]
    assert dry["dryRun"] and not dry["recorded"] and store.ontology.version == version
    assert data(api, "{ ontologyDraft { version } }")["ontologyDraft"]["version"] == draft["version"]

    applied = data(api, "mutation { applyOntology { version recorded skipped schemaCreated } }")["applyOntology"]
    assert applied["version"] == draft["version"] and applied["recorded"] and applied["skipped"] == []
    assert store.ontology.version == draft["version"] and store.applied_ontology_version() == draft["version"]
    assert data(api, "{ ontologyDraft { version } }")["ontologyDraft"] is None

    # the next request runs on a schema rebuilt for the new ontology
    written = data(
        api,
        'mutation { a: upsertNode(type: "Account", id: "acme", properties: {name: "Acme Wind"}) { ok } '
        't: upsertNode(type: "WindTurbine", id: "wt-1", properties: {rated_power_kw: 3.6, site: "Ningbo", tags: ["offshore"]}) { ok errors { message } } '
        'l: link(type: "MAINTAINED_BY", from: "WindTurbine:wt-1", to: "Account:acme") { ok errors { message } } }',
    )
    assert written["a"]["ok"] and written["t"]["ok"] and written["l"]["ok"], written
    turbine = '{ windTurbine(id: "wt-1") { __typename ratedPowerKw site tags edges { totalCount } } }'
    expected = {"__typename": "WindTurbine", "ratedPowerKw": 3.6, "site": "Ningbo", "tags": ["offshore"], "edges": {"totalCount": 1}}
    assert data(api, turbine)["windTurbine"] == expected
    assert data(api, turbine, role="sales_tool")["windTurbine"]["site"] is None  # location data: not for sales tools
    listed = data(api, '{ windTurbines(where: [{property: "rated_power_kw", gte: 3}]) { totalCount nodes { id } } }')["windTurbines"]
    assert listed == {"totalCount": 1, "nodes": [{"id": "wt-1"}]}
    assert data(api, '{ node(type: "WindTurbine", id: "wt-1") { __typename ref } }')["node"] == {"__typename": "WindTurbine", "ref": "WindTurbine:wt-1"}
    seen = data(api, "{ ontology { version appliedVersion types { name typed } intentDefinitions { id } } }")["ontology"]
    assert seen["version"] == seen["appliedVersion"] == draft["version"]
    assert {"name": "WindTurbine", "typed": True} in seen["types"] and "firmware_risk" in {d["id"] for d in seen["intentDefinitions"]}

    versions = data(api, "{ ontologyVersions { version appliedBy edits { kind } report } }")["ontologyVersions"]
    assert [(v["version"], v["appliedBy"], len(v["edits"])) for v in versions] == [(draft["version"], "test-steward", 4)]
    assert versions[0]["report"]["recorded"] is True

    # another process on this data directory runs the applied ontology and intents
    configured = load_configured_ontology(api.settings)
    assert configured.version == draft["version"] and "WindTurbine" in configured.node_types
    assert "firmware_risk" in {d.id for d in configured_intents(api.settings, configured)}


def test_refused_edits_name_the_problem_and_keep_nothing(api, store) -> None:
    lower = add_node_type(api, "windturbine", [])["data"]["addNodeType"]
    assert not lower["ok"] and lower["draft"] is None and "node type names are CamelCase" in lower["errors"][0]["message"]
    assert any("windturbine" in (e["element"] or "") for e in lower["errors"]), lower
    clash = add_node_type(api, "Account", [])["data"]["addNodeType"]
    assert not clash["ok"] and "already has a class 'Account'" in clash["errors"][0]["message"]
    bad_privacy = add_node_type(api, "Kiosk", [{"name": "owner_name", "privacy": "secret"}])["data"]["addNodeType"]
    assert not bad_privacy["ok"] and "privacy 'secret'" in bad_privacy["errors"][0]["message"]
    twice = data(api, f'mutation {{ addProperty(owner: "Contact", property: {{name: "email"}}) {EDIT_RESULT} }}')["addProperty"]
    assert not twice["ok"] and "Contact already has a property 'email'" in twice["errors"][0]["message"]
    other_range = data(api, f'mutation {{ addProperty(owner: "Device", property: {{name: "name", range: "integer"}}) {EDIT_RESULT} }}')["addProperty"]
    assert not other_range["ok"] and "already exists with range string" in other_range["errors"][0]["message"]
    unknown_property = TURBINE_INTENT.replace("firmware_channel", "firmware_colour")
    intent = data(api, f"mutation($y: String!) {{ addIntentDefinition(yaml: $y) {EDIT_RESULT} }}", {"y": unknown_property})["addIntentDefinition"]
    assert not intent["ok"] and any("firmware_colour" in e["message"] and e["line"] for e in intent["errors"]), intent
    not_yaml = data(api, f'mutation {{ addIntentDefinition(yaml: "id: [x") {EDIT_RESULT} }}')["addIntentDefinition"]
    assert not not_yaml["ok"] and "not YAML" in not_yaml["errors"][0]["message"]
    # nothing of the refused edits was kept, so there is no draft and nothing to apply
    assert data(api, "{ ontologyDraft { version } }")["ontologyDraft"] is None
    nothing = gql(api, "mutation { applyOntology { version } }")
    assert nothing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_only_stewards_edit_the_ontology(api) -> None:
    for role in ("sales_tool", "analyst"):
        refused = add_node_type(api, "Kiosk", [], role=role)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN" and refused["data"] is None
        assert gql(api, "mutation { applyOntology { version } }", role=role)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert gql(api, "{ ontologyDraft { version } }", role=role)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert data(api, "{ ontologyVersions { version } }", role="sales_tool")["ontologyVersions"] == []


def test_a_replaced_intent_needs_a_higher_version_and_a_draft_can_be_dropped(api) -> None:
    shipped = "id: replacement_anxiety\nversion: 1\nsubject: Device\nthreshold: 0.5\npurposes: [service]\nsignals:\n" + (
        "  - {id: old, kind: feature, weight: 0.9, subject_where: {install_date: {older_than_days: 3000}}}\n"
    )
    same = data(api, f"mutation($y: String!) {{ addIntentDefinition(yaml: $y) {EDIT_RESULT} }}", {"y": shipped})["addIntentDefinition"]
    assert not same["ok"] and "needs a higher version" in same["errors"][0]["message"]
    newer = data(api, f"mutation($y: String!) {{ addIntentDefinition(yaml: $y) {EDIT_RESULT} }}", {"y": shipped.replace("version: 1", "version: 2")})
    assert newer["addIntentDefinition"]["ok"], newer
    assert data(api, "mutation { discardOntologyDraft }")["discardOntologyDraft"] is True
    assert data(api, "mutation { discardOntologyDraft }")["discardOntologyDraft"] is False


def test_a_server_follows_an_ontology_another_process_applied(api, store) -> None:
    from ontology.workspace import OntologyWorkspace, PropertySpec

    data(api, "{ me { role } }")  # the server has looked at its ontology once
    other = OntologyWorkspace.for_settings(api.settings)  # as another `khub serve` worker would, on the same data directory
    other.add_node_type("Kiosk", "other-worker", properties=[PropertySpec("screen_inches", "float")])
    other.promote_draft("other-worker", {})
    assert "Kiosk" not in store.ontology.node_types
    api.app.state.khub.ontology_checked = 0.0  # (it looks at most once a second)
    seen = data(api, "{ ontology { version types { name typed } } }")["ontology"]
    assert "Kiosk" in store.ontology.node_types and {"name": "Kiosk", "typed": True} in seen["types"]
    assert data(api, '{ kiosks { totalCount } kiosk(id: "k-1") { id } }') == {"kiosks": {"totalCount": 0}, "kiosk": None}
