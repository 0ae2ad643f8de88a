"""The `khub` command line on the embedded store (a fresh data directory per test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rdflib
from typer.testing import CliRunner

from api.cli import app
from graph.audit import AuditLog
from ontology.model import DEFAULT_SCHEMA, default_ontology
from reasoning.demo_world import demo_records

runner = CliRunner()


@pytest.fixture
def khub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KHUB_STORE", "embedded")
    monkeypatch.setenv("KHUB_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), terminal_width=200)
    return result.exit_code, " ".join(result.output.split())  # undo Rich's line wrapping


def test_init_validate_stats_on_the_embedded_default(khub_env: Path):
    code, out = run("init")
    assert code == 0, out
    assert "falkordb" in out and f"ontology {default_ontology().version}" in out
    code, out = run("ontology", "validate")
    assert code == 0 and "valid" in out
    code, out = run("stats", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["backend"] == "falkordb" and data["ontology_version"] == default_ontology().version and data["nodes"] == {}


def test_demo_query_show_path_and_search(khub_env: Path):
    code, out = run("demo")
    assert code == 0, out
    assert "0 rejected" in out and "renji-hospital, rival-imaging" in out
    # every seed scenario's intent, with its action; the look-alikes stay quiet
    for intent in (
        "decision_chain_change-renji-hospital",
        "budget_loosening-renji-hospital",
        "competitor_penetration_risk-renji-hospital",
        "contract_clause_conflict-renji-hospital",
        "replacement_anxiety-dev-us900-0142",
        "refund_risk-student-liu-yang",
        "customs_policy_anxiety-al-noor-trading",
        "cash_flow_stress-dev-ex200-0731",
    ):
        assert f"why intent-{intent}" in out, intent
    assert out.count("→ task done") >= 9
    # consent: Li Ming revoked marketing, so his web views do not count for it
    assert "intent-replacement_anxiety-dev-us900-0142 serves service; suppressed for:" in out
    assert "marketing: 2 piece(s) of evidence withheld (Contact:li-ming: revoked consent consent-li-ming-marketing)" in out
    assert not any(quiet in out for quiet in ("student-he-lin", "gulf-star-retail", "dev-ex200-0815", "dev-us900-0377"))
    staff = "MATCH (c:Contact)-[:WORKS_AT]->(a:Account {id: $a}) RETURN c.id AS id ORDER BY id"
    code, out = run("query", staff, "-p", "a=renji-hospital", "--purpose", "service", "--json")
    assert code == 0, out
    assert [r["id"] for r in json.loads(out)] == ["chen-jing", "li-ming", "wang-fang", "zhang-wei", "zhou-min"]
    code, out = run("query", staff, "-p", "a=renji-hospital")  # operations: raw rows cannot apply each person's consent
    assert code == 1 and "cannot apply each person's consent" in out
    # show and search apply consent: operations may use a person's name, not their e-mail; service may
    code, out = run("show", "Contact:li-ming", "--json")
    assert code == 0 and "Li Ming" in out and "li.ming@renji.example" not in out, out
    code, out = run("show", "Contact:li-ming", "--purpose", "service", "--json")
    assert code == 0 and "li.ming@renji.example" in out
    assert run("show", "Contact:li-ming", "--purpose", "world_domination")[0] == 2
    log = AuditLog.for_data_dir(khub_env / "data")
    li_ming = log.pseudonym("Contact:li-ming")
    assert [(e["action"], e["purpose"], e["subjects"]) for e in list(log.entries())[-3:]] == [
        ("query", "service", []),
        ("read", "operations", [li_ming]),
        ("read", "service", [li_ming]),
    ]
    code, out = run("query", "CREATE (n:Account {id: 'x'})")
    assert code == 1 and "read-only" in out
    code, out = run("show", "Device:dev-us900-0142", "--json")
    assert code == 0 and "renji-hospital" in out
    code, out = run("show", "Device:nope")
    assert code == 1 and "no node Device:nope" in out
    code, out = run("path", "Contact:li-ming", "Product:us-900")
    assert code == 0 and "Product:us-900" in out
    code, out = run("search", "Chunk", "预算", "--json")
    assert code == 0 and "tender-renji-2026-041#1" in out
    run("demo")
    code, out = run("stats", "--json")
    contacts = sum(1 for n in demo_records()[0] if n.label == "Contact")
    assert json.loads(out)["nodes"]["Contact"] == contacts == 9  # loading twice duplicates nothing


def test_validate_reports_file_line_and_element(khub_env: Path):
    broken = khub_env / "broken.yaml"
    text = DEFAULT_SCHEMA.read_text(encoding="utf-8")
    text = text.replace(
        "  email: {range: string, annotations: {privacy: contact, unique: true}}", "  email: {range: strin, annotations: {privacy: secret, unique: true}}"
    )
    broken.write_text(text, encoding="utf-8")
    code, out = run("ontology", "validate", str(broken))
    assert code == 1
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  email:"))
    assert f"broken.yaml:{line}: slot email: unknown range 'strin'" in out
    assert "privacy 'secret' is not one of" in out


def test_export_owl_parses_with_rdflib(khub_env: Path):
    code, out = run("ontology", "export", "--format", "owl", "--output", str(khub_env / "khub.ttl"))
    assert code == 0, out
    graph = rdflib.Graph().parse(khub_env / "khub.ttl", format="turtle")
    classes = set(graph.subjects(rdflib.RDF.type, rdflib.OWL.Class))
    assert rdflib.URIRef("https://khub.dev/ontology/Account") in classes
    code, out = run("ontology", "export", "--format", "pdf")
    assert code == 2


def test_forget_a_document_from_the_command_line(khub_env: Path):
    note = khub_env / "note.txt"
    note.write_text("Peter Brown, CTO of Beta Hospital GmbH, asked for a quote.", encoding="utf-8")
    code, out = run("ingest", str(note), "--no-embed", "--json")
    assert code == 0 and json.loads(out)["added"] == 1, out
    code, out = run("forget", str(note), "--json")
    assert code == 0, out
    report = json.loads(out)[0]
    assert report["document_deleted"] and report["nodes_deleted"]["Contact"] == 1 and report["nodes_deleted"]["Account"] == 1
    code, out = run("stats", "--json")
    assert json.loads(out)["nodes"] == {}  # nothing else supported anything of it
    code, out = run("forget", str(note))
    assert code == 0 and "nothing recorded from it" in out


def test_unmerge_lists_and_splits_from_the_command_line(khub_env: Path):
    (khub_env / "a.txt").write_text("Peter Brown, CTO of Acme Medical Systems, asked for a quote.", encoding="utf-8")
    (khub_env / "b.txt").write_text("Jane Doe, Chief Financial Officer of ACME Medical System, approved the budget.", encoding="utf-8")
    assert run("ingest", str(khub_env / "a.txt"), "--no-embed")[0] == 0
    assert run("ingest", str(khub_env / "b.txt"), "--no-embed")[0] == 0
    code, out = run("query", "MATCH (a:Account) RETURN a.id AS id", "--purpose", "service", "--json")
    (acme,) = [r["id"] for r in json.loads(out)]
    code, out = run("unmerge", f"Account:{acme}", "--json")
    assert code == 0, out
    (merge,) = json.loads(out)
    assert merge["names"] == ["ACME Medical System"]
    code, out = run("unmerge", f"Account:{acme}", "ACME Medical System", "--json")
    assert code == 0, out
    assert json.loads(out)["split_off"] == f"Account:{merge['merged_from']}"
    code, out = run("unmerge", f"Account:{acme}")
    assert code == 0 and "no merges" in out
    code, out = run("unmerge", "Account:nope", "x")
    assert code == 1 and "no node Account:nope" in out


def test_intents_from_the_command_line(khub_env: Path):
    code, out = run("demo")
    assert code == 0, out
    assert "why intent-replacement_anxiety-dev-us900-0142" in out and "for service: Offer an extended warranty for US900-0142" in out
    assert "why intent-contract_clause_conflict-renji-hospital" in out and "for legal: Clause conflict at Renji Hospital" in out
    code, out = run("intents", "refresh", "--as-of", "2026-12-01", "--no-embed", "--no-actions", "--json")
    assert code == 0, out
    fired = {(r["intent"], r["subject"]) for r in json.loads(out)["fired"]}
    assert ("replacement_anxiety", "Device:dev-us900-0142") in fired
    code, out = run("intents", "list", "--json")
    assert code == 0 and "intent-replacement_anxiety-dev-us900-0142" in out
    code, out = run("intents", "explain", "intent-replacement_anxiety-dev-us900-0142", "--json")
    assert code == 0, out
    explained = json.loads(out)
    assert explained["subject"] == "Device:dev-us900-0142" and any("maintenance or warranty terms" in line for line in explained["explanation"])
    code, out = run("intents", "explain", "intent-nope")
    assert code == 1 and "no intent intent-nope" in out
    code, out = run("intents", "definitions", "--json")
    assert code == 0 and len(json.loads(out)) == len(list((Path(DEFAULT_SCHEMA).parent.parent / "intents").glob("*.yaml")))
    code, out = run("chain", "renji-hospital", "--json")
    assert code == 0, out
    members = json.loads(out)["members"]
    roles = {m["contact"]: m["role"] for m in members}
    assert roles["王芳"] == "budget_holder" and roles["李明"] == "technical_evaluator"
    # operations may use names (legitimate interest), not what people did: the reasons are withheld; sales may read titles and records
    assert all(m["why"].startswith("(withheld") for m in members)
    code, out = run("chain", "renji-hospital", "--purpose", "sales", "--json")
    assert any("财务处处长" in m["why"] for m in json.loads(out)["members"])
    # intents are shown only to a purpose they serve, and every look is on the audit record
    code, out = run("intents", "explain", "intent-refund_risk-student-liu-yang", "--purpose", "marketing")
    assert code == 1 and "does not serve the purpose marketing (it serves: service)" in out
    code, out = run("intents", "list", "--purpose", "marketing", "--json")
    assert code == 0 and "intent-refund_risk-student-liu-yang" not in [r["intent"] for r in json.loads(out)]
    code, out = run("intents", "list", "--purpose", "nope")
    assert code == 2 and "unknown purpose 'nope'" in out
    from graph.audit import AuditLog

    logged = [(e["purpose"], e["details"].get("command")) for e in AuditLog.for_data_dir(khub_env / "data").entries() if e["action"] == "read"]
    assert ("service", "khub intents list") in logged and ("service", "khub intents explain") in logged and ("sales", "khub chain") in logged


def test_feedback_then_calibrate(khub_env: Path):
    assert run("demo")[0] == 0
    code, out = run("intents", "feedback", "intent-refund_risk-student-liu-yang", "dismissed", "--by", "teacher.li")
    assert code == 0 and "dismissed" in out
    code, out = run("intents", "feedback", "intent-nope", "acted")
    assert code == 1 and "no intent 'intent-nope'" in out
    code, out = run("intents", "calibrate", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["fitted"] == [] and "1 labelled intent(s), 8 needed" in data["skipped"]["refund_risk"]
    assert Path(data["path"]).exists()
    code, out = run("intents", "list", "--status", "dismissed", "--json")
    assert [r["intent"] for r in json.loads(out)] == ["intent-refund_risk-student-liu-yang"]


def test_evaluate_a_generated_world(khub_env: Path):
    code, out = run("intents", "evaluate", "--world", "--accounts", "60", "--no-embed", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["accounts"] == 60 and data["rejected"] == 0 and data["decoy_fires"] == []
    assert 0.8 <= data["macro_f1"] <= 1.0
    code, out = run("intents", "evaluate")
    assert code == 2 and "--world or --dataset" in out


def test_dsr_export_from_the_command_line(khub_env: Path):
    assert run("demo")[0] == 0
    code, out = run("dsr", "export", "Contact:li-ming", "--out", "li-ming.json", "--html", "li-ming.html")
    assert code == 0, out
    exported = json.loads((khub_env / "li-ming.json").read_text(encoding="utf-8"))
    assert exported["profile"]["full_name"] == "李明" and {e["id"] for e in exported["events"]} == {"ev-web-1", "ev-web-2"}
    assert "Data held about Contact:li-ming" in (khub_env / "li-ming.html").read_text(encoding="utf-8")
    code, out = run("dsr", "export", "li-ming")
    assert code == 2 and "Type:id" in out
    code, out = run("dsr", "export", "Contact:nobody")
    assert code == 1 and "no Contact 'nobody'" in out


def test_audit_verify_from_the_command_line(khub_env: Path):
    assert run("demo")[0] == 0  # the demo's intent refresh records its inferences
    assert run("dsr", "export", "Contact:li-ming", "--out", "x.json")[0] == 0
    code, out = run("audit", "verify")
    assert code == 0 and "intact" in out, out
    log = khub_env / "data" / "audit" / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any('"action": "inference"' in line for line in lines) and '"action": "export"' in lines[-1]
    lines[0] = lines[0].replace('"action": "inference"', '"action": "nothing"')
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out = run("audit", "verify")
    assert code == 1 and "TAMPERED" in out and "entry 1 at line 1 was changed" in out
