"""Limits on what one GraphQL operation may ask, checked before it runs, and stable error codes.

`QueryGuard` (a Strawberry extension, one instance per operation) refuses, with
`extensions.code`:

| code | when |
|---|---|
| QUERY_TOO_LARGE | the document is longer than `max_query_chars`, or has more than `max_tokens` tokens (graphql-core stops parsing there) |
| VARIABLES_TOO_LARGE | the variables take more than `max_variables_bytes` as JSON |
| QUERY_TOO_DEEP | fields nest deeper than `max_depth` (introspection's `ofType` chains excepted) |
| TOO_MANY_ALIASES | more than `max_aliases` aliased fields |
| QUERY_TOO_COMPLEX | the cost is over `max_cost`: every field counts once per object it is asked on; a field |
|  | with `first`/`limit` asks for that many objects (the value given, or the default); or |
|  | introspection lists nest deeper than types > fields > args |
| FRAGMENT_CYCLE | a fragment spreads itself (graphql-core's NoFragmentCyclesRule) |
| INTROSPECTION_DISABLED | introspection is switched off (setting `graphql_introspection`) |

Depth, aliases and cost are computed through fragments, each fragment once (memoised, so a
"fragment bomb" that spreads fragments into each other costs linear time to measure while its
count grows exponentially) and cycles cut (graphql-core then refuses them). They run before
graphql-core's own validation, so a hostile document is refused without the expensive rules.

Parsing and graphql-core's validation depend only on the document's text (and the schema and
rules), not on the variables, so a document that parsed and validated once is not parsed or
validated again: each schema remembers the last `DOCUMENT_CACHE_SIZE` documents that passed, by
their text (a client sends the same few documents with new variables; validating the account 360
of docs/api-graphql.md took about half the server's time per request). The limits are checked on
every request, against a measure remembered by the text, the operation and the integer
variables (a size may come as `first: $n`); a document is remembered as parsed and valid only
once it passed them and validation.

After the operation, every error gets a stable code: khub's own errors (`ontology.errors`) keep
their `code` and message; GraphQL validation and variable errors get GRAPHQL_VALIDATION_FAILED /
BAD_USER_INPUT / GRAPHQL_PARSE_FAILED; anything unexpected becomes INTERNAL_ERROR with its
message masked (the full error goes to the server log with the request id), never a stack trace.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    parse,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from strawberry.extensions import SchemaExtension

from ontology.errors import KhubError

log = logging.getLogger("khub.api.graphql")

#: Arguments whose value is the number of items a list field returns.
SIZE_ARGUMENTS = ("first", "limit")
#: How deep introspection lists (types, fields, args, ...) may nest: GraphiQL's introspection
#: query needs 3 (types > fields > args); `types { fields { type { fields ...` (the classic
#: introspection breadth bomb, each level multiplying by the number of fields) needs more.
MAX_INTROSPECTION_LISTS = 3
#: How many documents (that parsed and passed validation) each schema remembers, least recently used out.
DOCUMENT_CACHE_SIZE = 256


@dataclass(frozen=True)
class Limits:
    """How much one operation may ask."""

    max_query_chars: int = 20_000
    max_tokens: int = 3_000
    max_variables_bytes: int = 64_000
    max_depth: int = 15
    max_aliases: int = 30
    max_cost: int = 50_000


@dataclass(frozen=True)
class Measure:
    """Depth, aliases and cost of a selection (cost relative to one parent object)."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0
    #: how deep introspection list fields nest
    introspection_lists: int = 0


def limit_error(message: str, code: str) -> GraphQLError:
    """A GraphQL error with a stable code."""
    return GraphQLError(message, extensions={"code": code})


