"""Stewards edit the ontology over GraphQL: a draft of edits, checked one by one, applied as a version.

Mutations (role steward): `addNodeType`, `addEdgeType`, `addProperty`, `addIntentDefinition`
(the YAML of one intent file), `discardOntologyDraft`, `applyOntology(dryRun:)`. Queries:
`ontologyDraft` (the pending edits, the draft's version and the migration steps it implies) and
`ontologyVersions` (what was applied, by whom, when).

The files are `ontology.workspace.OntologyWorkspace` of the server's data directory; applying is
`graph.migrations.apply_draft` (safe migrations only, the version recorded in the graph, the store
switched to the new ontology). The next request then runs on a schema rebuilt for it
(`api.graphql.router`): an added node type has its typed class and Query fields.

An edit the ontology refuses comes back with `ok: false` and `errors` naming the element (and the
line of the draft file); nothing of it is kept.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from api.graphql.auth import IsSteward
from api.graphql.context import context_of
from ontology.errors import BadInput, SchemaInvalid
from ontology.model import PrivacyCategory
from ontology.workspace import CARDINALITIES, Draft, Edit, OntologyWorkspace, PropertySpec, VersionInfo

#: One apply at a time per process (two stewards applying at once would race on the files).
_apply_lock = threading.Lock()


@strawberry.input(description="A property to add: its name (lower_snake_case), range, privacy category and index flags.")
class PropertyInput:
    name: str
    range: str = strawberry.field(default="string", description="string, integer, float, boolean, date, datetime, uri, or an enum of the ontology.")
    privacy: str = strawberry.field(default="none", description="none, identity, contact, location, behavioural, financial or sensitive.")
    description: str = ""
    multivalued: bool = False
    indexed: bool = False
    unique: bool = False
    fulltext: bool = strawberry.field(default=False, description="Full-text index it (strings only; EN and ZH tokens).")

    def spec(self) -> PropertySpec:
        """The workspace's form (`BadInput` for an unknown privacy category)."""
        allowed = [p.value for p in PrivacyCategory]
        if self.privacy not in allowed:
            raise BadInput(f"property {self.name!r}: privacy {self.privacy!r} is not one of {', '.join(allowed)}")
        return PropertySpec(self.name, self.range, self.privacy, self.description, self.multivalued, self.indexed, self.unique, self.fulltext)


@strawberry.type(description="One edit of the ontology: what, to which element, by whom, when, why.")
class OntologyEdit:
    kind: str = strawberry.field(description="add_node_type, add_edge_type, add_property or add_intent_definition.")
    element: str
    by: str
    at: str
    comment: str

    @staticmethod
    def of(edit: Edit) -> OntologyEdit:
        """The GraphQL view of a workspace edit."""
        return OntologyEdit(kind=edit.kind, element=edit.element, by=edit.by, at=edit.at, comment=edit.comment)


@strawberry.type(description="A migration step the draft implies, against the ontology in force.")
class MigrationStepInfo:
    description: str
    safe: bool = strawberry.field(description="Unsafe steps (removals, range changes) are never applied.")


@strawberry.type(description="The ontology edits not applied yet.")
class OntologyDraftInfo:
    base_version: str = strawberry.field(description="The version the draft started from.")
    version: str = strawberry.field(description="The version applying it records.")
    edits: list[OntologyEdit]
    intent_definitions: list[str] = strawberry.field(description="Ids of the intent definitions it adds or replaces.")
    steps: list[MigrationStepInfo]


@strawberry.type(description="A problem that refused an ontology edit.")
class OntologyProblem:
    element: str | None
    line: int | None = strawberry.field(description="Its line in the draft file (or the intent definition), when known.")
    message: str


@strawberry.type(description="What an ontology edit did: the draft after it, or why it was refused (then nothing of it was kept).")
class OntologyEditResult:
    ok: bool
    draft: OntologyDraftInfo | None
    errors: list[OntologyProblem]


