"""Business features and concepts evaluated on the graph (definitions: `ontology.concepts`).

`feature_values(store, features, now, subjects)` computes named features for subjects: one
`GraphStore.match_patterns` round trip for all of them (a path per feature, compiled to the
store's Cypher by `graph.patterns`, windowed by time), aggregated here. `members(store, concept, features, now)` is
the set of subjects whose features satisfy the concept's ZEN expression; a subject missing a
value the expression needs (none: e.g. no survey yet for `last_survey_score`) is not a member.
`concept_counts` gives each concept's current member count (`khub concepts list`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graph.store import GraphStore, PatternMatch
from graph.values import ValueRejected, normalise_datetime
from ontology.concepts import ConceptDef, FeatureDef, zen_message
from ontology.errors import BadInput

PAGE = 5000


@dataclass(frozen=True)
class ConceptCount:
    """A concept and how many subjects belong to it now."""

    concept: ConceptDef
    members: int
    subjects: int


def parse_moment(at: str | None) -> datetime | None:
    """A stored date or time as an aware datetime (None when absent or unreadable)."""
    if not at:
        return None
    try:
        return datetime.fromisoformat(normalise_datetime(at).replace("Z", "+00:00"))
    except (ValueRejected, ValueError):
        return None


def _when(match: PatternMatch) -> datetime | None:
    return parse_moment(match.at)


def aggregate(feature: FeatureDef, matches: Sequence[PatternMatch], now: datetime) -> float | None:
    """One subject's value of `feature` from what its path found (`empty_value` when nothing)."""
    if not matches:
        return feature.empty_value
    if feature.aggregate == "count":
        return len(matches) * feature.scale
    if feature.aggregate == "days_since_last":
        times = [t for t in (_when(m) for m in matches) if t is not None]
        return round((now - max(times)).total_seconds() / 86400, 3) * feature.scale if times else feature.empty_value
    numbers = [(m, float(m.props[feature.prop])) for m in matches if isinstance(m.props.get(feature.prop or ""), (int, float))]
    if not numbers:
        return feature.empty_value
    values = [v for _, v in numbers]
    if feature.aggregate == "last":
        dated = [(t, v) for (m, v) in numbers if (t := _when(m)) is not None]
        value = max(dated, key=lambda tv: tv[0])[1] if dated else values[-1]
    else:
        value = {"sum": sum(values), "avg": sum(values) / len(values), "min": min(values), "max": max(values)}[feature.aggregate]
    return value * feature.scale


def _window_start(feature: FeatureDef, now: datetime) -> datetime | None:
    """Where the feature's window starts (None: no window)."""
    return now - timedelta(days=feature.window_days) if feature.window_days else None


def feature_matches(
    store: GraphStore, features: Iterable[FeatureDef], now: datetime, subjects: Sequence[str] | None = None
) -> list[dict[str, list[PatternMatch]]]:
    """For each feature (in order): subject id -> what its path found in the feature's window (one store round trip)."""
    features = list(features)
    parts = [(f.pattern, _window_start(f, now)) for f in features]
    out: list[dict[str, list[PatternMatch]]] = []
    for matches in store.match_patterns(parts, now, subjects):
        found: dict[str, list[PatternMatch]] = {}
        for match in matches:
            found.setdefault(match.subject, []).append(match)
        out.append(found)
    return out


def summarised(feature: FeatureDef, row: Mapping[str, Any] | None, now: datetime) -> float | None:
    """One subject's value of `feature` from its summary row (`GraphStore.pattern_summaries`): what
    `aggregate` computes from the matches, aggregated in the store instead."""
    if not row or not row.get("n"):
        return feature.empty_value
    if feature.aggregate == "count":
        return row["n"] * feature.scale
    if feature.aggregate == "days_since_last":
        last = parse_moment(row.get("at"))
        return round((now - last).total_seconds() / 86400, 3) * feature.scale if last is not None else feature.empty_value
    if not row.get("values"):
        return feature.empty_value
    if feature.aggregate == "avg":
        return float(row["total"]) / row["values"] * feature.scale
    value = {"sum": row["total"], "min": row["lo"], "max": row["hi"], "last": row["latest"]}[feature.aggregate]
    return float(value) * feature.scale if isinstance(value, (int, float)) else feature.empty_value


#: From this many subjects on (or for every subject), features are aggregated in the store: for
#: one subject (an event arriving) the rows are fewer than the aggregation costs (docs/benchmarks.md).
SUMMARISE_FROM = 32


def feature_values(
    store: GraphStore, features: Iterable[FeatureDef], now: datetime, subjects: Sequence[str] | None = None, in_store: bool | None = None
) -> dict[str, dict[str, float | None]]:
    """Subject id -> feature name -> value, for the subjects given (None: every subject some path
    reaches), in one round trip: aggregated in the store (`GraphStore.pattern_summaries`) for many
    subjects, from the matches (`aggregate`) for a few; `in_store` forces one or the other (the
    same values: a test checks it)."""
    features = list(features)
    if in_store is None:
        in_store = subjects is None or len(subjects) >= SUMMARISE_FROM
    out: dict[str, dict[str, float | None]] = {s: {} for s in subjects or ()}
    if not in_store:
        for feature, found in zip(features, feature_matches(store, features, now, subjects), strict=True):
            for subject in set(found) | set(out):
                out.setdefault(subject, {})[feature.name] = aggregate(feature, found.get(subject, []), now)
        return out
    parts = [(f.pattern, _window_start(f, now), f.prop) for f in features]
    for feature, rows in zip(features, store.pattern_summaries(parts, now, subjects), strict=True):
        for subject in set(rows) | set(out):
            out.setdefault(subject, {})[feature.name] = summarised(feature, rows.get(subject), now)
    return out


def subject_ids(store: GraphStore, label: str) -> list[str]:
    """Every id of `label`, page by page."""
    ids: list[str] = []
    after: str | None = None
    while True:
        page = store.scan_nodes(label, after=after, limit=PAGE, props=())
        ids += [n.id for n in page]
        if len(page) < PAGE:
            return ids
        after = page[-1].id


def satisfies(concept: ConceptDef, values: Mapping[str, float | None], compiled: Any = None) -> bool:
    """Whether one subject's feature values satisfy the concept (False when one it needs is none)."""
    import zen

    bound = {name: values.get(name) for name in concept.features}
    if any(v is None for v in bound.values()):
        return False
    try:
        return (compiled or zen.compile_expression(concept.when)).evaluate(bound) is True
    except Exception as exc:  # a value of another type than the expression expects
        raise BadInput(f"concept {concept.id}: {zen_message(exc)}") from None


def members(store: GraphStore, concept: ConceptDef, features: Mapping[str, FeatureDef], now: datetime, subjects: Sequence[str] | None = None) -> list[str]:
    """The subjects (ids, sorted) of the concept now; among `subjects` when given, else among every subject of its type."""
    import zen

    ids = list(subjects) if subjects is not None else subject_ids(store, concept.subject)
    values = feature_values(store, [features[name] for name in concept.features], now, ids)
    compiled = zen.compile_expression(concept.when)
    return sorted(s for s in ids if satisfies(concept, values.get(s, {}), compiled))


def concept_counts(store: GraphStore, concepts: Iterable[ConceptDef], features: Mapping[str, FeatureDef], now: datetime) -> list[ConceptCount]:
    """Each concept with its current member count and how many subjects of its type there are."""
    counts = []
    for concept in concepts:
        ids = subject_ids(store, concept.subject)
        counts.append(ConceptCount(concept, len(members(store, concept, features, now, ids)), len(ids)))
    return counts
