"""Error types shared by every room of khub; each names the item it is about."""

from __future__ import annotations

from dataclasses import dataclass


class KhubError(Exception):
    """Base class of khub's own errors; `code` is the stable code the API reports."""

    code = "KHUB_ERROR"


@dataclass(frozen=True)
class SchemaIssue:
    """One problem in an ontology file: where it is and what is wrong."""

    file: str
    line: int
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.element}: {self.message}"


class SchemaInvalid(KhubError):
    """The ontology files have errors; `issues` lists every one of them."""

    code = "SCHEMA_INVALID"

    def __init__(self, issues: list[SchemaIssue]):
        self.issues = issues
        lines = "\n".join(str(i) for i in issues)
        super().__init__(f"{len(issues)} ontology error(s):\n{lines}")


class OntologyViolation(KhubError):
    """A write names a type, property or value the ontology does not allow."""

    code = "ONTOLOGY_VIOLATION"


class UnknownType(OntologyViolation):
    """A node or edge type that the ontology does not define."""

    code = "UNKNOWN_TYPE"


class ConstraintViolation(OntologyViolation):
    """A write would break a unique constraint (e.g. two contacts with one email)."""

    code = "CONSTRAINT_VIOLATION"


class MigrationRefused(KhubError):
    """An ontology migration cannot run as asked; nothing was changed."""

    code = "MIGRATION_REFUSED"


class StoreUnavailable(KhubError):
    """The graph store cannot be reached or started."""

    code = "STORE_UNAVAILABLE"


class QueryRefused(KhubError):
    """A query was refused before it ran (a write in a read-only passthrough, a bad shape)."""

    code = "QUERY_REFUSED"


class QueryTimeout(KhubError):
    """A query ran past its time limit and was stopped by the server."""

    code = "QUERY_TIMEOUT"


class NotFound(KhubError):
    """A node that was asked for by key does not exist."""

    code = "NOT_FOUND"


class BadInput(KhubError):
    """Input that cannot be read (corrupt file, malformed record); names the input."""

    code = "BAD_INPUT"


class ConsentDenied(KhubError):
    """The caller's purpose is not covered by the data subject's consent."""

    code = "CONSENT_DENIED"


class Conflict(KhubError):
    """The change does not fit the current state (approving a version that is not pending, ...)."""

    code = "CONFLICT"


class Locked(KhubError):
    """A change touches a field a supervisor locked; names the field, who locked it and why."""

    code = "LOCKED"


class NotPermitted(KhubError):
    """The caller may not do this here (an author approving their own version)."""

    code = "FORBIDDEN"