@strawberry.type(description="What applying the draft did (or, with dryRun, would do).")
class ApplyOntologyResult:
    version: str
    dry_run: bool
    done: list[str]
    skipped: list[str] = strawberry.field(description="Unsafe steps left out.")
    warnings: list[str]
    schema_created: list[str] = strawberry.field(description="Constraints and indexes created.")
    items_changed: int
    recorded: bool = strawberry.field(description="Whether the version was recorded in the graph.")


@strawberry.type(description="An ontology version applied through the API.")
class OntologyVersion:
    version: str
    applied_at: str
    applied_by: str
    edits: list[OntologyEdit]
    report: JSON

    @staticmethod
    def of(info: VersionInfo) -> OntologyVersion:
        """The GraphQL view of a kept version."""
        return OntologyVersion(
            version=info.version, applied_at=info.applied_at, applied_by=info.applied_by, edits=[OntologyEdit.of(e) for e in info.edits], report=info.report
        )


def _workspace(info: strawberry.Info) -> OntologyWorkspace:
    return OntologyWorkspace.for_settings(context_of(info).rc.settings)


def _draft_info(workspace: OntologyWorkspace, draft: Draft) -> OntologyDraftInfo:
    from ontology.diff import diff_ontologies

    steps: list[MigrationStepInfo] = []
    if draft.ontology is not None:
        diff = diff_ontologies(workspace.active_ontology(), draft.ontology)
        steps = [MigrationStepInfo(description=s.describe(), safe=s.safe) for s in diff.steps]
    return OntologyDraftInfo(
        base_version=draft.base_version, version=draft.version, edits=[OntologyEdit.of(e) for e in draft.edits], intent_definitions=draft.intents, steps=steps
    )


async def _edit(info: strawberry.Info, change: Any, *args: Any, **kwargs: Any) -> OntologyEditResult:
    """Run one workspace edit off the event loop; refusals become `errors`."""
    ctx = context_of(info)
    workspace = _workspace(info)
    try:
        draft = await ctx.run(change, workspace, *args, **kwargs)
    except SchemaInvalid as exc:
        problems = [OntologyProblem(element=i.element, line=i.line or None, message=f"{i.file}: {i.message}" if i.file else i.message) for i in exc.issues]
        return OntologyEditResult(ok=False, draft=None, errors=problems)
    except BadInput as exc:
        return OntologyEditResult(ok=False, draft=None, errors=[OntologyProblem(element=None, line=None, message=str(exc))])
    return OntologyEditResult(ok=True, draft=await ctx.run(_draft_info, workspace, draft), errors=[])


@strawberry.type
class OntologyQueries:
    @strawberry.field(description="The ontology edits not applied yet (stewards), with the migration steps they imply; null when there are none.")
    async def ontology_draft(self, info: strawberry.Info) -> OntologyDraftInfo | None:
        if not context_of(info).principal.has_role("steward"):
            from api.graphql.auth import Forbidden

            raise Forbidden("the ontology draft is for stewards (or admins)")
        workspace = _workspace(info)

        def read() -> OntologyDraftInfo | None:
            draft = workspace.draft()
            return _draft_info(workspace, draft) if draft else None

        return await context_of(info).run(read)

    @strawberry.field(description="The ontology versions applied through the API, oldest first.")
    async def ontology_versions(self, info: strawberry.Info) -> list[OntologyVersion]:
        versions = await context_of(info).run(_workspace(info).versions)
        return [OntologyVersion.of(v) for v in versions]