class _Measurer:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any] | None):
        self.schema = schema
        self.variables = variables or {}
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.memo: dict[str, Measure] = {}
        self.stack: list[str] = []

    def _size(self, field: FieldNode, definition: Any, parent: Any) -> int:
        if getattr(parent, "name", "").startswith("__"):  # introspection: bounded by its own list nesting
            return 1
        for name in SIZE_ARGUMENTS:
            arg_def = definition.args.get(name) if definition is not None else None
            if arg_def is None:
                continue
            given = next((a.value for a in field.arguments or () if a.name.value == name), None)
            value: Any = None
            if isinstance(given, IntValueNode):
                value = int(given.value)
            elif isinstance(given, VariableNode):
                value = self.variables.get(given.name.value)
            elif given is None:
                value = arg_def.default_value
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 1)
            return 1
        return 1

    def _field_def(self, parent: Any, name: str) -> Any:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        if name == "__typename":
            return TypeNameMetaFieldDef
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return parent.fields.get(name)
        return None

    def selection(self, selection_set: SelectionSetNode | None, parent: Any) -> Measure:
        if selection_set is None:
            return Measure()
        depth = aliases = cost = lists = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                definition = self._field_def(parent, sel.name.value)
                child_type = get_named_type(definition.type) if definition is not None else None
                size = self._size(sel, definition, parent)
                inner = self.selection(sel.selection_set, child_type)
                # an introspection type reference (`ofType` chains, one object each, up to ~9 deep in
                # GraphiQL's own query) adds no breadth; it does not count towards the depth
                introspection = getattr(parent, "name", "").startswith("__")
                level = 0 if introspection and sel.name.value == "ofType" else 1
                is_list = introspection and definition is not None and isinstance(get_nullable_type(definition.type), GraphQLList)
                depth = max(depth, level + inner.depth)
                aliases += (1 if sel.alias else 0) + inner.aliases
                cost += size * (1 + inner.cost)
                lists = max(lists, (1 if is_list else 0) + inner.introspection_lists)
            else:
                if isinstance(sel, InlineFragmentNode):
                    cond = self.schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                    inner = self.selection(sel.selection_set, cond)
                elif isinstance(sel, FragmentSpreadNode):
                    inner = self.fragment(sel.name.value)
                else:
                    continue
                depth, aliases, cost = max(depth, inner.depth), aliases + inner.aliases, cost + inner.cost
                lists = max(lists, inner.introspection_lists)
        return Measure(depth, aliases, cost, lists)

    def fragment(self, name: str) -> Measure:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.stack:
            return Measure()  # unknown or cyclic: graphql-core's validation refuses it
        self.stack.append(name)
        try:
            measure = self.selection(definition.selection_set, self.schema.get_type(definition.type_condition.name.value))
        finally:
            self.stack.pop()
        self.memo[name] = measure
        return measure


def measure_document(schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any] | None, operation_name: str | None) -> Measure:
    """Depth, aliases and cost of the operation to run (of the largest, when it is not named)."""
    measurer = _Measurer(schema, document, variables)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [d for d in operations if d.name and d.name.value == operation_name] or operations
    worst = Measure()
    for op in operations:
        root = schema.get_root_type(op.operation)
        m = measurer.selection(op.selection_set, root)
        worst = Measure(
            max(worst.depth, m.depth), max(worst.aliases, m.aliases), max(worst.cost, m.cost), max(worst.introspection_lists, m.introspection_lists)
        )
    return worst


def check_limits(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    limits: Limits,
    measured: Measure | None = None,
) -> list[GraphQLError]:
    """The limit errors of a parsed operation (empty when it may run); `measured`: its measure, when known."""
    m = measured or measure_document(schema, document, variables, operation_name)
    errors = []
    if m.depth > limits.max_depth:
        errors.append(limit_error(f"the query nests {m.depth} levels deep; at most {limits.max_depth} are allowed", "QUERY_TOO_DEEP"))
    if m.aliases > limits.max_aliases:
        errors.append(limit_error(f"the query uses {m.aliases} aliases (fragments included); at most {limits.max_aliases} are allowed", "TOO_MANY_ALIASES"))
    if m.introspection_lists > MAX_INTROSPECTION_LISTS:
        errors.append(
            limit_error(
                f"introspection lists nest {m.introspection_lists} deep; at most {MAX_INTROSPECTION_LISTS} are allowed (types > fields > args)",
                "QUERY_TOO_COMPLEX",
            )
        )
    if m.cost > limits.max_cost:
        errors.append(
            limit_error(
                f"the query could resolve {m.cost} fields (list sizes from first/limit multiplied through the nesting); at most {limits.max_cost} are allowed",
                "QUERY_TOO_COMPLEX",
            )
        )
    return errors


