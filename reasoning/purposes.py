"""Which purposes an intent may serve: each purpose is scored on the evidence it may use.

An intent definition names the purposes its inference may serve (marketing, service, ...). What a
person did (an Event they performed) is behavioural data about them, usable for a purpose only on
a basis the purpose has (`ontology/purposes.yaml`) or with their consent (`graph.consent`). So for
each purpose of a fired intent, the evidence performed by people without a basis for that purpose
(and, when the subject is a person without one, all of it; an organisation's only when it refused
or revoked a consent) is set aside and the intent is scored
again on the rest: the purpose is served only when that score still reaches the threshold.
Otherwise a note says which evidence was withheld, why, and what the score would be.

`purpose_verdicts(store, results, now)` does this for a batch of results of one definition with
one PERFORMED_BY read and one consent read per purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graph.consent import subject_decisions, withholds
from graph.store import GraphStore, NodeRef
from ontology.intents import ActionSpec
from ontology.purposes import Purpose, PurposeCatalogue, default_purposes
from reasoning import scoring

if TYPE_CHECKING:
    from reasoning.intents import IntentScore

#: The category of what a person did, and of an inference about a person.
BEHAVIOURAL = "behavioural"
PERFORMED_BY = "PERFORMED_BY"


@dataclass
class PurposeVerdict:
    """The purposes one intent serves, and why it serves none of the others."""

    served: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def permitted_actions(result: IntentScore, served: Sequence[str] | None) -> tuple[list[ActionSpec], list[ActionSpec]]:
    """The actions of a fired intent that may run (their purpose is one the intent serves) and
    those that may not; `served` None: every purpose of the definition."""
    allowed = set(result.definition.purposes if served is None else served)
    kept, skipped = [], []
    for action in result.definition.actions:
        (kept if action.purpose is None or action.purpose in allowed else skipped).append(action)
    return kept, skipped


def _rescore(result: IntentScore, withheld: set[NodeRef]) -> float:
    terms = []
    for signal_score in result.signals:
        if signal_score.signal.absent:
            terms.append(signal_score.signal.weight * signal_score.strength)
            continue
        kept = [e.weight for e in signal_score.evidence if e.ref not in withheld]
        signal = signal_score.signal
        terms.append(signal.weight * scoring.strength(kept, signal.at_least, signal.saturation, signal.absent))
    return scoring.noisy_or(terms)


def purpose_verdicts(store: GraphStore, results: Sequence[IntentScore], now: str, catalogue: PurposeCatalogue | None = None) -> dict[str, PurposeVerdict]:
    """For each result (by intent id): the purposes of its definition it may serve, and notes on the others."""
    catalogue = catalogue or default_purposes()
    if not results:
        return {}
    events = sorted({e.ref for r in results for s in r.signals for e in s.evidence if e.ref.label == "Event"}, key=lambda ref: ref.id)
    performer: dict[NodeRef, NodeRef] = {}
    if events and PERFORMED_BY in store.ontology.edge_types:
        for edge in store.edges_from(events, PERFORMED_BY):
            performer.setdefault(edge.src, edge.dst)
    people = sorted({*performer.values(), *(r.subject for r in results if r.subject.label == "Contact")}, key=lambda ref: (ref.label, ref.id))
    purposes = sorted({p for r in results for p in r.definition.purposes})
    decisions = {}
    for name in purposes:
        spec = catalogue.purposes.get(name) or Purpose(name, "", "")
        decisions[name] = subject_decisions(store, spec, people, now, lambda _label: {BEHAVIOURAL})
    out: dict[str, PurposeVerdict] = {}
    for result in results:
        verdict = PurposeVerdict()
        alternatives: dict[int, str | None] = {}
        evidence = {e.ref for s in result.signals for e in s.evidence}
        for name in result.definition.purposes:
            decided = decisions[name]
            denied = {who: d.reasons.get(BEHAVIOURAL, "no consent") for who, d in decided.items() if withholds(who, d, BEHAVIOURAL)}
            if result.subject in denied:
                withheld = set(evidence)
                why = {result.subject: denied[result.subject]}
            else:
                withheld = {ref for ref in evidence if performer.get(ref) in denied}
                why = {performer[ref]: denied[performer[ref]] for ref in withheld}
            if not withheld:
                verdict.served.append(name)
                continue
            score = _rescore(result, withheld)
            if score >= result.definition.threshold:
                verdict.served.append(name)
                continue
            people_why = "; ".join(f"{who.label}:{who.id}: {reason}" for who, reason in sorted(why.items(), key=lambda kv: kv[0].id))
            note = (
                f"{name}: {len(withheld)} piece(s) of evidence withheld ({people_why}); "
                f"on the rest the score is {score:.2f}, under the threshold {result.definition.threshold:.2f}"
            )
            switched_off = result.subject in decided and decided[result.subject].off is not None
            alternatives[len(verdict.notes)] = catalogue.purposes[name].alternative if switched_off and name in catalogue.purposes else None
            verdict.notes.append(note)
        for index, alternative in alternatives.items():  # a purpose off for the subject: suggest the alternative the intent serves
            if alternative and alternative in verdict.served:
                verdict.notes[index] += f"; it serves {alternative}, the consented alternative"
        out[result.intent_id] = verdict
    return out