@strawberry.type
class OntologyMutations:
    @strawberry.mutation(description="Add a node type (stewards) to the ontology draft, with its properties.", permission_classes=[IsSteward])
    async def add_node_type(
        self,
        info: strawberry.Info,
        name: Annotated[str, strawberry.argument(description="PascalCase, e.g. WindTurbine.")],
        properties: list[PropertyInput] | None = None,
        description: str = "",
        label_zh: str | None = None,
        comment: str = "",
    ) -> OntologyEditResult:
        by = context_of(info).principal.name
        try:
            specs = [p.spec() for p in properties or []]
        except BadInput as exc:
            return OntologyEditResult(ok=False, draft=None, errors=[OntologyProblem(element=name, line=None, message=str(exc))])
        return await _edit(info, OntologyWorkspace.add_node_type, name, by, description=description, properties=specs, label_zh=label_zh, comment=comment)

    @strawberry.mutation(
        description="Add an edge type (stewards) to the ontology draft: from `subject` node types to `object` node types, "
        f"cardinality one of {', '.join(CARDINALITIES)}.",
        permission_classes=[IsSteward],
    )
    async def add_edge_type(
        self,
        info: strawberry.Info,
        name: Annotated[str, strawberry.argument(description="UPPER_SNAKE_CASE, e.g. MAINTAINED_BY.")],
        subject: list[str],
        object: list[str],
        cardinality: str = "many_to_many",
        properties: list[PropertyInput] | None = None,
        description: str = "",
        comment: str = "",
    ) -> OntologyEditResult:
        by = context_of(info).principal.name
        try:
            specs = [p.spec() for p in properties or []]
        except BadInput as exc:
            return OntologyEditResult(ok=False, draft=None, errors=[OntologyProblem(element=name, line=None, message=str(exc))])
        add = OntologyWorkspace.add_edge_type
        return await _edit(info, add, name, by, subject, object, cardinality=cardinality, description=description, properties=specs, comment=comment)

    @strawberry.mutation(description="Add a property to a node or edge type (stewards) in the ontology draft.", permission_classes=[IsSteward])
    async def add_property(self, info: strawberry.Info, owner: str, property: PropertyInput, comment: str = "") -> OntologyEditResult:
        try:
            spec = property.spec()
        except BadInput as exc:
            return OntologyEditResult(ok=False, draft=None, errors=[OntologyProblem(element=f"{owner}.{property.name}", line=None, message=str(exc))])
        return await _edit(info, OntologyWorkspace.add_property, owner, spec, context_of(info).principal.name, comment=comment)

    @strawberry.mutation(
        description="Add an intent definition (stewards): the YAML of one ontology/intents/*.yaml file (id, subject, signals, threshold, purposes, ...); "
        "an existing id is replaced when `version` is higher. Checked against the draft's ontology.",
        permission_classes=[IsSteward],
    )
    async def add_intent_definition(self, info: strawberry.Info, yaml: str, comment: str = "") -> OntologyEditResult:
        return await _edit(info, OntologyWorkspace.add_intent_definition, yaml, context_of(info).principal.name, comment=comment)

    @strawberry.mutation(description="Drop the ontology draft (stewards); false when there was none.", permission_classes=[IsSteward])
    async def discard_ontology_draft(self, info: strawberry.Info) -> bool:
        return await context_of(info).run(_workspace(info).discard_draft)

    @strawberry.mutation(
        description="Apply the ontology draft (stewards): safe migrations on the graph, the version recorded, the draft made the ontology in force "
        "(the schema follows on the next request). With dryRun: what would happen, nothing changed.",
        permission_classes=[IsSteward],
    )
    async def apply_ontology(self, info: strawberry.Info, dry_run: bool = False) -> ApplyOntologyResult:
        from graph.migrations import apply_draft

        ctx = context_of(info)
        workspace = _workspace(info)

        def run() -> Any:
            with _apply_lock:
                return apply_draft(ctx.rc.store, workspace, ctx.principal.name, dry_run=dry_run)[0]

        report = await ctx.run(run)
        return ApplyOntologyResult(
            version=report.version,
            dry_run=report.dry_run,
            done=list(report.done),
            skipped=[s.describe() for s in report.skipped],
            warnings=list(report.warnings),
            schema_created=list(report.schema_created),
            items_changed=report.items_changed,
            recorded=report.recorded,
        )
