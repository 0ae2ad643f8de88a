"""Wiring for running the intent engine in khub's processes (CLI, demo, worker, API).

`build_engine` connects the engine to the configured store, an embedder for semantic signals
(optional), and the action runner: every intent written at or over its threshold runs its
definition's actions (tasks, webhooks) once per cooldown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from graph.audit import AuditLog
from graph.store import GraphStore, NodeRef
from ingest.deadletter import DeadLetter
from ontology.settings import Settings
from reasoning.actions import ActionConfig, ActionResult, ActionRunner, IntentFired, IntentSubject
from reasoning.calibration import Calibration
from reasoning.intents import IntentEngine, IntentScore
from reasoning.purposes import permitted_actions


def fired_of(result: IntentScore, store: GraphStore) -> IntentFired:
    """The action payload of a scored intent: subject, score, evidence and explanation."""
    subject = store.get(result.subject)
    name = ""
    if subject is not None:
        name = str(subject.props.get("name") or subject.props.get("full_name") or subject.props.get("serial") or result.subject.id)
    by_node: dict[tuple[str, str], dict[str, Any]] = {}
    for signal in result.signals:
        for e in signal.evidence:
            item = by_node.setdefault((e.ref.label, e.ref.id), {"label": e.ref.label, "id": e.ref.id, "summary": e.caption, "weight": 0.0, "contribution": 0.0})
            item["weight"] = max(item["weight"], signal.signal.weight)
            item["contribution"] = round(item["contribution"] + e.contribution, 4)
    evidence = list(by_node.values())
    intent = store.get(NodeRef("Intent", result.intent_id))
    props = intent.props if intent is not None else {}
    now = datetime.now(UTC).isoformat()
    first_seen, last_seen = str(props.get("first_seen") or now), str(props.get("last_seen") or now)
    return IntentFired(
        intent_id=result.intent_id,
        intent_type=result.definition.id,
        subject=IntentSubject(result.subject.label, result.subject.id, name),
        score=round(result.score, 4),
        first_seen=first_seen,
        last_seen=last_seen,
        evidence=sorted(evidence, key=lambda e: -e["contribution"]),
        explanation=result.explanation(),
        purposes=list(result.definition.purposes),
        suggested_actions=list(result.definition.suggested_actions),
    )


@dataclass
class ActionLog:
    """What the actions of a refresh did, per intent id; the scenarios its intents triggered, per scenario id."""

    results: dict[str, list[ActionResult]] = field(default_factory=dict)
    scenarios: dict[str, list[Any]] = field(default_factory=dict)


def build_action_runner(
    store: GraphStore, settings: Settings | None = None, clock: Callable[[], datetime] | None = None, inline_attempts: int | None = None
) -> ActionRunner:
    """The runner of actions (tasks, signed webhooks) as configured: the dead-letter record, the
    cooldown ledger in the data directory, the webhook secrets, the audit log. `inline_attempts`:
    see `ActionConfig` (the worker tries a webhook once, then in the background)."""
    settings = settings or Settings()
    return ActionRunner(
        store,
        replace(ActionConfig.from_settings(settings), inline_attempts=inline_attempts),
        DeadLetter(settings.deadletter_path),
        clock=clock or (lambda: datetime.now(UTC)),
        secrets=settings.webhook_secrets,
        audit=AuditLog.for_data_dir(settings.data_dir),
    )


def build_engine(
    store: GraphStore,
    settings: Settings | None = None,
    embedder: Any | None = None,
    with_actions: bool = True,
    clock: Callable[[], datetime] | None = None,
    log: ActionLog | None = None,
    runner: ActionRunner | None = None,
) -> IntentEngine:
    """An engine on `store`, calibrated by the file `khub intents calibrate` wrote (if any); with
    actions, intents that fire run their definition's actions (results collected in `log` when given) through
    `runner` (default: one built from `settings`)."""
    settings = settings or Settings()
    clock = clock or (lambda: datetime.now(UTC))
    on_fired = None
    if with_actions:
        runner = runner or build_action_runner(store, settings, clock)

        def on_fired(result: IntentScore, status: str) -> None:
            if status in ("dismissed", "acted"):
                return  # people decided; do not act again
            actions, _withheld = permitted_actions(result, result.served)  # an action runs only for a purpose the intent serves
            results = runner.run(fired_of(result, store), actions, cooldown_seconds=result.definition.cooldown_days * 86400)
            if log is not None:
                log.results[result.intent_id] = results
            triggered = _scenarios_on_intent(store, result, clock(), runner)
            if log is not None:
                for scenario_id, hits in triggered.items():
                    log.scenarios.setdefault(scenario_id, []).extend(hits)

    from ontology.workspace import configured_intents

    calibration = Calibration.load(settings.calibration_path)
    definitions = configured_intents(settings, store.ontology)  # shipped ones and those a steward applied
    return IntentEngine(
        store,
        definitions,
        embedder=embedder,
        clock=clock,
        on_fired=on_fired,
        calibration=calibration,
        classifier=load_classifier(settings, embedder),
        audit=AuditLog.for_data_dir(settings.data_dir),
    )


def _scenarios_on_intent(store: GraphStore, result: IntentScore, now: datetime, runner: ActionRunner) -> dict[str, list[Any]]:
    """Run the scenarios listening for this intent type for its subject (`reasoning.scenario_dispatch.on_intents`).
    A failure is logged, never raised into the engine: the other intents still get scored and acted on."""
    from ontology.concepts import default_features
    from reasoning.scenario_dispatch import on_intents

    try:
        return on_intents(store, [(result.definition.id, result.subject)], default_features(), now, runner)
    except Exception as exc:  # a scenario must not stop the intent engine
        logging.getLogger(__name__).warning("scenarios on intent %s for %s failed: %s", result.definition.id, result.subject, exc)
        return {}


def load_classifier(settings: Settings, embedder: Any | None) -> Any | None:
    """The message-intent classifier `khub intents train` saved, on its own embedder
    (`settings.classifier_model`, the one it was trained with). None when the engine runs
    without embeddings or no model was trained; a model trained on other vectors is refused
    with a warning, not used."""
    path = settings.classifier_path
    if embedder is None or not path.exists():
        return None
    from reasoning.classifier import IntentClassifier, IntentModelError, load_intent_embedder

    try:
        return IntentClassifier.load(path, load_intent_embedder(settings.classifier_model, settings.embedding_cache_path))
    except IntentModelError as exc:
        logging.getLogger(__name__).warning("intent classifier %s not used: %s", path, exc)
        return None