class DocumentCache:
    """Parsed documents, and the documents that passed validation, of one schema, by their text (LRU, thread-safe)."""

    def __init__(self, size: int = DOCUMENT_CACHE_SIZE):
        self.size = size
        self._parsed: OrderedDict[tuple[str, Any], DocumentNode] = OrderedDict()
        self._valid: OrderedDict[tuple[str, tuple[Any, ...]], None] = OrderedDict()
        self._measures: OrderedDict[tuple[Any, ...], Measure] = OrderedDict()
        self._lock = threading.Lock()

    def measure(self, schema: GraphQLSchema, document: DocumentNode, query: str, variables: dict[str, Any] | None, operation_name: str | None) -> Measure:
        """`measure_document`, remembered: a measure depends on the text, the operation and the
        integer variables only (a size given as `first: $n`), so those are the key."""
        sizes = tuple(sorted((k, v) for k, v in (variables or {}).items() if isinstance(v, int) and not isinstance(v, bool)))
        key = (query, operation_name, sizes)
        with self._lock:
            found = self._measures.get(key)
            if found is not None:
                self._measures.move_to_end(key)
                return found
        found = measure_document(schema, document, variables, operation_name)
        with self._lock:
            self._measures[key] = found
            while len(self._measures) > self.size:
                self._measures.popitem(last=False)
        return found

    def parsed(self, key: tuple[str, Any]) -> DocumentNode | None:
        """The document parsed before from this text with these parse options, if remembered."""
        with self._lock:
            document = self._parsed.get(key)
            if document is not None:
                self._parsed.move_to_end(key)
            return document

    def remember_parsed(self, key: tuple[str, Any], document: DocumentNode) -> None:
        """Remember a document that parsed."""
        with self._lock:
            self._parsed[key] = document
            self._parsed.move_to_end(key)
            while len(self._parsed) > self.size:
                self._parsed.popitem(last=False)

    def valid(self, key: tuple[str, tuple[Any, ...]]) -> bool:
        """True when this text passed validation with these rules before."""
        with self._lock:
            if key in self._valid:
                self._valid.move_to_end(key)
                return True
            return False

    def remember_valid(self, key: tuple[str, tuple[Any, ...]]) -> None:
        """Remember a text that passed validation with these rules."""
        with self._lock:
            self._valid[key] = None
            self._valid.move_to_end(key)
            while len(self._valid) > self.size:
                self._valid.popitem(last=False)


