"""Relay cursor pagination with keyset cursors and `totalCount` on every list.

A cursor is the opaque base64 of the row's keyset position: its sort value and a unique
tie-breaker (node id, or edge key for edges), as `graph.reads` orders them. Paging forward with
`first` / `after` asks the store for `first + 1` rows after that position: the extra row tells
`hasNextPage`, and rows added before the cursor never shift a page. `totalCount` is resolved only
when asked, through a counting DataLoader (one query per field, whatever the number of parents).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.scalars import JSON

from ontology.errors import BadInput

T = TypeVar("T")
#: The largest page a list field returns; `first` above it is refused.
MAX_PAGE = 100
DEFAULT_PAGE = 20
_PREFIX = "k1:"


class BadCursor(BadInput):
    """A cursor that khub did not hand out (or from another list)."""

    code = "BAD_CURSOR"


def encode_cursor(key: tuple[Any, str]) -> str:
    """The opaque cursor of a keyset position (sort value, tie-breaker)."""
    raw = _PREFIX + json.dumps([key[0], key[1]], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[Any, str] | None:
    """The keyset position of a cursor; `BadCursor` when it is not one of ours."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
        if not raw.startswith(_PREFIX):
            raise ValueError("prefix")
        value = json.loads(raw[len(_PREFIX) :])
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)):
            raise ValueError("shape")
        if not (value[0] is None or isinstance(value[0], (str, int, float, bool))):
            raise ValueError("sort value")
    except (ValueError, UnicodeError, binascii.Error):
        raise BadCursor(f"not a cursor of this API: {cursor[:40]!r}") from None
    return value[0], value[1]


def check_first(first: int) -> int:
    """`first` as asked, when it is between 0 and `MAX_PAGE`."""
    if first < 0 or first > MAX_PAGE:
        raise BadInput(f"first must be between 0 and {MAX_PAGE}, got {first}")
    return first


@strawberry.type(description="Where a page is in its list (forward paging with first/after).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="How a node was reached: the graph edge, as seen from the node asked about.")
class Relation:
    type: str = strawberry.field(description="The edge type (WORKS_AT, OWNS, ...).")
    direction: str = strawberry.field(description="OUT when the edge starts at the node asked about, IN when it ends there.")
    source: str = strawberry.field(description="The edge's start node as Type:id.")
    target: str = strawberry.field(description="The edge's end node as Type:id.")
    valid_from: str | None = strawberry.field(description="When the fact became true.")
    valid_to: str | None = strawberry.field(description="When it stopped being true; null while it holds.")
    recorded_at: str | None = strawberry.field(description="When khub learned it.")
    source_id: str | None = strawberry.field(description="The document, event or user it came from first.")
    supported_by: list[str] = strawberry.field(description="Every source that asserted it.")
    confidence: float | None = None
    extractor: str | None = None
    properties: JSON = strawberry.field(description="The edge's own properties (those the caller may see).")


@strawberry.type(description="One item of a list: its cursor, the node, and the edge that reached it (null in top-level lists).")
class Edge(Generic[T]):
    cursor: str
    node: T
    relation: Relation | None = None


@strawberry.type(description="A page of a list, Relay style, with the size of the whole list.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole list has (every page together).")
    async def total_count(self) -> int:
        return await self.count()

    @strawberry.field(description="The nodes of this page (the edges without cursors).")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def page_info(cursors: list[str], has_next: bool, after: str | None) -> PageInfo:
    """The PageInfo of a page whose items have `cursors`."""
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
