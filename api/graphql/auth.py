"""Field-level authorisation: which roles see which privacy categories, and role-gated fields.

Every property of the ontology has a privacy category (`ontology.model.PrivacyCategory`). A role
sees the categories of `VISIBLE`; a property outside them resolves to null, is left out of
`properties` JSON and of captions, and cannot be filtered or sorted on (that would leak it).
Admin sees everything. Consent (issue 6) narrows this further per purpose, in `graph.reads`.

Mutations that change the graph are for stewards, the Cypher passthrough for analysts; a
refusal is an error with `extensions.code` FORBIDDEN.
"""

from __future__ import annotations

from typing import Any, ClassVar

import strawberry
from strawberry.permission import BasePermission

from api.context import Principal, Role
from ontology.errors import KhubError
from ontology.model import PrivacyCategory

_ALL = frozenset(PrivacyCategory)
#: The privacy categories each role may read.
VISIBLE: dict[Role, frozenset[PrivacyCategory]] = {
    # sales tools reach people (identity, contact) and see what they did and the money involved,
    # not where they live or are (location) nor special categories
    "sales_tool": frozenset({PrivacyCategory.NONE, PrivacyCategory.IDENTITY, PrivacyCategory.CONTACT, PrivacyCategory.BEHAVIOURAL, PrivacyCategory.FINANCIAL}),
    # analysts explore relationships and behaviour; they also run raw Cypher, which no field rule
    # can filter, so they see what that would show them anyway, except special categories
    "analyst": _ALL - {PrivacyCategory.SENSITIVE},
    "steward": _ALL - {PrivacyCategory.SENSITIVE},
    "admin": _ALL,
}

FORBIDDEN = "FORBIDDEN"


def can_see(principal: Principal, category: PrivacyCategory | str) -> bool:
    """True when `principal`'s role may read properties of `category`."""
    if principal.role == "admin":
        return True
    return PrivacyCategory(category) in VISIBLE.get(principal.role, frozenset({PrivacyCategory.NONE}))


class _RolePermission(BasePermission):
    roles: ClassVar[tuple[Role, ...]] = ()
    error_extensions: ClassVar[dict[str, Any]] = {"code": FORBIDDEN}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        """True when the caller's role is one of `roles` (admin always is)."""
        from api.graphql.context import context_of

        return context_of(info).principal.has_role(*self.roles)


class IsSteward(_RolePermission):
    """Stewards (and admins) curate the graph: upsert and link nodes."""

    roles = ("steward",)
    message = "changing the graph needs the role steward (or admin)"


class IsEventWriter(_RolePermission):
    """Sales tools and stewards (and admins) record events, as on `POST /v1/events`."""

    roles = ("sales_tool", "steward")
    message = "recording events needs the role sales_tool or steward (or admin)"


class IsAnalyst(_RolePermission):
    """Analysts (and admins) run read-only Cypher."""

    roles = ("analyst",)
    message = "the Cypher passthrough needs the role analyst (or admin)"


class Forbidden(KhubError):
    """The caller's role may not read or do this."""

    code = FORBIDDEN


def check_visible(principal: Principal, category: PrivacyCategory | str, what: str) -> None:
    """Refuse (Forbidden) to filter or sort on a property the caller may not see."""
    if not can_see(principal, category):
        raise Forbidden(f"{what} is {PrivacyCategory(category).value} data, which the role {principal.role} may not read")