_CACHES: weakref.WeakKeyDictionary[GraphQLSchema, DocumentCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def document_cache(schema: GraphQLSchema) -> DocumentCache:
    """The document cache of a schema (one per schema object, dropped with it)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(schema)
        if cache is None:
            cache = _CACHES[schema] = DocumentCache()
        return cache


class QueryGuard(SchemaExtension):
    """Refuses oversized or too costly operations before they run; gives every error a stable code."""

    def __init__(self, limits: Limits, introspection: bool | None = None):
        """introspection: force it on or off; None: the request's `settings.graphql_introspection` (default on)."""
        self.limits = limits
        self.introspection = introspection
        self._streamed = False
        self._refusal: GraphQLError | None = None
        self._parse_key: tuple[str, Any] | None = None

    def _introspection_allowed(self) -> bool:
        if self.introspection is not None:
            return self.introspection
        ctx = self.execution_context.context
        rc = getattr(ctx, "rc", None)
        return bool(getattr(getattr(rc, "settings", None), "graphql_introspection", True))

    def _size_refusal(self) -> GraphQLError | None:
        ec = self.execution_context
        query = ec.query or ""
        if len(query) > self.limits.max_query_chars:
            return limit_error(f"the query has {len(query)} characters; at most {self.limits.max_query_chars} are allowed", "QUERY_TOO_LARGE")
        if ec.variables:
            size = len(json.dumps(ec.variables, ensure_ascii=False, default=str))
            if size > self.limits.max_variables_bytes:
                return limit_error(f"the variables take {size} bytes; at most {self.limits.max_variables_bytes} are allowed", "VARIABLES_TOO_LARGE")
        return None

    def on_operation(self) -> Iterator[None]:
        """Size checks before parsing; error codes and masking after the operation."""
        ec = self.execution_context
        self._refusal = self._size_refusal()
        if self._refusal is not None:
            # the caller's document is never parsed: a one-field stand-in goes to validation, which refuses it
            ec.graphql_document = _stand_in(ec._provided_operation_name)
        ec.parse_options["max_tokens"] = self.limits.max_tokens
        self._streamed = False
        yield
        if not self._streamed:  # a streamed result (subscription, WebSocket) was coded frame by frame
            self._code(ec.result)

    def on_parse(self) -> Iterator[None]:
        """A document that passed before is reused, not parsed again (graphql-core never changes a parsed document)."""
        ec = self.execution_context
        self._parse_key = None
        if ec.graphql_document is None and ec.query:
            self._parse_key = (ec.query, tuple(sorted(ec.parse_options.items())))
            ec.graphql_document = document_cache(ec.schema._schema).parsed(self._parse_key)
        yield

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Codes for each result a subscription (or a query over WebSocket) sends."""
        self._streamed = True
        self._code(result)
        yield None

    def _code(self, result: Any) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [self.coded(e) for e in errors]

    def on_validate(self) -> Iterator[None]:
        """Depth, aliases and cost, before graphql-core's own rules (which are skipped when these fail)."""
        ec = self.execution_context
        key = None
        if self._refusal is not None:
            ec.pre_execution_errors = [self._refusal]
        elif ec.graphql_document is not None:
            schema = ec.schema._schema
            measured = document_cache(schema).measure(schema, ec.graphql_document, ec.query, ec.variables, ec.operation_name) if ec.query else None
            errors = check_limits(schema, ec.graphql_document, ec.variables, ec.operation_name, self.limits, measured) or self._subject_scope()
            if errors:
                ec.pre_execution_errors = errors
            else:
                if not self._introspection_allowed():
                    from graphql.validation import NoSchemaIntrospectionCustomRule

                    ec.validation_rules = (*ec.validation_rules, NoSchemaIntrospectionCustomRule)
                if ec.query and ec.pre_execution_errors is None:
                    key = (ec.query, tuple(ec.validation_rules))
                    if document_cache(ec.schema._schema).valid(key):
                        ec.pre_execution_errors = []  # validated before: Strawberry skips graphql-core's rules
                        key = None
        yield
        if key is not None and ec.pre_execution_errors == [] and ec.graphql_document is not None:
            cache = document_cache(ec.schema._schema)
            cache.remember_valid(key)
            if self._parse_key is not None:
                cache.remember_parsed(self._parse_key, ec.graphql_document)

    def _subject_scope(self) -> list[GraphQLError]:
        """A subject token may ask only for its own data: refuse any other root field."""
        ec = self.execution_context
        principal = getattr(getattr(ec.context, "rc", None), "principal", None)
        if getattr(principal, "role", None) != "subject" or ec.graphql_document is None:
            return []
        asked = root_fields(ec.graphql_document, ec.operation_name)
        other = sorted(asked - SUBJECT_FIELDS)
        if not other:
            return []
        allowed = ", ".join(sorted(SUBJECT_FIELDS - {"__typename"}))
        return [limit_error(f"a subject token may ask only for its own data ({allowed}), not {', '.join(other)}", "FORBIDDEN")]

    def request_id(self) -> str:
        """The request id of the operation, for log lines and masked errors."""
        rc = getattr(self.execution_context.context, "rc", None)
        return str(getattr(rc, "request_id", "-"))

    def coded(self, error: GraphQLError) -> GraphQLError:
        """The error as the client sees it: a stable code, and no internals."""
        extensions = dict(error.extensions or {})
        original = error.original_error
        if isinstance(original, GraphQLError) and original.extensions and "code" in original.extensions:
            extensions.setdefault("code", original.extensions["code"])
        if "code" in extensions:
            return _with(error, error.message, extensions)
        if isinstance(original, KhubError):
            return _with(error, str(original), {**extensions, "code": original.code})
        message = error.message
        if original is None or isinstance(original, GraphQLError):
            if message.startswith("Syntax Error"):
                code = "QUERY_TOO_LARGE" if "tokens" in message and "Parsing aborted" in message else "GRAPHQL_PARSE_FAILED"
            elif "within itself" in message:
                code = "FRAGMENT_CYCLE"
            elif "introspection" in message and "disabled" in message:
                code = "INTROSPECTION_DISABLED"
            elif message.startswith("Variable ") or error.path:
                code = "BAD_USER_INPUT"
            else:
                code = "GRAPHQL_VALIDATION_FAILED"
            return _with(error, message, {**extensions, "code": code})
        log.error("GraphQL resolver error (request %s): %s", self.request_id(), error.message, exc_info=original)
        return _with(error, f"internal error (request {self.request_id()}); the server log has the details", {"code": "INTERNAL_ERROR"})


#: The root fields a data subject's own token may use.
SUBJECT_FIELDS = frozenset({"me", "myData", "decideConsent", "verifyConsentReceipt", "__typename"})


def root_fields(document: DocumentNode, operation_name: str | None) -> set[str]:
    """The root field names the chosen operation asks for (through fragments and inline fragments at the root)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    names: set[str] = set()
    seen: set[str] = set()

    def walk(selections: Any) -> None:
        for sel in selections:
            if isinstance(sel, FieldNode):
                names.add(sel.name.value)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set.selections)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen and sel.name.value in fragments:
                seen.add(sel.name.value)
                walk(fragments[sel.name.value].selection_set.selections)

    for operation in chosen[:1] if operation_name is None else chosen:
        walk(operation.selection_set.selections)
    return names


def _stand_in(operation_name: str | None) -> DocumentNode:
    """A tiny document standing in for one refused unparsed (named like the operation asked for)."""
    name = operation_name if operation_name and operation_name.replace("_", "a").isalnum() and not operation_name[0].isdigit() else ""
    return parse(f"query {name} {{ __typename }}")


def _with(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions, path=error.path, extensions=extensions)


__all__ = ["DocumentCache", "Limits", "QueryGuard", "check_limits", "document_cache", "measure_document"]
