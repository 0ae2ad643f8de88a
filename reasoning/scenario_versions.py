"""Scenario governance: versions with author and comment, approval, rollback, locks, diffs.

Every change to a scenario is a `ScenarioVersion` node (id `scenario@vN`) holding the scenario's
text as saved, who saved it and why, and its status:

    save ──> draft ──deploy──> live ──(a later version goes live)──> retired
                     └─deploy (approval needed)──> pending ──approve──> live
                                                           └─reject───> rejected

A version needs approval when it says `approval: required` or the live version does (so
dropping the requirement needs approval too); the approver must be someone other than the
author. `rollback(n)` saves version n's text as a new version (comment "rollback to vN") and
deploys it: history only grows, and a rollback is approved like any change. A supervisor locks a
field or section (`when`, `decision.rules`, `actions.0.role`): saving a version that changes
what is under a locked path is refused, naming the path, who locked it and why, until it is
unlocked. Who may do what (authors: steward; approvers and supervisors: admin) is the API's
business; this module keeps the four-eyes rule and the state machine.

`active_scenarios(store)` is what runs: each registered scenario's live version, and every
shipped file (`ontology/scenarios/`) whose id was never registered, as its file says.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph.store import GraphStore, Node, NodeRecord, NodeRef
from ontology.concepts import ConceptDef, default_features, load_concepts
from ontology.errors import BadInput, Conflict, Locked, NotFound, NotPermitted, SchemaInvalid
from ontology.scenarios import SCENARIO_DIR, ScenarioDef, load_scenarios, parse_scenario_text
from ontology.yamlsource import load_yaml_text

MAX_VERSIONS = 100_000
_generation = [0]


def registry_generation() -> int:
    """A counter every version written in this process moves on (caches of what runs watch it)."""
    return _generation[0]


@dataclass(frozen=True)
class ScenarioVersion:
    """One saved version of a scenario (see the module doc)."""

    scenario_id: str
    number: int
    definition: str
    author: str
    comment: str
    created_at: str
    status: str
    requires_approval: bool
    reviewed_by: str = ""
    reviewed_at: str = ""
    review_note: str = ""

    @property
    def key(self) -> str:
        """The node id: `scenario@vN`."""
        return version_key(self.scenario_id, self.number)

    def scenario(self, concepts: Mapping[str, ConceptDef] | None = None) -> ScenarioDef:
        """The scenario this version defines (its `version` is this version's number); `concepts`:
        the concept catalogue, when reading many versions."""
        parsed = parse_scenario_text(self.key, self.definition, concepts=concepts)
        return ScenarioDef(**{**parsed.__dict__, "version": self.number, "source": f"scenario version {self.key}"})

    def summary(self) -> dict[str, Any]:
        """As plain data (`--json`, GraphQL)."""
        return {
            "scenario": self.scenario_id,
            "version": self.number,
            "status": self.status,
            "author": self.author,
            "comment": self.comment,
            "createdAt": self.created_at,
            "requiresApproval": self.requires_approval,
            "reviewedBy": self.reviewed_by or None,
            "reviewedAt": self.reviewed_at or None,
            "reviewNote": self.review_note or None,
        }


@dataclass(frozen=True)
class ScenarioLock:
    """A supervisor's lock on a path of a scenario."""

    scenario_id: str
    path: str
    locked_by: str
    locked_at: str
    reason: str

    def summary(self) -> dict[str, Any]:
        """As plain data."""
        return {"scenario": self.scenario_id, "path": self.path, "lockedBy": self.locked_by, "lockedAt": self.locked_at, "reason": self.reason}


@dataclass(frozen=True)
class Change:
    """One difference between two versions: a dotted path (`decision.rules.0.then.refund_share`), before and after (None: absent)."""

    path: str
    before: Any
    after: Any

    def summary(self) -> dict[str, Any]:
        """As plain data."""
        return {"path": self.path, "before": self.before, "after": self.after}


def version_key(scenario_id: str, number: int) -> str:
    """The node id of a scenario's version `number`."""
    return f"{scenario_id}@v{number}"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> leaf value (list items by index; empty lists and mappings are leaves)."""
    if isinstance(data, Mapping) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, list) and data:
        out = {}
        for index, value in enumerate(data):
            out.update(flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix: data}


def changes_between(before: str, after: str) -> list[Change]:
    """What changed between two scenario texts, leaf by leaf, in path order."""
    old, new = flatten(load_yaml_text(before) or {}), flatten(load_yaml_text(after) or {})
    return [Change(p, old.get(p), new.get(p)) for p in sorted(set(old) | set(new)) if old.get(p) != new.get(p) or (p in old) != (p in new)]


def _under(path: str, lock: str) -> bool:
    return path == lock or path.startswith(lock + ".")


class ScenarioRegistry:
    """Scenario versions, locks and deployments in one store (see the module doc)."""

    def __init__(self, store: GraphStore, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def _now(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    # ------------------------------------------------------------------ reading
    def versions(self, scenario_id: str) -> list[ScenarioVersion]:
        """Every version of a scenario, oldest first."""
        nodes = self.store.find("ScenarioVersion", "scenario_id", scenario_id, limit=MAX_VERSIONS)
        return sorted((_version(n) for n in nodes), key=lambda v: v.number)

    def version(self, scenario_id: str, number: int) -> ScenarioVersion:
        """One version; `NotFound` names it."""
        node = self.store.get(NodeRef("ScenarioVersion", version_key(scenario_id, number)))
        if node is None:
            raise NotFound(f"scenario {scenario_id!r} has no version {number}")
        return _version(node)

    def live(self, scenario_id: str) -> ScenarioVersion | None:
        """The version that runs, if any."""
        return next((v for v in self.versions(scenario_id) if v.status == "live"), None)

    def registered(self) -> list[str]:
        """Ids of the scenarios that have versions."""
        ids: set[str] = set()
        after: str | None = None
        while True:
            page = self.store.scan_nodes("ScenarioVersion", after=after, limit=5000)
            ids.update(str(n.props.get("scenario_id")) for n in page)
            if len(page) < 5000:
                return sorted(ids)
            after = page[-1].id

    def locks(self, scenario_id: str) -> list[ScenarioLock]:
        """The scenario's locks, by path."""
        nodes = self.store.find("ScenarioLock", "scenario_id", scenario_id, limit=MAX_VERSIONS)
        return sorted((_lock(n) for n in nodes), key=lambda lock: lock.path)

    def diff(self, scenario_id: str, before: int, after: int) -> tuple[list[Change], str]:
        """What changed from version `before` to `after`: the changes by path, and a unified text diff."""
        old, new = self.version(scenario_id, before), self.version(scenario_id, after)
        text = "".join(
            difflib.unified_diff(old.definition.splitlines(keepends=True), new.definition.splitlines(keepends=True), fromfile=old.key, tofile=new.key)
        )
        return changes_between(old.definition, new.definition), text

    # ------------------------------------------------------------------ changing
    def save(self, text: str, author: str, comment: str) -> ScenarioVersion:
        """Check `text` and keep it as the scenario's next version (a draft). Refused: a text with
        problems (`SchemaInvalid`, each with line and element), no change since the latest version,
        a change under a locked path (`Locked`)."""
        if not comment.strip():
            raise BadInput("say why you change the scenario: the comment is empty")
        try:
            data = load_yaml_text(text)
        except Exception as exc:  # YAML's own message
            raise BadInput(f"the scenario text is not YAML: {exc}") from None
        scenario_id = str(data.get("id", "")) if isinstance(data, Mapping) else ""
        existing = self.versions(scenario_id) if scenario_id else []
        number = existing[-1].number + 1 if existing else 1
        scenario = parse_scenario_text(version_key(scenario_id or "scenario", number), text)
        if existing:
            latest = existing[-1]
            changed = changes_between(latest.definition, text)
            if not changed:
                raise Conflict(f"nothing changed since {latest.key}")
            for lock in self.locks(scenario_id):
                touched = [c.path for c in changed if _under(c.path, lock.path)]
                if touched:
                    raise Locked(
                        f"{scenario_id}: {lock.path} is locked by {lock.locked_by} ({lock.reason or 'no reason given'}); this change touches "
                        + ", ".join(touched)
                    )
        version = ScenarioVersion(scenario.id, number, text, author, comment.strip(), self._now(), "draft", scenario.requires_approval)
        self._write(version)
        return version

    def deploy(self, scenario_id: str, number: int, by: str) -> ScenarioVersion:
        """Put a draft (or a retired or rejected version) live, or pending when it needs approval."""
        version = self.version(scenario_id, number)
        if version.status in ("live", "pending"):
            raise Conflict(f"{version.key} is already {version.status}")
        live = self.live(scenario_id)
        needs = version.requires_approval or (live is not None and live.requires_approval)
        if needs:
            pending = _replace(version, status="pending", reviewed_by="", reviewed_at="", review_note="")
            self._write(pending)
            return pending
        return self._go_live(version)

    def approve(self, scenario_id: str, number: int, approver: str, note: str = "") -> ScenarioVersion:
        """Approve a pending version (by someone other than its author): it goes live."""
        version = self.version(scenario_id, number)
        if version.status != "pending":
            raise Conflict(f"{version.key} is {version.status}, not pending approval")
        if approver == version.author:
            raise NotPermitted(f"{version.key} was saved by {approver}: another person must approve it")
        return self._go_live(_replace(version, reviewed_by=approver, reviewed_at=self._now(), review_note=note))

    def reject(self, scenario_id: str, number: int, approver: str, note: str) -> ScenarioVersion:
        """Refuse a pending version, saying why."""
        version = self.version(scenario_id, number)
        if version.status != "pending":
            raise Conflict(f"{version.key} is {version.status}, not pending approval")
        if not note.strip():
            raise BadInput("say why the version is rejected: the note is empty")
        rejected = _replace(version, status="rejected", reviewed_by=approver, reviewed_at=self._now(), review_note=note.strip())
        self._write(rejected)
        return rejected

    def rollback(self, scenario_id: str, number: int, by: str, comment: str = "") -> ScenarioVersion:
        """Save version `number`'s text as a new version and deploy it (pending when approval is needed)."""
        target = self.version(scenario_id, number)
        saved = self.save(target.definition, by, comment.strip() or f"rollback to v{number}")
        return self.deploy(scenario_id, saved.number, by)

    def lock(self, scenario_id: str, path: str, by: str, reason: str) -> ScenarioLock:
        """Lock a field or section of a scenario (a dotted path into its file)."""
        path = path.strip().strip(".")
        if not path:
            raise BadInput("name the field or section to lock (when, decision.rules, actions.0.role, ...)")
        versions = self.versions(scenario_id)
        if not versions:
            raise NotFound(f"no scenario {scenario_id!r} has versions")
        known = flatten(load_yaml_text(versions[-1].definition) or {})
        if not any(_under(p, path) for p in known):
            raise BadInput(f"{scenario_id} has no field or section {path!r} (e.g. {', '.join(sorted({p.split('.')[0] for p in known}))})")
        lock = ScenarioLock(scenario_id, path, by, self._now(), reason.strip())
        props = {"scenario_id": scenario_id, "locked_path": path, "locked_by": by, "locked_at": lock.locked_at, "lock_reason": lock.reason}
        self.store.upsert([NodeRecord("ScenarioLock", f"{scenario_id}:{path}", props)])
        return lock

    def unlock(self, scenario_id: str, path: str) -> bool:
        """Lift a lock; False when there was none."""
        return bool(self.store.delete(NodeRef("ScenarioLock", f"{scenario_id}:{path.strip().strip('.')}")).nodes_deleted)

    # ------------------------------------------------------------------ internals
    def _go_live(self, version: ScenarioVersion) -> ScenarioVersion:
        for other in self.versions(version.scenario_id):
            if other.status == "live" and other.number != version.number:
                self._write(_replace(other, status="retired"))
        live = _replace(version, status="live")
        self._write(live)
        return live

    def _write(self, version: ScenarioVersion) -> None:
        props = {
            "scenario_id": version.scenario_id,
            "version_number": version.number,
            "definition": version.definition,
            "author": version.author,
            "change_comment": version.comment,
            "created_at": version.created_at,
            "version_status": version.status,
            "requires_approval": version.requires_approval,
            "reviewed_by": version.reviewed_by,
            "reviewed_at": version.reviewed_at or None,
            "review_note": version.review_note,
        }
        written = self.store.upsert([NodeRecord("ScenarioVersion", version.key, {k: v for k, v in props.items() if v is not None})])
        _generation[0] += 1
        if written.rejected:
            raise BadInput(f"{version.key}: the store refused the version: {written.rejected[0].reason}")


def _replace(version: ScenarioVersion, **changes: Any) -> ScenarioVersion:
    return ScenarioVersion(**{**version.__dict__, **changes})


def _version(node: Node) -> ScenarioVersion:
    p = node.props
    return ScenarioVersion(
        scenario_id=str(p.get("scenario_id", "")),
        number=int(p.get("version_number", 0)),
        definition=str(p.get("definition", "")),
        author=str(p.get("author", "")),
        comment=str(p.get("change_comment", "")),
        created_at=str(p.get("created_at", "")),
        status=str(p.get("version_status", "draft")),
        requires_approval=bool(p.get("requires_approval", False)),
        reviewed_by=str(p.get("reviewed_by") or ""),
        reviewed_at=str(p.get("reviewed_at") or ""),
        review_note=str(p.get("review_note") or ""),
    )


def _lock(node: Node) -> ScenarioLock:
    p = node.props
    return ScenarioLock(
        str(p.get("scenario_id", "")), str(p.get("locked_path", "")), str(p.get("locked_by", "")), str(p.get("locked_at", "")), str(p.get("lock_reason", ""))
    )


def active_scenarios(store: GraphStore, problems: list[str] | None = None) -> list[ScenarioDef]:
    """What runs: each registered scenario's live version, and the shipped files never registered.
    A live version that no longer passes the checks (a feature or concept it names was removed
    since it was saved) does not run: it is logged and, given `problems`, listed there (`khub
    scenario validate` shows them); the others still run."""
    registry = ScenarioRegistry(store)
    registered = set(registry.registered())
    concepts = {c.id: c for c in load_concepts(features=default_features())}
    active = []
    for sid in sorted(registered):
        live = registry.live(sid)
        if live is None:
            continue
        try:
            active.append(live.scenario(concepts))
        except SchemaInvalid as exc:
            message = f"{live.key} is live but does not run: {exc}"
            logging.getLogger(__name__).warning("%s", message)
            if problems is not None:
                problems.append(message)
    shipped = load_scenarios(sorted(SCENARIO_DIR.glob("*.yaml")))
    return sorted(active + [s for s in shipped if s.id not in registered], key=lambda s: s.id)


def find_scenario(store: GraphStore, scenario_id: str, version: int | None = None) -> ScenarioDef:
    """A scenario by id: the given version, else the one that runs (live, or the shipped file); `NotFound` otherwise."""
    if version is not None:
        return ScenarioRegistry(store).version(scenario_id, version).scenario()
    found = next((s for s in active_scenarios(store) if s.id == scenario_id), None)
    if found is None:
        raise NotFound(f"no active scenario {scenario_id!r} (a registered scenario runs once a version is live)")
    return found


def shipped_text(scenario_id: str) -> str:
    """The text of a shipped scenario file, to register it as version 1."""
    path = SCENARIO_DIR / f"{scenario_id}.yaml"
    if not path.is_file():
        raise NotFound(f"no shipped scenario {scenario_id!r} in {SCENARIO_DIR}")
    return path.read_text(encoding="utf-8")
