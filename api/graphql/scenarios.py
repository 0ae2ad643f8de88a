"""Scenario governance over GraphQL (issue 7.3-7.6): versions, approval, rollback, locks, diffs, the
sandbox, side-by-side comparison, A/B experiments, and running a scenario now.

Who may do what: authors (role steward) save, deploy, roll back and run; approvers and
supervisors (role admin) approve, reject, lock, unlock and start or stop experiments (an
experiment puts a version live for part of the subjects, so it is an approver's call). The
four-eyes rule (an approver other than the author) and the version states are
`reasoning.scenario_versions`'; a refusal comes back with a stable code: FORBIDDEN, CONFLICT,
LOCKED, SCHEMA_INVALID (each problem with line and element), NOT_FOUND.

Sandbox and comparison list subjects picked out by what they did, so, as for dry runs, only
subjects whose behavioural data the declared purpose may use are shown (`withheld` counts the
others). A/B reports are counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from api.graphql.auth import IsSteward, _RolePermission
from api.graphql.concepts import _moment
from api.graphql.context import context_of
from graph.consent import withholds
from graph.store import NodeRef
from reasoning.scenario_versions import ScenarioVersion


class IsApprover(_RolePermission):
    """Approvers and supervisors: admins."""

    roles = ()
    message = "approving, rejecting, locking and A/B experiments need the role admin (approver, supervisor)"


@strawberry.type(description="One saved version of a scenario: its text, author, comment, status (draft, pending, live, retired, rejected), review.")
class ScenarioVersionInfo:
    scenario: str
    version: int
    status: str
    author: str
    comment: str
    created_at: str
    requires_approval: bool
    reviewed_by: str | None
    reviewed_at: str | None
    review_note: str | None
    definition: str = strawberry.field(description="The scenario's YAML as saved.")


@strawberry.type(description="What changed between two versions: leaf by leaf (path, before, after) and as a unified diff.")
class ScenarioDiff:
    scenario: str
    changes: JSON
    text: str


def _info(version: ScenarioVersion) -> ScenarioVersionInfo:
    s = version.summary()
    return ScenarioVersionInfo(
        scenario=s["scenario"],
        version=s["version"],
        status=s["status"],
        author=s["author"],
        comment=s["comment"],
        created_at=s["createdAt"],
        requires_approval=s["requiresApproval"],
        reviewed_by=s["reviewedBy"],
        reviewed_at=s["reviewedAt"],
        review_note=s["reviewNote"],
        definition=version.definition,
    )


def _who(info: strawberry.Info) -> str:
    principal = context_of(info).principal
    return principal.name or f"key:{principal.key_id}"


async def _shown(info: strawberry.Info, subjects: list[str]) -> set[str]:
    """Of `subjects` (Type:id), those whose behavioural data the declared purpose may use."""
    ctx = context_of(info)
    refs = [NodeRef(*s.split(":", 1)) for s in subjects]
    decided = await ctx.run(ctx.reads.decisions, refs)
    return {str(r) for r in refs if r not in decided or not withholds(r, decided[r], "behavioural")}


@strawberry.type
class ScenarioGovernanceQueries:
    @strawberry.field(description="Every version of a scenario, oldest first.")
    async def scenario_versions(self, info: strawberry.Info, id: str) -> list[ScenarioVersionInfo]:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return [_info(v) for v in await ctx.run(ScenarioRegistry(ctx.rc.store).versions, id)]

    @strawberry.field(description="The fields and sections of a scenario a supervisor locked.")
    async def scenario_locks(self, info: strawberry.Info, id: str) -> JSON:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return [lock.summary() for lock in await ctx.run(ScenarioRegistry(ctx.rc.store).locks, id)]

    @strawberry.field(description="What changed between two versions of a scenario.")
    async def scenario_diff(self, info: strawberry.Info, id: str, from_version: int, to_version: int) -> ScenarioDiff:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        changes, text = await ctx.run(ScenarioRegistry(ctx.rc.store).diff, id, from_version, to_version)
        return ScenarioDiff(scenario=id, changes=[c.summary() for c in changes], text=text)

    @strawberry.field(
        description="Replay a version (default: the one that runs) over [since, until]: who would have triggered, when, on which event, with "
        "which decision and actions; nothing is written or sent. Only subjects whose behaviour the purpose may use are listed."
    )
    async def scenario_sandbox(self, info: strawberry.Info, id: str, since: str, until: str, version: int | None = None) -> JSON:
        run = await _sandbox(info, id, version, since, until)
        out = run.summary()
        shown = await _shown(info, [h["subject"] for h in out["hits"]])
        out["withheld"] = sum(1 for h in out["hits"] if h["subject"] not in shown)
        out["hits"] = [h for h in out["hits"] if h["subject"] in shown]
        out["triggered"] = len(out["hits"]) + out["withheld"]
        return out

    @strawberry.field(description="Two versions replayed over the same window, side by side, subject by subject (consent applied as in the sandbox).")
    async def scenario_compare(self, info: strawberry.Info, id: str, version_a: int, version_b: int, since: str, until: str) -> JSON:
        from reasoning.scenario_sandbox import compare

        first = await _sandbox(info, id, version_a, since, until)
        second = await _sandbox(info, id, version_b, since, until)
        out = compare(first, second)
        shown = await _shown(info, [r["subject"] for r in out["subjects"]])
        out["withheld"] = sum(1 for r in out["subjects"] if r["subject"] not in shown)
        out["subjects"] = [r for r in out["subjects"] if r["subject"] in shown]
        return out

    @strawberry.field(description="A scenario's A/B experiments, oldest first.")
    async def scenario_experiments(self, info: strawberry.Info, id: str) -> JSON:
        from reasoning.scenario_ab import Experiments

        ctx = context_of(info)
        return [e.summary() for e in await ctx.run(Experiments(ctx.rc.store).of, id)]

    @strawberry.field(description="An A/B experiment's results per arm: subjects, triggered, trigger rate, outcomes, outcome rate.")
    async def experiment_report(self, info: strawberry.Info, id: str) -> JSON:
        from reasoning.scenario_ab import Experiments

        ctx = context_of(info)
        return await ctx.run(Experiments(ctx.rc.store).report, id)


async def _sandbox(info: strawberry.Info, scenario_id: str, version: int | None, since: str, until: str) -> Any:
    from ontology.concepts import default_features
    from reasoning.scenario_sandbox import sandbox
    from reasoning.scenario_versions import find_scenario

    ctx = context_of(info)
    scenario = await ctx.run(find_scenario, ctx.rc.store, scenario_id, version)
    start, end = _moment(since), _moment(until)
    return await ctx.run(sandbox, ctx.rc.store, scenario, default_features(), start, end)


@strawberry.type
class ScenarioGovernanceMutations:
    @strawberry.mutation(
        description="Save a scenario's YAML as its next version (a draft), with a comment; checked on save (SCHEMA_INVALID with line and "
        "element), refused when it changes a locked field (LOCKED) or nothing (CONFLICT).",
        permission_classes=[IsSteward],
    )
    async def save_scenario(self, info: strawberry.Info, definition: str, comment: str) -> ScenarioVersionInfo:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return _info(await ctx.run(ScenarioRegistry(ctx.rc.store).save, definition, _who(info), comment))

    @strawberry.mutation(description="Deploy a version: live now, or pending when approval is required.", permission_classes=[IsSteward])
    async def deploy_scenario(self, info: strawberry.Info, id: str, version: int) -> ScenarioVersionInfo:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return _info(await ctx.run(ScenarioRegistry(ctx.rc.store).deploy, id, version, _who(info)))

    @strawberry.mutation(description="Roll back to any version: its text saved as a new version and deployed.", permission_classes=[IsSteward])
    async def rollback_scenario(self, info: strawberry.Info, id: str, version: int, comment: str = "") -> ScenarioVersionInfo:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return _info(await ctx.run(ScenarioRegistry(ctx.rc.store).rollback, id, version, _who(info), comment))

    @strawberry.mutation(description="Approve a pending version (not your own): it goes live.", permission_classes=[IsApprover])
    async def approve_scenario(self, info: strawberry.Info, id: str, version: int, note: str = "") -> ScenarioVersionInfo:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return _info(await ctx.run(ScenarioRegistry(ctx.rc.store).approve, id, version, _who(info), note))

    @strawberry.mutation(description="Reject a pending version, saying why.", permission_classes=[IsApprover])
    async def reject_scenario(self, info: strawberry.Info, id: str, version: int, note: str) -> ScenarioVersionInfo:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return _info(await ctx.run(ScenarioRegistry(ctx.rc.store).reject, id, version, _who(info), note))

    @strawberry.mutation(description="Lock a field or section of a scenario (when, decision.rules, actions.0.role, ...).", permission_classes=[IsApprover])
    async def lock_scenario_field(self, info: strawberry.Info, id: str, path: str, reason: str) -> JSON:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return (await ctx.run(ScenarioRegistry(ctx.rc.store).lock, id, path, _who(info), reason)).summary()

    @strawberry.mutation(description="Lift a lock; false when there was none.", permission_classes=[IsApprover])
    async def unlock_scenario_field(self, info: strawberry.Info, id: str, path: str) -> bool:
        from reasoning.scenario_versions import ScenarioRegistry

        ctx = context_of(info)
        return await ctx.run(ScenarioRegistry(ctx.rc.store).unlock, id, path)

    @strawberry.mutation(description="Start an A/B test of two versions; arm B gets shareB of the subjects, by hash.", permission_classes=[IsApprover])
    async def start_experiment(self, info: strawberry.Info, id: str, version_a: int, version_b: int, share_b: float = 0.5, outcome_event: str = "") -> JSON:
        from reasoning.scenario_ab import Experiments

        ctx = context_of(info)
        return (await ctx.run(Experiments(ctx.rc.store).start, id, version_a, version_b, _who(info), share_b, outcome_event)).summary()

    @strawberry.mutation(description="Stop an A/B experiment (its tasks and report stay).", permission_classes=[IsApprover])
    async def stop_experiment(self, info: strawberry.Info, id: str) -> JSON:
        from reasoning.scenario_ab import Experiments

        ctx = context_of(info)
        return (await ctx.run(Experiments(ctx.rc.store).stop, id)).summary()

    @strawberry.mutation(
        description="Run a scenario now (at asOf): the live version, or each A/B arm's version for its subjects; task actions are created "
        "(a rerun never reopens a done task). Answers the subjects triggered (consent applied as in dry runs) and how many were withheld.",
        permission_classes=[IsSteward],
    )
    async def run_scenario(self, info: strawberry.Info, id: str, as_of: str | None = None) -> JSON:
        from ontology.concepts import default_features
        from reasoning.runtime import build_action_runner
        from reasoning.scenario_dispatch import execute

        ctx = context_of(info)
        at: datetime = _moment(as_of)
        runner = build_action_runner(ctx.rc.store, ctx.rc.settings)
        hits = await ctx.run(execute, ctx.rc.store, id, default_features(), at, runner=runner)
        shown = await _shown(info, [str(h.subject) for h in hits])
        return {"scenario": id, "hits": [h.summary() for h in hits if str(h.subject) in shown], "withheld": sum(1 for h in hits if str(h.subject) not in shown)}

    @strawberry.mutation(
        description="Run what time triggers, once (at asOf): the scheduled scenarios that are due, and the scenarios watching subjects "
        "enter or leave a concept (`khub worker` does it every minute). Answers, per scenario, the subjects triggered (consent applied).",
        permission_classes=[IsSteward],
    )
    async def tick_scenarios(self, info: strawberry.Info, as_of: str | None = None) -> JSON:
        from ontology.concepts import default_features
        from reasoning.runtime import build_action_runner
        from reasoning.scenario_triggers import tick

        ctx = context_of(info)
        at: datetime = _moment(as_of)
        runner = build_action_runner(ctx.rc.store, ctx.rc.settings)
        fired = await ctx.run(tick, ctx.rc.store, default_features(), at, runner)
        shown = await _shown(info, [str(h.subject) for hits in fired.values() for h in hits])
        return {
            "scenarios": [
                {
                    "scenario": sid,
                    "hits": [h.summary() for h in hits if str(h.subject) in shown],
                    "withheld": sum(1 for h in hits if str(h.subject) not in shown),
                }
                for sid, hits in sorted(fired.items())
            ]
        }
