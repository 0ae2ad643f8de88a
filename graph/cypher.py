"""The Cypher khub runs, written once for both stores; `Dialect` fills in the differences.

Labels, types and property names are ontology names (checked before they get here); every
value is a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graph.batch import EdgeShape, NodeShape
from graph.dialect import Dialect, quote
from ontology.model import NODE_KEY

META_LABEL = "KhubMeta"
HIDDEN_PROPERTY_SUFFIXES = ("__ft",)
HIDDEN_PROPERTIES = frozenset({"_khub_lock", "ek"})


def _union(var: str, prop: str, values: str, keep: int | None = None) -> str:
    """Add the new values to a list property; with `keep`, only its last `keep` values stay (one
    SET: FalkorDB evaluates a second SET of the same property against the value before the first)."""
    p = f"{var}.{quote(prop)}"
    union = f"CASE WHEN {p} IS NULL THEN {values} ELSE {p} + [x IN {values} WHERE NOT x IN {p}] END"
    if keep is None:
        return f"SET {p} = {union}"
    return f"SET {p} = CASE WHEN size({union}) > {int(keep)} THEN ({union})[size({union}) - {int(keep)}..] ELSE {union} END"


def _clauses(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def upsert_nodes(d: Dialect, shape: NodeShape, keep: Mapping[str, int] | None = None) -> str:
    """UNWIND rows {id, props, lists, vecs} of one shape: merge by id, union the lists (`keep`: the
    lists whose last N values only stay, from the ontology's `maximum_cardinality`)."""
    lines = [f"UNWIND $rows AS r MERGE (n:{quote(shape.label)} {{{NODE_KEY}: r.id}})", "ON CREATE SET n += r.defaults"]
    if shape.lists:
        lines.append(d.lock("n"))
    lines.append("SET n += r.props")
    lines += [_union("n", name, f"r.lists.{quote(name)}", (keep or {}).get(name)) for name in shape.lists]
    lines += [f"SET n.{quote(name)} = {d.vector_value(f'r.vecs.{quote(name)}')}" for name in shape.vectors]
    if shape.lists:
        lines.append(d.unlock("n"))
    lines.append("RETURN count(n) AS written")
    return _clauses(*lines)


def upsert_edges(d: Dialect, shape: EdgeShape) -> str:
    """UNWIND edge rows of one shape: merge by edge key, keep first provenance, union sources."""
    return _clauses(
        f"UNWIND $rows AS r MATCH (a:{quote(shape.src_label)} {{{NODE_KEY}: r.src}})",
        f"MATCH (b:{quote(shape.dst_label)} {{{NODE_KEY}: r.dst}})",
        f"MERGE (a)-[e:{quote(shape.type)} {{ek: r.ek}}]->(b)",
        "ON CREATE SET e.recorded_at = $now, e.source_id = r.source_id",
        d.lock("e"),
        "SET e += r.props",
        "SET e.valid_from = CASE WHEN e.valid_from IS NULL OR (r.valid_from IS NOT NULL AND r.valid_from < e.valid_from) "
        "THEN r.valid_from ELSE e.valid_from END",
        _union("e", "supported_by", "r.sup"),
        *[_union("e", name, f"r.lists.{quote(name)}") for name in shape.lists],
        d.unlock("e"),
        "RETURN collect(r.i) AS written",
    )


def close_superseded(shape: EdgeShape, functional_side: str) -> tuple[str, str]:
    """Two queries closing contradicted facts of a functional edge type.

    `functional_side` is "subject" (a subject has one valid target, many_to_one) or "object"
    (an object has one valid source, one_to_many). The first query closes an incoming edge when
    a newer valid one exists; the second closes older valid edges at the new edge's start.
    """
    t = quote(shape.type)
    head = f"UNWIND $rows AS r MATCH (a:{quote(shape.src_label)} {{{NODE_KEY}: r.src}})-[e:{t} {{ek: r.ek}}]->(b)"
    other = f"MATCH (a)-[o:{t}]->(x)" if functional_side == "subject" else f"MATCH (x)-[o:{t}]->(b)"
    same = "o.ek <> e.ek AND o.valid_to IS NULL AND e.valid_to IS NULL"
    close_incoming = _clauses(
        head,
        other,
        f"WHERE {same} AND coalesce(o.valid_from, '') > coalesce(e.valid_from, '')",
        "WITH e, min(o.valid_from) AS next_start",
        "SET e.valid_to = next_start, e.closed_at = $now",
        "RETURN count(e) AS closed",
    )
    close_older = _clauses(
        head,
        other,
        f"WHERE {same} AND coalesce(o.valid_from, '') <= coalesce(e.valid_from, '')",
        "SET o.valid_to = coalesce(e.valid_from, $now), o.closed_at = $now",
        "RETURN count(o) AS closed",
    )
    return close_incoming, close_older


def valid_at(var: str, param: str) -> str:
    """The edge `var` holds at the time in `param` (ISO string)."""
    return f"coalesce({var}.valid_from, '') <= {param} AND ({var}.valid_to IS NULL OR {var}.valid_to > {param})"


def path_edge_filter(edge_types: Sequence[str] | None, as_of: bool) -> str:
    """A condition on every relationship of path `p` (types and valid time)."""
    conds = []
    if edge_types:
        conds.append("type(r) IN $edge_types")
    if as_of:
        conds.append(valid_at("r", "$as_of"))
    return f"all(r IN relationships(p) WHERE {' AND '.join(conds)})" if conds else ""


def edge_filter(var: str, edge_types: Sequence[str] | None, as_of: bool) -> str:
    """The same condition for one relationship variable."""
    conds = []
    if edge_types:
        conds.append(f"type({var}) IN $edge_types")
    if as_of:
        conds.append(valid_at(var, "$as_of"))
    return " AND ".join(conds)


def where(*conds: str) -> str:
    """A WHERE clause joining the non-empty conditions."""
    real = [c for c in conds if c]
    return f"WHERE {' AND '.join(real)}" if real else ""


def _seek(d: Dialect, var: str, param: str) -> str:
    """Nodes by handle, one id seek each (the WITH keeps FalkorDB from scanning per handle)."""
    return f"UNWIND ${param} AS h MATCH ({var}) WHERE {d.node_by_handle(var, 'h')} WITH h, {var}"


def light(var: str, heavy: Sequence[str]) -> str:
    """A node's properties without its heavy ones (vectors, full-text token copies)."""
    if not heavy:
        return f"properties({var})"
    return f"{var} {{.*, {', '.join(f'{quote(h)}: null' for h in heavy)}}}"


def subject_consents(label: str) -> str:
    """The consents of the subjects of `label` (already quoted) with ids `$ids` for the purpose
    `$purpose` (a Purpose node's id or name), each with the ids of the data categories it covers."""
    return (
        f"MATCH (s:{label})-[g:GAVE_CONSENT]->(c:Consent)-[:FOR_PURPOSE]->(p:Purpose) "
        f"WHERE s.{NODE_KEY} IN $ids AND (p.{NODE_KEY} = $purpose OR p.name = $purpose) AND (g.valid_to IS NULL OR g.valid_to > $now) "
        "OPTIONAL MATCH (c)-[:COVERS]->(d:DataCategory) "
        f"RETURN s.{NODE_KEY} AS sid, c.{NODE_KEY} AS cid, c.consent_status AS status, c.legal_basis AS basis, c.granted_at AS granted, "
        f"c.expires_at AS expires, c.revoked_at AS revoked, collect(d.{NODE_KEY}) AS categories"
    )


def consent_counts() -> str:
    """Every subject's consent with its purpose (for the consent metrics)."""
    return (
        "MATCH (s)-[g:GAVE_CONSENT]->(c:Consent)-[:FOR_PURPOSE]->(p:Purpose) WHERE g.valid_to IS NULL OR g.valid_to > $now "
        f"RETURN coalesce(p.name, p.{NODE_KEY}) AS purpose, labels(s)[0] + ':' + s.{NODE_KEY} AS sid, c.consent_status AS status, "
        "c.granted_at AS granted, c.expires_at AS expires, c.revoked_at AS revoked"
    )


def subject_count(labels: Sequence[str]) -> str:
    """How many nodes of each of `labels` there are (one row per label)."""
    return " UNION ALL ".join(f"MATCH (n:{quote(label)}) RETURN count(n) AS n" for label in labels)


def get_node(label: str) -> str:
    """One node's properties by key."""
    return f"MATCH (n:{quote(label)} {{{NODE_KEY}: $id}}) RETURN properties(n) AS props"


def _shown(props: Sequence[str] | None, heavy: Sequence[str]) -> str:
    """A node's returned map: the given properties (and the key), or all but the heavy ones."""
    return light("n", heavy) if props is None else "{" + ", ".join(f"{quote(p)}: n.{quote(p)}" for p in dict.fromkeys((NODE_KEY, *props))) + "}"


def nodes_by_keys(label: str, props: Sequence[str] | None, heavy: Sequence[str]) -> str:
    """Nodes of one label by key, from `$ids`: the given properties (and the key), or all but the heavy ones."""
    return f"UNWIND $ids AS k MATCH (n:{quote(label)} {{{NODE_KEY}: k}}) RETURN {_shown(props, heavy)} AS props"


def edges_leaving(label: str, edge_type: str, as_of: bool) -> str:
    """Edges of one type leaving nodes of one label given by key in `$ids` (holding at `$as_of` when asked)."""
    return _clauses(
        f"UNWIND $ids AS k MATCH (a:{quote(label)} {{{NODE_KEY}: k}})-[r:{quote(edge_type)}]->(b)",
        where(valid_at("r", "$as_of") if as_of else ""),
        f"RETURN a.{NODE_KEY} AS sid, labels(b)[0] AS dl, b.{NODE_KEY} AS did, properties(r) AS props",
    )


def find_nodes(label: str, prop: str, heavy: Sequence[str]) -> str:
    """Nodes by one property value."""
    return f"MATCH (n:{quote(label)}) WHERE n.{quote(prop)} = $value RETURN {light('n', heavy)} AS props ORDER BY n.{NODE_KEY} LIMIT $limit"


def neighbour_nodes(d: Dialect, label: str, hops: int, edge_types: Sequence[str] | None, labels: bool, as_of: bool, heavy: Sequence[str]) -> str:
    """The nearest nodes within `hops` of a start node, nearest first, with their handles."""
    return _clauses(
        f"MATCH (s:{quote(label)} {{{NODE_KEY}: $id}})",
        f"MATCH p = (s)-[*1..{int(hops)}]-(m)",
        where(
            "m <> s",
            path_edge_filter(edge_types, as_of),
            "any(l IN labels(m) WHERE l IN $labels)" if labels else "",
        ),
        f"WITH s, m, min(length(p)) AS distance ORDER BY distance, m.{NODE_KEY} LIMIT $limit",
        f"RETURN {d.node_handle('s')} AS start, {light('s', heavy)} AS start_props, {d.node_handle('m')} AS handle, labels(m)[0] AS label, "
        f"{light('m', heavy)} AS props, distance",
    )


def edges_among(d: Dialect, edge_types: Sequence[str] | None, as_of: bool) -> str:
    """Edges whose both ends are among the given node handles."""
    return _clauses(
        _seek(d, "a", "handles"),
        "MATCH (a)-[r]->(b)",
        where(f"{d.node_handle('b')} IN $handles", edge_filter("r", edge_types, as_of)),
        f"RETURN type(r) AS type, labels(a)[0] AS sl, a.{NODE_KEY} AS sid, labels(b)[0] AS dl, b.{NODE_KEY} AS did, properties(r) AS props",
    )


def node_handle_by_key(d: Dialect, label: str) -> str:
    """The handle of one node by key."""
    return f"MATCH (n:{quote(label)} {{{NODE_KEY}: $id}}) RETURN {d.node_handle('n')} AS handle"


def expand_frontier(d: Dialect, edge_types: Sequence[str] | None, as_of: bool) -> str:
    """One breadth-first step: every edge (either direction) from the frontier's nodes."""
    return _clauses(
        _seek(d, "n", "frontier"),
        "MATCH (n)-[r]-(m)",
        where(edge_filter("r", edge_types, as_of)),
        f"RETURN h AS from, {d.node_handle('m')} AS to, {d.node_handle('startNode(r)')} AS start, type(r) AS type, properties(r) AS props",
    )


def nodes_by_handles(d: Dialect, heavy: Sequence[str]) -> str:
    """Label and properties of nodes by handle."""
    return _clauses(_seek(d, "n", "handles"), f"RETURN h AS handle, labels(n)[0] AS label, {light('n', heavy)} AS props")


def simple_paths(src_label: str, dst_label: str, max_length: int, edge_types: Sequence[str] | None, as_of: bool, heavy: Sequence[str]) -> str:
    """Paths between two nodes up to `max_length`, shortest first."""
    return _clauses(
        f"MATCH (a:{quote(src_label)} {{{NODE_KEY}: $a}}) MATCH (b:{quote(dst_label)} {{{NODE_KEY}: $b}})",
        f"MATCH p = (a)-[*1..{int(max_length)}]-(b)",
        where(path_edge_filter(edge_types, as_of)),
        "WITH p, length(p) AS len ORDER BY len LIMIT $scan",
        f"RETURN [n IN nodes(p) | [labels(n)[0], {light('n', heavy)}]] AS nodes, "
        f"[r IN relationships(p) | [type(r), labels(startNode(r))[0], startNode(r).{NODE_KEY}, "
        f"labels(endNode(r))[0], endNode(r).{NODE_KEY}, properties(r)]] AS rels",
    )


def property_filter(var: str, filters: dict[str, object], params: dict[str, object]) -> str:
    """Equality (or IN, for a list value) conditions on node properties, adding parameters."""
    conds = []
    for i, (name, value) in enumerate(sorted(filters.items())):
        key = f"f{i}"
        params[key] = value
        op = "IN" if isinstance(value, (list, tuple)) else "="
        conds.append(f"{var}.{quote(name)} {op} ${key}")
    return " AND ".join(conds)


def vector_search(d: Dialect, label: str, prop: str, filter_cond: str, heavy: Sequence[str]) -> str:
    """Approximate candidates re-ranked by exact cosine, filtered, best first."""
    return _clauses(
        d.vector_candidates(label, prop, "$fetch", "$vector"),
        f"WITH node {where(filter_cond)}",
        f"WITH node, {d.cosine(f'node.{quote(prop)}', '$vector')} AS score",
        f"RETURN labels(node)[0] AS label, {light('node', heavy)} AS props, score ORDER BY score DESC LIMIT $k",
    )


def vector_scan(d: Dialect, label: str, prop: str, filter_cond: str, heavy: Sequence[str]) -> str:
    """Exact nearest neighbours by scanning (when filters leave too few candidates)."""
    return _clauses(
        f"MATCH (node:{quote(label)}) {where(f'node.{quote(prop)} IS NOT NULL', filter_cond)}",
        f"WITH node, {d.cosine(f'node.{quote(prop)}', '$vector')} AS score",
        f"RETURN labels(node)[0] AS label, {light('node', heavy)} AS props, score ORDER BY score DESC LIMIT $k",
    )


def fulltext_search(d: Dialect, label: str, shadow_prop: str, filter_cond: str, heavy: Sequence[str]) -> str:
    """Full-text matches on the token copy, filtered, best first."""
    return _clauses(
        d.fulltext_candidates(label, shadow_prop, "$query"),
        f"WITH node, score {where(filter_cond)}",
        f"RETURN labels(node)[0] AS label, {light('node', heavy)} AS props, score ORDER BY score DESC LIMIT $k",
    )


def cascade_targets(label: str, edge_type: str) -> str:
    """The nodes a cascading edge type reaches from one node."""
    return f"MATCH (n:{quote(label)} {{{NODE_KEY}: $id}})-[:{quote(edge_type)}]->(m) RETURN labels(m)[0] AS label, m.{NODE_KEY} AS id"


def remove_properties(label: str, names: Sequence[str]) -> str:
    """Remove properties of one node by key (a property set to null is gone on both stores)."""
    sets = ", ".join(f"n.{quote(name)} = null" for name in names)
    return f"MATCH (n:{quote(label)} {{{NODE_KEY}: $id}}) SET {sets} RETURN count(n) AS found"


def delete_nodes(label: str) -> str:
    """Delete nodes by key with their edges; report how many edges went."""
    return _clauses(
        f"MATCH (n:{quote(label)}) WHERE n.{NODE_KEY} IN $ids",
        "OPTIONAL MATCH (n)-[r]-()",
        "WITH collect(DISTINCT n) AS ns, count(DISTINCT r) AS edges",
        f"UNWIND ns AS n WITH edges, n, n.{NODE_KEY} AS key",
        "DETACH DELETE n",
        "RETURN edges, collect(key) AS ids",
    )


# ------------------------------------------------------------------ provenance
# `supported_by` lists every source that asserted an edge or node. A source is withdrawn
# (a document changed or was forgotten) by taking it out of those lists; what is then left
# with no support is closed (edges keep their history) or deleted (forget).


def _without(var: str) -> str:
    return f"SET {var}.supported_by = [x IN {var}.supported_by WHERE x <> $src]"


#: Withdraw a source from the edges it supports, except those re-asserted (`$keep`: edge
#: keys); close the ones left with no support.
RELEASE_EDGES = _clauses(
    "MATCH ()-[e]->() WHERE $src IN e.supported_by AND NOT e.ek IN $keep",
    _without("e"),
    "WITH e, size(e.supported_by) = 0 AND e.valid_to IS NULL AS unsupported",
    "FOREACH (_ IN CASE WHEN unsupported THEN [1] ELSE [] END | SET e.valid_to = $now, e.closed_at = $now)",
    "RETURN count(e) AS released, sum(CASE WHEN unsupported THEN 1 ELSE 0 END) AS closed",
)
#: Delete the edges that only the source supports.
DELETE_SOLE_EDGES = _clauses(
    "MATCH ()-[e]->() WHERE size(e.supported_by) = 1 AND $src IN e.supported_by",
    "DELETE e",
    "RETURN count(*) AS deleted",
)
#: Withdraw the source from the edges other sources support too.
STRIP_EDGES = _clauses("MATCH ()-[e]->() WHERE $src IN e.supported_by", _without("e"), "RETURN count(e) AS released")
#: Withdraw a source from the nodes it supports, except those re-asserted (`$keep`: label:id).
RELEASE_NODES = _clauses(
    f"MATCH (n) WHERE $src IN n.supported_by AND NOT (labels(n)[0] + ':' + n.{NODE_KEY}) IN $keep",
    _without("n"),
    "RETURN count(n) AS released",
)
#: Delete nodes that some source asserted, none supports any more, and no edge holds.
DELETE_ORPHANS = _clauses(
    "MATCH (n) WHERE n.supported_by IS NOT NULL AND size(n.supported_by) = 0",
    "OPTIONAL MATCH (n)-[r]-()",
    "WITH n, count(r) AS degree WHERE degree = 0",
    f"WITH n, labels(n)[0] AS label, n.{NODE_KEY} AS key",
    "DELETE n",
    "RETURN label, key",
)


def scan_nodes(label: str, heavy: Sequence[str], props: Sequence[str] | None = None) -> str:
    """One page of a label's nodes in key order (keyset: after `$after`): the given properties (and the key), or all but the heavy ones."""
    return _clauses(
        f"MATCH (n:{quote(label)}) WHERE $after IS NULL OR n.{NODE_KEY} > $after",
        f"WITH n ORDER BY n.{NODE_KEY} LIMIT $limit",
        f"RETURN {_shown(props, heavy)} AS props",
    )


def edges_merged_from(label: str) -> str:
    """A node's edges that entity resolution merged from `$marker` (any, when null), with their far ends."""
    return _clauses(
        f"MATCH (n:{quote(label)} {{{NODE_KEY}: $id}})-[e]-(m)",
        "WHERE size(coalesce(e.merged_from, [])) > 0 AND ($marker IS NULL OR $marker IN e.merged_from)",
        f"RETURN type(e) AS type, startNode(e) = n AS outgoing, labels(m)[0] AS other_label, m.{NODE_KEY} AS other_id, properties(e) AS props",
    )


def move_edges(type_: str, src_label: str, other_label: str, outgoing: bool) -> str:
    """Re-home edges of one type and direction from node `$src` to node `$dst` (same label):
    each row names the far end, the old edge key, the new key and the properties to keep."""
    t = quote(type_)
    old_rel, new_rel = f"-[e:{t} {{ek: r.ek}}]->", f"-[f:{t} {{ek: r.new_ek}}]->"
    old, new = (f"(n){old_rel}(m)", f"(d){new_rel}(m)") if outgoing else (f"(m){old_rel}(n)", f"(m){new_rel}(d)")
    return _clauses(
        f"MATCH (n:{quote(src_label)} {{{NODE_KEY}: $src}}) MATCH (d:{quote(src_label)} {{{NODE_KEY}: $dst}})",
        f"UNWIND $rows AS r MATCH (m:{quote(other_label)} {{{NODE_KEY}: r.other}})",
        f"MATCH {old}",
        f"MERGE {new}",
        "SET f += r.props",
        "DELETE e",
        "RETURN count(f) AS moved",
    )


def remove_list_values(label: str, prop: str) -> str:
    """Take `$values` out of one list property of one node."""
    p = f"n.{quote(prop)}"
    return f"MATCH (n:{quote(label)} {{{NODE_KEY}: $id}}) SET {p} = [x IN coalesce({p}, []) WHERE NOT x IN $values] RETURN size({p}) AS left"


COUNT_NODES = "MATCH (n) RETURN labels(n)[0] AS label, count(*) AS count"
COUNT_EDGES = "MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS count"
DELETE_SOME = "MATCH (n) WITH n LIMIT 20000 DETACH DELETE n RETURN count(*) AS deleted"
GET_META = f"MATCH (m:{META_LABEL} {{{NODE_KEY}: 'ontology'}}) RETURN m.version AS version, m.history AS history"
SET_SCHEMA_TEXT = _clauses(f"MERGE (m:{META_LABEL} {{{NODE_KEY}: 'ontology'}})", "SET m.schema_text = $text")
GET_SCHEMA_TEXT = f"MATCH (m:{META_LABEL} {{{NODE_KEY}: 'ontology'}}) RETURN m.schema_text AS text"
GET_OR_SET_SECRET = _clauses(
    f"MERGE (m:{META_LABEL} {{{NODE_KEY}: $key}})",
    "ON CREATE SET m.value = $value",
    "RETURN m.value AS value",
)
SET_META = _clauses(
    f"MERGE (m:{META_LABEL} {{{NODE_KEY}: 'ontology'}})",
    "SET m.version = $version",
    "SET m.history = coalesce(m.history, []) + [$entry]",
)
