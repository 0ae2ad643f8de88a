"""Business concepts from GraphQL and the CLI (issue 7.1, 7.6): counts for anyone, members only for a
purpose that may use their behaviour; both stores for GraphQL."""

from __future__ import annotations

import json
from pathlib import Path

from graph.cypher_store import CypherGraphStore
from tests.api.test_cli import khub_env, run  # noqa: F401 - the CLI's data-directory fixture
from tests.api.test_graphql import AS_OF, Gql, backend, codes, world  # noqa: F401 - the demo world fixtures (module scope, per backend)

CONCEPTS = "query($at: String) { concepts(asOf: $at) { id subject when features members subjects } }"
MEMBERS = "query($id: String!, $at: String) { conceptMembers(id: $id, asOf: $at) { concept members withheld } }"


def test_concepts_with_counts_and_members_by_purpose(world: CypherGraphStore) -> None:  # noqa: F811
    gql = Gql(world)
    at = AS_OF.isoformat()
    concepts = {c["id"]: c for c in gql.data(CONCEPTS, {"at": at}, purpose="analytics")["concepts"]}
    hp = concepts["high_potential_customer"]
    assert hp["subject"] == "Contact" and hp["members"] == 1 and hp["subjects"] == world.stats().nodes["Contact"]
    assert hp["features"] == ["missed_sales_calls_30d", "site_dwell_minutes_30d", "whitepaper_downloads_30d"]
    assert concepts["refund_risk_student"]["members"] == 1
    # service rests on a contract: Emma is listed with what put her there
    served = gql.data(MEMBERS, {"id": "high_potential_customer", "at": at}, purpose="service")["conceptMembers"]
    assert served["withheld"] == 0 and [m["subject"] for m in served["members"]] == ["Contact:visitor-emma-lind"]
    assert served["members"][0]["whitepaper_downloads_30d"] == 1
    # marketing needs her consent, which she never gave: left out, counted
    marketing = gql.data(MEMBERS, {"id": "high_potential_customer", "at": at}, purpose="marketing")["conceptMembers"]
    assert marketing == {"concept": "high_potential_customer", "members": [], "withheld": 1}
    assert codes(gql.post(MEMBERS, {"id": "nope"})) == ["NOT_FOUND"]
    assert codes(gql.post(CONCEPTS, {"at": "yesterday"})) == ["BAD_INPUT"]


def test_concepts_from_the_command_line(khub_env: Path) -> None:  # noqa: F811
    assert run("demo")[0] == 0
    code, out = run("concepts", "list", "--as-of", "2026-12-01T00:00:00Z", "--json")
    assert code == 0, out
    counts = {r["concept"]: r["members"] for r in json.loads(out)}
    assert counts == {"high_potential_customer": 1, "refund_risk_student": 1}
    code, out = run("concepts", "members", "refund_risk_student", "--as-of", "2026-12-01T00:00:00Z", "--json")
    assert code == 0 and json.loads(out)[0]["subject"] == "Contact:student-liu-yang" and json.loads(out)[0]["last_survey_score"] == 2.0
    code, out = run("concepts", "members", "nope")
    assert code == 2 and "unknown concept" in out
