"""Business concepts and scenarios over GraphQL (issue 7): the concept catalogue with member counts, a
concept's members, the scenario catalogue and a scenario's dry run.

Counts are aggregates (any role). Members are people or organisations picked out by what they
did, so they are listed only for a purpose that may use their behavioural data (their consent or
the purpose's legal basis; `graph.consent`): the others are left out, and `withheld` says how many.
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.scalars import JSON

from api.graphql.context import context_of
from graph.consent import withholds
from graph.store import NodeRef
from ontology.errors import BadInput, NotFound


@strawberry.type(description="A business concept: a named set of subjects defined by an expression over features.")
class Concept:
    id: str
    subject: str
    when: str = strawberry.field(description="The definition, in the ZEN expression language.")
    features: list[str]
    description: str
    members: int = strawberry.field(description="How many subjects belong to it now (or at asOf).")
    subjects: int = strawberry.field(description="How many subjects of its type there are.")


@strawberry.type(description="A zero-code scenario: trigger, condition, decision table, actions (ontology/scenarios).")
class Scenario:
    id: str
    version: int
    subject: str
    trigger_events: list[str]
    trigger_intents: list[str] = strawberry.field(description="Intent types whose firing for a subject makes khub evaluate the scenario for it.")
    every_seconds: int | None = strawberry.field(description="A schedule: it runs for every subject of its type this often.")
    trigger_enters: list[str] = strawberry.field(description="Concepts whose new members trigger it.")
    trigger_leaves: list[str] = strawberry.field(description="Concepts whose former members trigger it.")
    when: str = strawberry.field(description="The condition, in the ZEN expression language (a concept's, when it names one).")
    decision_model: JSON | None = strawberry.field(description="The decision table as a JDM graph (GoRules), for an editor.")
    actions: JSON


@strawberry.type(description="A scenario's dry run: who would trigger, with the decision's outputs and the actions rendered; nothing runs.")
class ScenarioDryRun:
    scenario: str
    hits: list[JSON]
    withheld: int = strawberry.field(description="Subjects left out: the purpose may not use their behavioural data.")


@strawberry.type(description="The members of a concept the declared purpose may see, with the feature values that put them there.")
class ConceptMembers:
    concept: str
    members: list[JSON]
    withheld: int = strawberry.field(description="Members left out: the purpose may not use their behavioural data.")


def _moment(as_of: str | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"asOf takes an ISO date or time, got {as_of!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@strawberry.type
class ConceptQueries:
    @strawberry.field(description="Business concepts with their definitions and current member counts (ontology/concepts).")
    async def concepts(self, info: strawberry.Info, as_of: str | None = None) -> list[Concept]:
        from ontology.concepts import default_features, load_concepts
        from reasoning.concepts import concept_counts

        ctx = context_of(info)
        features = default_features()
        counts = await ctx.run(concept_counts, ctx.rc.store, load_concepts(features=features), features, _moment(as_of))
        return [
            Concept(
                id=c.concept.id,
                subject=c.concept.subject,
                when=c.concept.when,
                features=list(c.concept.features),
                description=c.concept.description_en,
                members=c.members,
                subjects=c.subjects,
            )
            for c in counts
        ]

    @strawberry.field(description="The members of one concept, with their feature values; only those the declared purpose may use.")
    async def concept_members(self, info: strawberry.Info, id: str, as_of: str | None = None) -> ConceptMembers:
        from ontology.concepts import default_features, load_concepts
        from reasoning.concepts import feature_values, members

        ctx = context_of(info)
        features = default_features()
        concept = next((c for c in load_concepts(features=features) if c.id == id), None)
        if concept is None:
            raise NotFound(f"no concept {id!r}")
        now = _moment(as_of)
        ids = await ctx.run(members, ctx.rc.store, concept, features, now)
        refs = [NodeRef(concept.subject, i) for i in ids]
        decided = await ctx.run(ctx.reads.decisions, refs)
        shown = [r for r in refs if r not in decided or not withholds(r, decided[r], "behavioural")]
        values = await ctx.run(feature_values, ctx.rc.store, [features[n] for n in concept.features], now, [r.id for r in shown])
        return ConceptMembers(
            concept=concept.id,
            members=[{"subject": str(r), **values.get(r.id, {})} for r in shown],
            withheld=len(refs) - len(shown),
        )

    @strawberry.field(
        description="The zero-code scenarios that run (each one's live version, or its shipped file in ontology/scenarios when it has no "
        "versions yet) with their conditions, decision tables (JDM) and actions."
    )
    async def scenarios(self, info: strawberry.Info) -> list[Scenario]:
        from dataclasses import asdict

        from ontology.scenarios import decision_model
        from reasoning.scenario_versions import active_scenarios

        ctx = context_of(info)

        return [
            Scenario(
                id=s.id,
                version=s.version,
                subject=s.subject,
                trigger_events=list(s.trigger_events),
                trigger_intents=list(s.trigger_intents),
                every_seconds=s.every_seconds,
                trigger_enters=list(s.trigger_enters),
                trigger_leaves=list(s.trigger_leaves),
                when=s.when,
                decision_model=decision_model(s.decision, s.id) if s.decision else None,
                actions=[asdict(a) for a in s.actions],
            )
            for s in await ctx.run(active_scenarios, ctx.rc.store)
        ]

    @strawberry.field(
        description="A dry run of one scenario (the version that runs, or `version`) on the graph at asOf (default now): who would trigger, "
        "the decision's outputs, the actions "
        "rendered; nothing is written or sent. Only subjects whose behavioural data the declared purpose may use are shown."
    )
    async def scenario_dry_run(self, info: strawberry.Info, id: str, as_of: str | None = None, version: int | None = None) -> ScenarioDryRun:
        from ontology.concepts import default_features
        from reasoning.scenario_versions import find_scenario
        from reasoning.scenarios import dry_run

        ctx = context_of(info)
        scenario = await ctx.run(find_scenario, ctx.rc.store, id, version)
        hits = await ctx.run(dry_run, ctx.rc.store, scenario, default_features(), _moment(as_of))
        decided = await ctx.run(ctx.reads.decisions, [h.subject for h in hits])
        shown = [h for h in hits if h.subject not in decided or not withholds(h.subject, decided[h.subject], "behavioural")]
        return ScenarioDryRun(scenario=scenario.id, hits=[h.summary() for h in shown], withheld=len(hits) - len(shown))
