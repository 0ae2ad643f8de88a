"""What people say of an intent: acknowledged, acted on, or dismissed.

Feedback is kept on the Intent node (`feedback`, `feedback_at`, `feedback_by`, the score the
intent had then, `feedback_score`, and the giver's words, `feedback_reason`), so it travels with the graph and `khub intents calibrate`
can learn from it. `acted` and `dismissed` also set the intent's status, which the engine keeps
from then on (people's word wins over a re-score); `acknowledged` leaves the status alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from graph.store import GraphStore, NodeRecord, NodeRef
from graph.values import normalise_datetime
from ontology.errors import BadInput, NotFound

OUTCOMES = ("acknowledged", "acted", "dismissed")
#: The longest feedback reason kept.
MAX_REASON_CHARS = 2000
#: Outcomes that say the intent was right.
POSITIVE = frozenset({"acknowledged", "acted"})


@dataclass(frozen=True)
class Feedback:
    """One intent's feedback: its type, the score it had, and whether people found it right."""

    intent_id: str
    intent_type: str
    score: float
    outcome: str

    @property
    def positive(self) -> bool:
        """True when people found the intent right (acknowledged or acted on it)."""
        return self.outcome in POSITIVE


def give_feedback(store: GraphStore, intent_id: str, outcome: str, by: str, clock: Callable[[], datetime] | None = None, reason: str | None = None) -> Feedback:
    """Record `outcome` for an intent, with the giver's `reason` when there is one (kept in
    `feedback_reason`, empty when none is given); `NotFound` when there is no
    such intent, `BadInput` for an unknown outcome or a reason over 2,000 characters."""
    if outcome not in OUTCOMES:
        raise BadInput(f"feedback must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if not by.strip():
        raise BadInput("feedback needs the name of who gives it")
    node = store.get(NodeRef("Intent", intent_id))
    if node is None:
        raise NotFound(f"no intent {intent_id!r} (khub intents list shows them)")
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise BadInput(f"the feedback reason has {len(reason)} characters; at most {MAX_REASON_CHARS}")
    score = float(node.props.get("confidence_score") or 0.0)
    props = {
        "feedback": outcome,
        "feedback_at": normalise_datetime((clock or _now)()),
        "feedback_by": by.strip(),
        "feedback_score": score,
        "feedback_reason": reason or "",  # empty, not absent: the store ignores None, and an older reason must not stay
    }
    if outcome != "acknowledged":
        props["intent_status"] = outcome
    written = store.upsert([NodeRecord("Intent", intent_id, props)])
    if written.rejected:
        raise BadInput(f"feedback on {intent_id} refused: {written.rejected[0].reason}")
    return Feedback(intent_id, intent_type_of(intent_id), score, outcome)


def intent_type_of(intent_id: str, known: frozenset[str] = frozenset()) -> str:
    """The intent type of an intent id `intent-<type>-<subject id>`: the longest of `known` that
    fits, else the part before the next `-` (type ids use `_`, never `-`)."""
    rest = intent_id.removeprefix("intent-")
    for type_id in sorted(known, key=len, reverse=True):
        if rest.startswith(type_id + "-"):
            return type_id
    return rest.split("-", 1)[0]


def collected_feedback(store: GraphStore, known_types: frozenset[str] = frozenset()) -> Iterator[Feedback]:
    """Every intent in the graph that has feedback, page by page."""
    after: str | None = None
    while True:
        page = store.scan_nodes("Intent", after=after, limit=2000)
        if not page:
            return
        for node in page:
            outcome, score = node.props.get("feedback"), node.props.get("feedback_score")
            if outcome in OUTCOMES and isinstance(score, (int, float)):
                yield Feedback(node.id, intent_type_of(node.id, known_types), float(score), str(outcome))
        after = page[-1].id


def _now() -> datetime:
    return datetime.now(UTC)
