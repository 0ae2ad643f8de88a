"""Who is asking, for what purpose, against which store: the context every API request carries.

`api.security` authenticates a request (API key → `Principal`) and checks its declared purpose
(header `X-Khub-Purpose`); the result is a `RequestContext` that REST handlers and GraphQL
resolvers receive. The purpose travels with every read into the store layer, where consent
enforcement plugs in (issue 6): code that reads customer data takes the context, not a bare
store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from graph.store import GraphStore
from ontology.settings import Settings

Role = Literal["analyst", "sales_tool", "steward", "admin", "subject"]
#: The roles of staff and system API keys, least to most privileged.
ROLES: tuple[Role, ...] = ("sales_tool", "analyst", "steward", "admin")
#: The role of a data subject's own token: bound to one Contact or Account, it sees only their data (GraphQL myData).
SUBJECT_ROLE: Role = "subject"
#: The header a request declares its purpose in.
PURPOSE_HEADER = "X-Khub-Purpose"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the API key's id, its human-readable name and its role."""

    key_id: str
    name: str
    role: Role
    #: For a subject token: the Contact or Account (Type:id) it belongs to.
    subject: str | None = None

    def has_role(self, *roles: Role) -> bool:
        """True when the caller's role is one of `roles` (admin always is)."""
        return self.role == "admin" or self.role in roles


@dataclass
class RequestContext:
    """One request's caller, declared purpose, store and settings."""

    principal: Principal
    purpose: str
    store: GraphStore
    settings: Settings
    request_id: str
    #: Free for per-request caches (GraphQL DataLoaders live here).
    extras: dict[str, object] = field(default_factory=dict)
