"""The audit of GraphQL reads: after each operation, one entry of `graph.audit.AuditLog` names the
people whose personal data it returned, for which purpose and by which key (`Reads.used`)."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from api.graphql.context import READS_KEY, GraphQLContext
from graph.audit import AuditLog
from graph.reads import Reads


class AuditReads(SchemaExtension):
    """Appends one audit entry per operation that returned someone's personal data."""

    def on_operation(self) -> Iterator[None]:
        """Record the operation's uses of personal data once it has run."""
        yield
        context = self.execution_context.context
        if not isinstance(context, GraphQLContext) or context.rc is None:
            return
        reads = context.rc.extras.get(READS_KEY)
        if not isinstance(reads, Reads) or not reads.used:
            return
        rc = context.rc
        AuditLog.for_data_dir(rc.settings.data_dir).record(
            actor=f"key:{rc.principal.key_id}",
            purpose=rc.purpose,
            action="read",
            subjects=[str(ref) for ref in reads.used],
            details={"request": rc.request_id, "operation": self.execution_context.operation_name, "role": rc.principal.role},
        )
        reads.used.clear()  # a WebSocket connection keeps its context: each operation records its own
