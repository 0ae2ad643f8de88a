"""Check and normalise property values against the ontology before they reach a store.

Times are stored as ISO-8601 strings in one fixed-width UTC form, so that string order is time
order on both stores (FalkorDB has no `datetime()`; Neo4j compares strings the same way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from ontology.model import Property

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: A string already in the stored form (years 1000-9999: `strftime` does not pad smaller ones).
_STORED_DATETIME = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


class ValueRejected(ValueError):
    """A value that does not fit its property; the message says why."""


def normalise_datetime(value: Any) -> str:
    """An ISO-8601 UTC string `YYYY-MM-DDTHH:MM:SS.ffffffZ` for a datetime, date or ISO string.

    Naive datetimes are taken as UTC.
    """
    if type(value) is str and len(value) == 27 and _STORED_DATETIME.fullmatch(value):
        try:  # already in the stored form (e.g. normalised once by the caller): check it is a real time
            datetime.fromisoformat(value[:-1])
            return value
        except ValueError:
            pass  # the general path below gives the reason
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueRejected(f"{value!r} is not an ISO-8601 date-time") from None
    else:
        raise ValueRejected(f"{value!r} is not a date-time")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    if dt.year < 1000 or type(dt) is not datetime:  # strftime leaves small years unpadded; keep that
        return dt.strftime(DATETIME_FORMAT)
    # the same text as strftime(DATETIME_FORMAT), three times faster: "...ffffff+00:00" -> "...ffffffZ"
    return dt.isoformat(timespec="microseconds")[:-6] + "Z"


def normalise_date(value: Any) -> str:
    """An ISO date string `YYYY-MM-DD` for a date, datetime or ISO string."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            raise ValueRejected(f"{value!r} is not an ISO-8601 date") from None
    raise ValueRejected(f"{value!r} is not a date")


def now_iso() -> str:
    """The current time in the stored form."""
    return datetime.now(UTC).strftime(DATETIME_FORMAT)


def _scalar(prop: Property, value: Any) -> Any:
    kind = prop.scalar_range
    if kind in ("string", "uri"):
        if not isinstance(value, str):
            raise ValueRejected(f"expects text, got {type(value).__name__} {value!r}")
        if prop.enum_values is not None and value not in prop.enum_values:
            raise ValueRejected(f"{value!r} is not one of {', '.join(prop.enum_values)}")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueRejected(f"expects an integer, got {type(value).__name__} {value!r}")
        out: Any = value
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueRejected(f"expects a finite number, got {type(value).__name__} {value!r}")
        out = float(value)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ValueRejected(f"expects true or false, got {type(value).__name__} {value!r}")
        return value
    elif kind == "datetime":
        return normalise_datetime(value)
    elif kind == "date":
        return normalise_date(value)
    else:  # a class range: a reference stored as the node's id
        if not isinstance(value, str):
            raise ValueRejected(f"expects the id of a {prop.range}, got {value!r}")
        return value
    if prop.minimum is not None and out < prop.minimum:
        raise ValueRejected(f"{out} is below the minimum {prop.minimum}")
    if prop.maximum is not None and out > prop.maximum:
        raise ValueRejected(f"{out} is above the maximum {prop.maximum}")
    return out


def normalise_value(prop: Property, value: Any) -> Any:
    """The stored form of `value` for `prop`; raises `ValueRejected` with the reason."""
    if prop.is_vector:
        if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist"):
            raise ValueRejected(f"expects a vector of {prop.embedding_dim} numbers")
        vector = value.tolist() if hasattr(value, "tolist") else list(value)
        if len(vector) != prop.embedding_dim:
            raise ValueRejected(f"expects {prop.embedding_dim} dimensions, got {len(vector)}")
        try:
            floats = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise ValueRejected("a vector holds numbers only") from None
        if not all(math.isfinite(x) for x in floats):
            raise ValueRejected("a vector holds finite numbers only")
        return floats
    if prop.multivalued:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
            raise ValueRejected(f"expects a list, got {type(value).__name__}")
        items: list[Any] = []
        for item in value:
            norm = _scalar(prop, item)
            if norm not in items:
                items.append(norm)
        return items
    return _scalar(prop, value)


def value_normaliser(prop: Property) -> Callable[[Any], Any]:
    """`normalise_value` for one property, as a function of the value alone.

    Same results and errors; the checks that depend only on the property are decided once, so
    a batch of many records of one type pays for them once (`graph.batch`).
    """
    if prop.is_vector or prop.multivalued:
        return lambda value: normalise_value(prop, value)
    kind = prop.scalar_range
    if kind in ("string", "uri") and prop.enum_values is None:

        def text(value: Any) -> Any:
            return value if type(value) is str else _scalar(prop, value)

        return text
    if kind in ("string", "uri"):
        allowed = frozenset(prop.enum_values or ())

        def enum(value: Any) -> Any:
            return value if type(value) is str and value in allowed else _scalar(prop, value)

        return enum
    if kind == "datetime":
        return normalise_datetime
    if kind == "float" and prop.minimum is None and prop.maximum is None:

        def number(value: Any) -> Any:
            return value if type(value) is float and math.isfinite(value) else _scalar(prop, value)

        return number
    return lambda value: _scalar(prop, value)
