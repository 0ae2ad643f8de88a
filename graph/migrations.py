"""Apply the safe steps of an ontology diff to a graph (`khub ontology apply`).

`apply_ontology(store, new, text)` diffs the ontology recorded in the graph against `new`, runs
the migrations and switches the store to `new`; `apply_draft(store, workspace, by)` does that for
a steward's draft (`ontology.workspace`) and makes it the active version.

`apply_migrations(store, diff, version)` expects `store` to be opened with the NEW ontology and
does, in this order:

1. refuses (before changing anything) when the store's ontology is not the diff's new side, or
   when a rename or a new unique constraint would make two nodes share a unique value;
2. `store.sync_schema()`: constraints and indexes the new ontology needs that are missing;
3. relabels the nodes of renamed node types, re-creates the edges of renamed edge types
   (Cypher cannot rename a relationship type), moves renamed properties on the nodes or edges
   of their type (an item that already has a value under the new name keeps both and is
   reported);
4. recomputes the edge keys (`ek`, which include the edge type and the end labels) of edges
   whose type or end label was renamed, so later upserts find the same edges;
5. fills the hidden full-text token copies of properties that became full-text indexed or
   were renamed into one;
6. turns deprecations into warnings, lists the unsafe steps as skipped, and records the
   ontology version in the graph.

Every data step only touches items still in the old shape, in batches, so applying the same
diff again changes nothing. Unsafe steps are never applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.batch import edge_key
from graph.cypher_store import CypherGraphStore
from graph.dialect import quote
from graph.store import EdgeRecord, NodeRef
from graph.text_index import index_tokens, shadow_name
from ontology.diff import (
    AddEdgeType,
    AddIndex,
    AddNodeType,
    Deprecate,
    MigrationStep,
    OntologyDiff,
    RemoveIndex,
    RenameEdgeType,
    RenameNodeType,
    RenameProperty,
)
from ontology.errors import MigrationRefused
from ontology.model import NODE_KEY, EdgeType, Ontology

if TYPE_CHECKING:
    from ontology.workspace import OntologyWorkspace, VersionInfo

#: Items changed per write query.
BATCH = 10_000


@dataclass
class ApplyReport:
    """What `apply_migrations` did (or, with `dry_run`, would do)."""

    version: str
    dry_run: bool = False
    done: list[str] = field(default_factory=list)
    skipped: list[MigrationStep] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    schema_created: list[str] = field(default_factory=list)
    items_changed: int = 0
    recorded: bool = False

    @property
    def changed(self) -> bool:
        """True when the graph was modified (schema, data or the recorded version)."""
        return bool(self.schema_created or self.items_changed or self.recorded)

    def summary(self) -> str:
        """A human report of the run."""
        head = "dry run: nothing was changed" if self.dry_run else ("applied" if self.changed else "nothing to do")
        lines = [f"ontology {self.version}: {head}"]
        if self.schema_created:
            lines.append(f"schema: created {', '.join(self.schema_created)}")
        lines += [f"  done: {line}" for line in self.done]
        lines += [f"  skipped (unsafe): {step.describe()}" for step in self.skipped]
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.recorded:
            lines.append(f"recorded ontology version {self.version}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "version": self.version,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "done": list(self.done),
            "skipped": [s.to_dict() for s in self.skipped],
            "warnings": list(self.warnings),
            "schema_created": list(self.schema_created),
            "items_changed": self.items_changed,
            "recorded": self.recorded,
        }


def apply_migrations(store: CypherGraphStore, diff: OntologyDiff, new_ontology_version: str, dry_run: bool = False) -> ApplyReport:
    """Apply the safe steps of `diff` to the graph of `store` (opened with the NEW ontology).

    Returns what was done, the unsafe steps that were skipped and warnings (deprecations,
    items left alone). With `dry_run` nothing is written: the report counts what would move.
    Raises `MigrationRefused`, before any change, when the store's ontology is not the diff's
    new side or when the result would break a unique constraint.
    """
    _check_store_ontology(store.ontology, diff)
    report = ApplyReport(version=new_ontology_version, dry_run=dry_run)
    report.skipped = list(diff.unsafe_steps)
    conflicts = _unique_conflicts(store, diff)
    if conflicts and not dry_run:
        raise MigrationRefused("the migration would break unique constraints; nothing was changed:\n" + "\n".join(conflicts))
    report.warnings += conflicts

    if dry_run:
        additions = [s for s in diff.safe_steps if isinstance(s, AddNodeType | AddEdgeType | AddIndex)]
        report.done += [f"would {s.describe()}" for s in additions]
    else:
        report.schema_created = store.sync_schema()

    for step in diff.steps_of(RenameNodeType):
        _rename_label(store, step, report)
    for step in diff.steps_of(RenameEdgeType):
        _rename_edge_type(store, step, report)
    for step in diff.steps_of(RenameProperty):
        _rename_property(store, diff, step, report)
    _rekey_edges(store, diff, report)
    _backfill_fulltext(store, diff, report)

    for step in diff.steps_of(RemoveIndex):
        if step.safe and dry_run:
            report.done.append(f"would {step.describe()}")
        elif step.safe and store.drop_unique(step.owner, step.prop):
            report.done.append(step.describe())
            report.items_changed += 1

    for step in diff.steps_of(Deprecate):
        report.warnings.append(f"{step.element} is deprecated: {step.note}")

    if not dry_run and (report.items_changed or report.schema_created or store.applied_ontology_version() != new_ontology_version):
        safe, unsafe = len(diff.safe_steps), len(diff.unsafe_steps)
        note = f"from {diff.old_version}: {safe} safe step(s) applied, {unsafe} unsafe skipped, {report.items_changed} item(s) changed"
        store.record_ontology_version(new_ontology_version, note)
        report.recorded = True
    return report


# ---------------------------------------------------------------------------------- checks
def _check_store_ontology(ontology: Ontology, diff: OntologyDiff) -> None:
    problems = []
    if ontology.version != diff.new_version:
        problems.append(f"the store uses ontology version {ontology.version}, the diff leads to {diff.new_version}")
    for step in diff.safe_steps:
        if isinstance(step, AddNodeType | RenameNodeType):
            name = step.name if isinstance(step, AddNodeType) else step.new
            if name not in ontology.node_types:
                problems.append(f"node type {name} is not in the store's ontology")
        elif isinstance(step, AddEdgeType | RenameEdgeType):
            name = step.name if isinstance(step, AddEdgeType) else step.new
            if name not in ontology.edge_types:
                problems.append(f"edge type {name} is not in the store's ontology")
        elif isinstance(step, RenameProperty):
            kinds: dict[str, Any] = ontology.edge_types if step.is_edge else ontology.node_types
            if step.owner not in kinds or step.new not in kinds[step.owner].properties:
                problems.append(f"{step.owner}.{step.new} is not in the store's ontology")
    if problems:
        raise MigrationRefused("open the store with the new ontology before applying: " + "; ".join(problems))


def _unique_conflicts(store: CypherGraphStore, diff: OntologyDiff) -> list[str]:
    """Values that would be shared by two nodes once labels and properties are moved."""
    label_sources = {s.new: s.old for s in diff.steps_of(RenameNodeType)}
    prop_sources: dict[tuple[str, str], list[str]] = {}
    for s in diff.steps_of(RenameProperty):
        if not s.is_edge:
            prop_sources.setdefault((s.owner, s.new), []).append(s.old)
    targets: set[tuple[str, str]] = set()
    for label in label_sources:
        targets |= {(label, p.name) for p in store.ontology.node_types[label].properties.values() if p.unique or p.name == NODE_KEY}
    targets |= {key for key in prop_sources if store.ontology.node_types[key[0]].properties[key[1]].unique}
    targets |= {(s.owner, s.prop) for s in diff.steps_of(AddIndex) if s.kind == "unique" and not s.is_edge}
    problems = []
    for label, prop in sorted(targets):
        labels = [label] + ([label_sources[label]] if label in label_sources else [])
        props = [prop, *prop_sources.get((label, prop), [])]
        match = " OR ".join(f"n:{quote(lb)}" for lb in labels)
        value = f"coalesce({', '.join(f'n.{quote(p)}' for p in props)})"
        query = f"MATCH (n) WHERE {match} WITH {value} AS v WHERE v IS NOT NULL WITH v, count(*) AS c WHERE c > 1 RETURN v, c LIMIT 5"
        for row in store.conn.run_read(query):
            problems.append(f"{label}.{prop} = {row['v']!r} would be shared by {row['c']} nodes (from {', '.join(labels)})")
    return problems


# ---------------------------------------------------------------------------------- moves
def _loop(store: CypherGraphStore, query: str, params: dict[str, Any] | None = None) -> int:
    """Run a batched write until it reports 0 items moved; the total moved."""
    total = 0
    while True:
        rows = store.conn.run_write(query, {"batch": BATCH, **(params or {})})
        moved = int(rows[0]["moved"]) if rows else 0
        if not moved:
            return total
        total += moved


def _count(store: CypherGraphStore, query: str, params: dict[str, Any] | None = None) -> int:
    rows = store.conn.run_read(query, params or {})
    return int(rows[0]["c"]) if rows else 0


def _note(report: ApplyReport, moved: int, what: str) -> None:
    report.items_changed += 0 if report.dry_run else moved
    if moved:
        report.done.append(f"{'would move' if report.dry_run else 'moved'} {moved} {what}")


def _rename_label(store: CypherGraphStore, step: RenameNodeType, report: ApplyReport) -> None:
    old, new = quote(step.old), quote(step.new)
    if report.dry_run:
        moved = _count(store, f"MATCH (n:{old}) RETURN count(n) AS c")
    else:
        moved = _loop(store, f"MATCH (n:{old}) WITH n LIMIT $batch SET n:{new} REMOVE n:{old} RETURN count(*) AS moved")
    _note(report, moved, f"node(s) from label {step.old} to {step.new}")


def _rename_edge_type(store: CypherGraphStore, step: RenameEdgeType, report: ApplyReport) -> None:
    old, new = quote(step.old), quote(step.new)
    if report.dry_run:
        moved = _count(store, f"MATCH ()-[r:{old}]->() RETURN count(r) AS c")
    else:
        moved = _loop(
            store,
            f"MATCH (a)-[r:{old}]->(b) WITH a, r, b LIMIT $batch CREATE (a)-[e:{new}]->(b) SET e = properties(r) DELETE r RETURN count(*) AS moved",
        )
    _note(report, moved, f"edge(s) from type {step.old} to {step.new}")


def _rename_property(store: CypherGraphStore, diff: OntologyDiff, step: RenameProperty, report: ApplyReport) -> None:
    old, new = quote(step.old), quote(step.new)
    owner = step.owner
    if report.dry_run:  # the owner's own rename has not happened yet: count under the old name
        renames = RenameEdgeType if step.is_edge else RenameNodeType
        owner = next((s.old for s in diff.steps_of(renames) if s.new == step.owner), owner)
    if step.is_edge:
        pattern = f"()-[x:{quote(owner)}]->()"
        shadow_moves = ""
    else:
        pattern = f"(x:{quote(owner)})"
        new_prop = store.ontology.node_types[step.owner].properties[step.new]
        old_shadow, new_shadow = quote(shadow_name(step.old)), quote(shadow_name(step.new))
        shadow_moves = (f", x.{new_shadow} = x.{old_shadow}" if new_prop.fulltext else "") + f" REMOVE x.{old_shadow}"
    where = f"WHERE x.{old} IS NOT NULL AND x.{new} IS NULL"
    if report.dry_run:
        moved = _count(store, f"MATCH {pattern} {where} RETURN count(x) AS c")
    else:
        moved = _loop(
            store,
            f"MATCH {pattern} {where} WITH x LIMIT $batch SET x.{new} = x.{old}{shadow_moves} REMOVE x.{old} RETURN count(*) AS moved",
        )
    kind = "edge" if step.is_edge else "node"
    _note(report, moved, f"value(s) of {kind} property {step.owner}.{step.old} to {step.new}")
    both = _count(store, f"MATCH {pattern} WHERE x.{old} IS NOT NULL AND x.{new} IS NOT NULL RETURN count(x) AS c")
    if both:
        report.warnings.append(
            f"{both} {kind}(s) of {step.owner} have values under both {step.old} and {step.new}; kept {step.new}, left {step.old} for you to resolve"
        )


def _rekeyed_edge_types(ontology: Ontology, diff: OntologyDiff) -> list[EdgeType]:
    renamed_labels = {s.new for s in diff.steps_of(RenameNodeType)}
    renamed_edges = {s.new for s in diff.steps_of(RenameEdgeType)}
    return [e for e in ontology.edge_types.values() if e.name in renamed_edges or renamed_labels & (set(e.domain) | set(e.range))]


def _rekey_edges(store: CypherGraphStore, diff: OntologyDiff, report: ApplyReport) -> None:
    """Recompute `ek` for edges whose type or end label was renamed (it includes both)."""
    d = store.dialect
    for edge in _rekeyed_edge_types(store.ontology, diff):
        t = quote(edge.name)
        identity = ", ".join(f"r.{quote(p)}" for p in edge.identity)
        read = (
            f"MATCH (a)-[r:{t}]->(b) WHERE r.ek > $after "
            f"RETURN {d.node_handle('a')} AS ah, {d.node_handle('r')} AS rh, labels(a)[0] AS sl, a.{NODE_KEY} AS sid, "
            f"labels(b)[0] AS dl, b.{NODE_KEY} AS did, r.ek AS ek, [{identity}] AS ident ORDER BY r.ek LIMIT $batch"
        )
        write = (
            f"UNWIND $rows AS row MATCH (a) WHERE {d.node_by_handle('a', 'row.ah')} "
            f"MATCH (a)-[r:{t}]->() WHERE {d.node_by_handle('r', 'row.rh')} SET r.ek = row.ek RETURN count(r) AS moved"
        )
        after, changed, duplicates = "", 0, 0
        seen: dict[tuple[Any, ...], Any] = {}
        while True:
            rows = store.conn.run_read(read, {"after": after, "batch": BATCH})
            if not rows:
                break
            after = rows[-1]["ek"]
            updates = []
            for row in rows:
                rec = EdgeRecord(edge.name, NodeRef(row["sl"], str(row["sid"])), NodeRef(row["dl"], str(row["did"])))
                ek = edge_key(edge, rec, list(row["ident"]))
                key = (row["sl"], row["sid"], row["dl"], row["did"], ek)
                if seen.setdefault(key, row["rh"]) != row["rh"]:
                    duplicates += 1
                if ek != row["ek"]:
                    updates.append({"ah": row["ah"], "rh": row["rh"], "ek": ek})
            if updates and not report.dry_run:
                store.conn.run_write(write, {"rows": updates})
            changed += len(updates)
        _note(report, changed, f"edge key(s) of {edge.name} recomputed")
        if duplicates:
            report.warnings.append(f"{duplicates} {edge.name} edge(s) now duplicate another edge with the same ends and identity")


def _fulltext_targets(ontology: Ontology, diff: OntologyDiff) -> list[tuple[str, str]]:
    targets: list[tuple[str, str]] = []
    for s in diff.safe_steps:
        if isinstance(s, AddIndex) and s.kind == "fulltext" and not s.is_edge:
            targets.append((s.owner, s.prop))
        elif isinstance(s, RenameProperty) and not s.is_edge and ontology.node_types[s.owner].properties[s.new].fulltext:
            targets.append((s.owner, s.new))
    return [
        (label, prop) for label, prop in dict.fromkeys(targets) if label in ontology.node_types and not ontology.node_types[label].properties[prop].multivalued
    ]


def _backfill_fulltext(store: CypherGraphStore, diff: OntologyDiff, report: ApplyReport) -> None:
    """Write the hidden token copy of full-text properties that have a value but no copy."""
    for label, prop in _fulltext_targets(store.ontology, diff):
        lb, p, sh = quote(label), quote(prop), quote(shadow_name(prop))
        missing = f"MATCH (n:{lb}) WHERE n.{p} IS NOT NULL AND n.{sh} IS NULL"
        if report.dry_run:
            _note(report, _count(store, f"{missing} RETURN count(n) AS c"), f"full-text token copies of {label}.{prop} to write")
            continue
        total = 0
        while True:
            rows = store.conn.run_read(f"{missing} RETURN n.{NODE_KEY} AS id, n.{p} AS v LIMIT $batch", {"batch": BATCH})
            if not rows:
                break
            updates = [{"id": r["id"], "t": index_tokens(str(r["v"]))} for r in rows]
            done = store.conn.run_write(
                f"UNWIND $rows AS row MATCH (n:{lb} {{{NODE_KEY}: row.id}}) SET n.{sh} = row.t RETURN count(n) AS moved", {"rows": updates}
            )
            written = int(done[0]["moved"]) if done else 0
            total += written
            if not written:
                break
        _note(report, total, f"full-text token copies of {label}.{prop} written")


# ---------------------------------------------------------------------------------- applying a new ontology
def apply_ontology(store: CypherGraphStore, new: Ontology, new_text: str, dry_run: bool = False) -> ApplyReport:
    """Move the graph of `store` from the ontology recorded in it to `new` (whose YAML is
    `new_text`), and switch the store to `new`.

    The diff is taken against the text recorded in the graph (`store.applied_schema()`), not the
    store's current ontology, so it holds whatever the process was opened with. A graph with no
    recorded ontology is initialised with `new`. With `dry_run` nothing changes (the store keeps
    its ontology); when a migration is refused the store keeps its ontology too.
    """
    from ontology.diff import diff_ontologies
    from ontology.model import build_ontology
    from ontology.yamlsource import load_yaml_text

    previous = store.ontology
    applied_text = store.applied_schema()
    if applied_text is None:
        report = ApplyReport(version=new.version, dry_run=dry_run)
        if dry_run:
            report.done.append(f"would initialise the graph with ontology {new.version}")
            return report
        store.use_ontology(new)
        report.schema_created = store.sync_schema()
        store.record_ontology_version(new.version, "init")
        store.save_applied_schema(new_text)
        report.recorded = True
        return report
    old = build_ontology(load_yaml_text(applied_text), Path("<graph>"))
    diff = diff_ontologies(old, new)
    store.use_ontology(new)
    try:
        report = apply_migrations(store, diff, new.version, dry_run=dry_run)
    except BaseException:
        store.use_ontology(previous)
        raise
    if dry_run:
        store.use_ontology(previous)
    else:
        store.save_applied_schema(new_text)
    return report


def apply_draft(store: CypherGraphStore, workspace: OntologyWorkspace, by: str, dry_run: bool = False) -> tuple[ApplyReport, VersionInfo | None]:
    """Apply the workspace's draft to the graph (`apply_ontology`), then make it the active
    ontology and a kept version (`OntologyWorkspace.promote_draft`); the store ends on the active
    ontology. With `dry_run` only the report (no version). `NotFound` when there is no draft."""
    from ontology.errors import NotFound
    from ontology.model import load_ontology

    draft = workspace.draft()
    if draft is None or draft.ontology is None:
        raise NotFound("there is no ontology draft to apply (add a type, a property or an intent definition first)")
    report = apply_ontology(store, draft.ontology, workspace.draft_schema_text(), dry_run=dry_run)
    if dry_run:
        return report, None
    info = workspace.promote_draft(by, report.to_dict())
    store.use_ontology(load_ontology(workspace.active_schema_path()))
    return report, info
