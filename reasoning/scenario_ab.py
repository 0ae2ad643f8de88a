"""A/B tests of scenario versions: a deterministic split of subjects, trigger and outcome rates per arm.

An `Experiment` node names a scenario, the version arm A runs, the version arm B runs, and the
share of subjects arm B gets. A subject's arm is a hash of the experiment id and the subject's
Type:id (`arm`), so it never changes during the experiment and needs no stored assignment. While
an experiment runs, running the scenario runs each arm's version on that arm's subjects
(`reasoning.scenario_dispatch`), and every task it creates records the experiment and the arm.

`report` gives, per arm: the subjects assigned (of the scenario's subject type, now), those
triggered (an `IN_EXPERIMENT` edge to the experiment, written the first time its scenario triggers
for them under it, whatever its actions: webhooks only, or a task that existed before), the
trigger rate, and the outcomes: triggered subjects who then performed the experiment's
`outcome_event` (after they first triggered), or, with no outcome event, whose task created under
the experiment is done (a task that predates the experiment is not reopened, so its state says
nothing of the experiment: use an outcome event for such scenarios). Only one experiment per scenario runs at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph.store import GraphStore, Node, NodeRecord, NodeRef
from ontology.errors import BadInput, Conflict, NotFound
from ontology.intents import Condition, PathPattern, Step
from reasoning.concepts import parse_moment, subject_ids
from reasoning.scenario_versions import ScenarioRegistry

MAX_TASKS = 1_000_000


@dataclass(frozen=True)
class Experiment:
    """An A/B test of two versions of a scenario (see the module doc)."""

    id: str
    scenario_id: str
    version_a: int
    version_b: int
    share_b: float
    status: str
    outcome_event: str
    started_by: str
    started_at: str
    stopped_at: str = ""

    def summary(self) -> dict[str, Any]:
        """As plain data."""
        return {
            "id": self.id,
            "scenario": self.scenario_id,
            "versionA": self.version_a,
            "versionB": self.version_b,
            "shareB": self.share_b,
            "status": self.status,
            "outcomeEvent": self.outcome_event or None,
            "startedBy": self.started_by,
            "startedAt": self.started_at,
            "stoppedAt": self.stopped_at or None,
        }


def arm(experiment_id: str, subject: NodeRef | str, share_b: float) -> str:
    """`A` or `B` for a subject: the first 64 bits of SHA-256(experiment id, Type:id) as a fraction, below `share_b` -> B."""
    digest = hashlib.sha256(f"{experiment_id}\x1f{subject}".encode()).digest()
    return "B" if int.from_bytes(digest[:8], "big") / 2**64 < share_b else "A"


def _experiment(node: Node) -> Experiment:
    p = node.props
    return Experiment(
        id=node.id,
        scenario_id=str(p.get("scenario_id", "")),
        version_a=int(p.get("arm_a_version", 0)),
        version_b=int(p.get("arm_b_version", 0)),
        share_b=float(p.get("share_b", 0.5)),
        status=str(p.get("experiment_status", "stopped")),
        outcome_event=str(p.get("outcome_event") or ""),
        started_by=str(p.get("started_by", "")),
        started_at=str(p.get("started_at", "")),
        stopped_at=str(p.get("stopped_at") or ""),
    )


class Experiments:
    """Start, stop, find and report A/B experiments in one store."""

    def __init__(self, store: GraphStore, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def get(self, experiment_id: str) -> Experiment:
        """One experiment; `NotFound` names it."""
        node = self.store.get(NodeRef("Experiment", experiment_id))
        if node is None:
            raise NotFound(f"no experiment {experiment_id!r}")
        return _experiment(node)

    def of(self, scenario_id: str) -> list[Experiment]:
        """The scenario's experiments, oldest first."""
        nodes = self.store.find("Experiment", "scenario_id", scenario_id, limit=10_000)
        return sorted((_experiment(n) for n in nodes), key=lambda e: (e.started_at, e.id))

    def all_running(self) -> list[Experiment]:
        """Every running experiment."""
        return [_experiment(n) for n in self.store.find("Experiment", "experiment_status", "running", limit=10_000)]

    def running(self, scenario_id: str) -> Experiment | None:
        """The scenario's running experiment, if any."""
        return next((e for e in self.of(scenario_id) if e.status == "running"), None)

    def start(self, scenario_id: str, version_a: int, version_b: int, by: str, share_b: float = 0.5, outcome_event: str = "") -> Experiment:
        """Start testing version A against version B (both must exist and read; B gets `share_b` of the subjects)."""
        if not 0 < share_b < 1:
            raise BadInput(f"share_b is the share of subjects arm B gets, strictly between 0 and 1, got {share_b}")
        if version_a == version_b:
            raise BadInput("an A/B test needs two different versions")
        known_events = self.store.ontology.enums.get("EventType", ())
        if outcome_event and known_events and outcome_event not in known_events:
            raise BadInput(f"unknown event type {outcome_event!r} for the outcome (one of {', '.join(known_events)})")
        registry = ScenarioRegistry(self.store, self.clock)
        for number in (version_a, version_b):
            registry.version(scenario_id, number).scenario()  # NotFound / SchemaInvalid name it
        if (current := self.running(scenario_id)) is not None:
            raise Conflict(f"experiment {current.id} already runs on {scenario_id}: stop it first")
        now = self.clock()
        experiment_id = f"ab-{scenario_id}-{now:%Y%m%d%H%M%S}-v{version_a}-v{version_b}"
        props = {
            "scenario_id": scenario_id,
            "arm_a_version": version_a,
            "arm_b_version": version_b,
            "share_b": share_b,
            "experiment_status": "running",
            "outcome_event": outcome_event,
            "started_by": by,
            "started_at": now.isoformat(timespec="seconds"),
        }
        written = self.store.upsert([NodeRecord("Experiment", experiment_id, props)])
        if written.rejected:
            raise BadInput(f"experiment {experiment_id}: {written.rejected[0].reason}")
        return self.get(experiment_id)

    def stop(self, experiment_id: str) -> Experiment:
        """Stop an experiment (its tasks and report stay)."""
        experiment = self.get(experiment_id)
        if experiment.status != "running":
            raise Conflict(f"experiment {experiment_id} is not running")
        self.store.upsert([NodeRecord("Experiment", experiment_id, {"experiment_status": "stopped", "stopped_at": self.clock().isoformat(timespec="seconds")})])
        return self.get(experiment_id)

    def report(self, experiment_id: str) -> dict[str, Any]:
        """Per arm: subjects, triggered, trigger rate, outcomes, outcome rate (see the module doc)."""
        experiment = self.get(experiment_id)
        label = ScenarioRegistry(self.store).version(experiment.scenario_id, experiment.version_a).scenario().subject
        assigned = {"A": 0, "B": 0}
        everyone = subject_ids(self.store, label)
        for subject in everyone:
            assigned[arm(experiment.id, NodeRef(label, subject), experiment.share_b)] += 1
        target = NodeRef("Experiment", experiment.id)
        first: dict[str, dict[str, Any]] = {"A": {}, "B": {}}  # arm -> subject id -> (first triggered, a task done)
        for edge in self.store.edges_from([NodeRef(label, s) for s in everyone], "IN_EXPERIMENT") if everyone else []:
            side = str(edge.props.get("experiment_arm", ""))
            if edge.dst == target and side in first:
                first[side][edge.src.id] = {"at": str(edge.props.get("triggered_at") or ""), "done": False}
        tasks = self.store.find("Task", "experiment_id", experiment.id, limit=MAX_TASKS)
        edges = self.store.edges_from([t.ref for t in tasks], "TASK_FOR") if tasks else []
        subject_of = {e.src: e.dst for e in edges if e.dst.label == label}
        for task in tasks:
            subject = subject_of.get(task.ref)
            side = str(task.props.get("experiment_arm", ""))
            if subject is None or side not in first:
                continue
            seen = first[side].setdefault(subject.id, {"at": str(task.props.get("created_at", "")), "done": False})
            seen["done"] = seen["done"] or task.props.get("task_status") == "done"
        outcomes = {"A": 0, "B": 0}
        if experiment.outcome_event:
            step = Step("PERFORMED_BY", "in", "Event", where=(Condition("event_type", "eq", experiment.outcome_event),))
            pattern = PathPattern(label, (step,), time_property="occurred_at")
            triggered_ids = [s for side in first.values() for s in side]
            later: dict[str, list[datetime]] = {}
            for match in self.store.match_pattern(pattern, self.clock(), None, triggered_ids) if triggered_ids else []:
                if match.at and (when := parse_moment(match.at)) is not None:
                    later.setdefault(match.subject, []).append(when)
            for side, seen in first.items():
                for subject, info in seen.items():
                    start = parse_moment(info["at"]) if info["at"] else None
                    outcomes[side] += any(start is None or t > start for t in later.get(subject, []))
        else:
            outcomes = {side: sum(1 for info in seen.values() if info["done"]) for side, seen in first.items()}
        arms = []
        for side, version in (("A", experiment.version_a), ("B", experiment.version_b)):
            triggered = len(first[side])
            arms.append(
                {
                    "arm": side,
                    "version": version,
                    "subjects": assigned[side],
                    "triggered": triggered,
                    "triggerRate": round(triggered / assigned[side], 4) if assigned[side] else None,
                    "outcomes": outcomes[side],
                    "outcomeRate": round(outcomes[side] / triggered, 4) if triggered else None,
                }
            )
        outcome = f"performed {experiment.outcome_event} after the trigger" if experiment.outcome_event else "the scenario's task done"
        return {"experiment": experiment.summary(), "outcome": outcome, "arms": arms}
