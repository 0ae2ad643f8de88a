"""What changed between two ontologies, and the graph migrations the change implies.

`diff_ontologies(old, new)` compares two typed ontologies and returns an `OntologyDiff`:

- per kind (node types, edge types): added, removed, renamed and changed types;
- per type: added, removed, renamed and changed properties (a property shared by several types
  is reported on each of them, because the data lives per label or edge type);
- enums whose permissible values changed;
- `steps`: the migration steps, each a small frozen dataclass with `safe` and `describe()`.

Renames are found through `aliases`: a class or slot of the new ontology whose `aliases` name a
class or slot of the old ontology that no longer exists is that element, renamed.

Safe steps can be applied to a graph without losing or invalidating data (`graph.migrations`
applies them); unsafe steps are reported for a person to handle and never applied. No Cypher
here: this module only reads ontologies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ontology.model import EdgeType, NodeType, Ontology, PrivacyCategory, Property, load_ontology

#: Index kinds an `AddIndex` / `RemoveIndex` step names.
INDEX_KINDS = ("unique", "indexed", "fulltext", "vector")


# ---------------------------------------------------------------------------------- steps
@dataclass(frozen=True)
class MigrationStep:
    """One migration step. `safe` steps are applied by `khub ontology apply`; others are reported."""

    @property
    def safe(self) -> bool:
        """True when the step can be applied without losing or invalidating data."""
        return True

    def describe(self) -> str:
        """One line for people."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: the step kind, its fields, `safe` and the description."""
        return {"step": type(self).__name__, "safe": self.safe, **asdict(self), "description": self.describe()}


def _prop_ref(owner: str, name: str, is_edge: bool) -> str:
    return f"{'edge' if is_edge else 'node'} property {owner}.{name}"


@dataclass(frozen=True)
class AddNodeType(MigrationStep):
    """A new node type: its key constraint and indexes are created."""

    name: str

    def describe(self) -> str:
        return f"add node type {self.name} (create its key constraint and indexes)"


@dataclass(frozen=True)
class AddEdgeType(MigrationStep):
    """A new edge type: its edge-key and source indexes are created."""

    name: str

    def describe(self) -> str:
        return f"add edge type {self.name} (create its edge indexes)"


@dataclass(frozen=True)
class AddProperty(MigrationStep):
    """A new property. Safe unless it is required: existing items have no value for it."""

    owner: str
    name: str
    is_edge: bool = False
    required: bool = False

    @property
    def safe(self) -> bool:
        return not self.required

    def describe(self) -> str:
        text = f"add {_prop_ref(self.owner, self.name, self.is_edge)}"
        return text + (" (required, but existing items have no value)" if self.required else "")


@dataclass(frozen=True)
class AddIndex(MigrationStep):
    """A unique constraint, lookup index, full-text index or vector index to create.

    For an existing property that becomes full-text indexed the hidden token copies are filled
    in. (`vector` only comes with a new property: an existing list that becomes an embedding is
    a `ChangeEmbeddingDim`, which is unsafe.)
    """

    owner: str
    prop: str
    kind: str
    is_edge: bool = False

    def describe(self) -> str:
        what = {"unique": "unique constraint", "indexed": "index", "fulltext": "full-text index", "vector": "vector index"}[self.kind]
        note = " (edge property indexes are not created by the store)" if self.is_edge else ""
        return f"add {what} on {_prop_ref(self.owner, self.prop, self.is_edge)}{note}"


@dataclass(frozen=True)
class RenameNodeType(MigrationStep):
    """Relabel every node of the old type."""

    old: str
    new: str

    def describe(self) -> str:
        return f"rename node type {self.old} -> {self.new} (relabel its nodes)"


@dataclass(frozen=True)
class RenameEdgeType(MigrationStep):
    """Re-create every edge of the old type under the new type, with the same properties."""

    old: str
    new: str

    def describe(self) -> str:
        return f"rename edge type {self.old} -> {self.new} (re-create its edges)"


@dataclass(frozen=True)
class RenameProperty(MigrationStep):
    """Move a property's values to its new name on every node or edge of `owner`."""

    owner: str
    old: str
    new: str
    is_edge: bool = False

    def describe(self) -> str:
        return f"rename {_prop_ref(self.owner, self.old, self.is_edge)} -> {self.new}"


@dataclass(frozen=True)
class Deprecate(MigrationStep):
    """An element became deprecated: writes that use it are warned about."""

    element: str
    note: str

    def describe(self) -> str:
        return f"deprecate {self.element}: {self.note}"


@dataclass(frozen=True)
class RemoveType(MigrationStep):
    """A node or edge type disappeared; its data stays in the graph until removed by hand."""

    name: str
    is_edge: bool = False

    @property
    def safe(self) -> bool:
        return False

    def describe(self) -> str:
        kind = "edge" if self.is_edge else "node"
        return f"remove {kind} type {self.name} (its data is left in the graph; delete it by hand)"


@dataclass(frozen=True)
class RemoveProperty(MigrationStep):
    """A property disappeared from a type; stored values stay until removed by hand."""

    owner: str
    name: str
    is_edge: bool = False

    @property
    def safe(self) -> bool:
        return False

    def describe(self) -> str:
        return f"remove {_prop_ref(self.owner, self.name, self.is_edge)} (stored values are left; remove them by hand)"


@dataclass(frozen=True)
class RemoveIndex(MigrationStep):
    """An index flag was dropped. A node unique constraint is dropped by `khub ontology apply`;
    other indexes stay in the store until dropped by hand."""

    owner: str
    prop: str
    kind: str
    is_edge: bool = False

    @property
    def safe(self) -> bool:
        # dropping a node uniqueness constraint loses nothing; other index kinds are left in place
        return self.kind == "unique" and not self.is_edge

    def describe(self) -> str:
        if self.safe:
            return f"drop unique constraint on {_prop_ref(self.owner, self.prop, self.is_edge)} (values and lookups stay)"
        return f"drop {self.kind} on {_prop_ref(self.owner, self.prop, self.is_edge)} (the store keeps it; drop it by hand)"


@dataclass(frozen=True)
class ChangeRange(MigrationStep):
    """A property's range changed; stored values may not fit the new one."""

    owner: str
    prop: str
    old: str
    new: str
    is_edge: bool = False

    @property
    def safe(self) -> bool:
        return False

    def describe(self) -> str:
        return f"change range of {_prop_ref(self.owner, self.prop, self.is_edge)}: {self.old} -> {self.new} (stored values are not converted)"


@dataclass(frozen=True)
class ChangeMultivalued(MigrationStep):
    """A property became a list or stopped being one; stored values keep their shape."""

    owner: str
    prop: str
    old: bool
    new: bool
    is_edge: bool = False

    @property
    def safe(self) -> bool:
        return False

    def describe(self) -> str:
        shape = "multivalued" if self.new else "single-valued"
        return f"make {_prop_ref(self.owner, self.prop, self.is_edge)} {shape} (stored values are not converted)"


@dataclass(frozen=True)
class ChangeEmbeddingDim(MigrationStep):
    """A property became an embedding, stopped being one, or changed dimension.

    Never safe: a multivalued float property is stored as a set (lists are unioned on
    upsert, duplicates dropped), not as an ordered vector, and vectors of another dimension
    do not fit the index. The values must be recomputed.
    """

    owner: str
    prop: str
    old: int | None
    new: int | None

    @property
    def safe(self) -> bool:
        return False

    def describe(self) -> str:
        where = f"{self.owner}.{self.prop}"
        if self.old is None:
            return f"make {where} an embedding of dimension {self.new} (stored lists are sets, not vectors: re-embed by hand)"
        if self.new is None:
            return f"{where} stops being an embedding (stored vectors and the vector index are left; drop them by hand)"
        return f"change embedding dimension of {where}: {self.old} -> {self.new} (re-embed by hand and rebuild the index)"


@dataclass(frozen=True)
class ChangePrivacy(MigrationStep):
    """A property's privacy category changed. Safe only when it was not personal data before."""

    owner: str
    prop: str
    old: str
    new: str
    is_edge: bool = False

    @property
    def safe(self) -> bool:
        return self.old == PrivacyCategory.NONE.value

    def describe(self) -> str:
        note = "" if self.safe else " (consent checks change; review who may read it)"
        return f"change privacy category of {_prop_ref(self.owner, self.prop, self.is_edge)}: {self.old} -> {self.new}{note}"


@dataclass(frozen=True)
class ChangeConstraint(MigrationStep):
    """`required`, `minimum_value` or `maximum_value` changed. Safe when it got looser."""

    owner: str
    prop: str
    attribute: str
    old: Any
    new: Any
    is_edge: bool = False

    @property
    def safe(self) -> bool:
        if self.attribute == "required":
            return not self.new
        if self.new is None:
            return True
        if self.old is None:
            return False
        return bool(self.new <= self.old) if self.attribute == "minimum" else bool(self.new >= self.old)

    def describe(self) -> str:
        note = "" if self.safe else " (existing values may violate it)"
        return f"change {self.attribute} of {_prop_ref(self.owner, self.prop, self.is_edge)}: {self.old!r} -> {self.new!r}{note}"


@dataclass(frozen=True)
class ChangeCardinality(MigrationStep):
    """An edge type's cardinality changed. Safe when no side becomes functional."""

    edge: str
    old: str
    new: str

    @property
    def safe(self) -> bool:
        return _functional_sides(self.new) <= _functional_sides(self.old)

    def describe(self) -> str:
        note = "" if self.safe else " (existing edges may hold several valid facts where one is now allowed)"
        return f"change cardinality of {self.edge}: {self.old} -> {self.new}{note}"


@dataclass(frozen=True)
class ChangeEdgeEnds(MigrationStep):
    """An edge type's domain (`side="domain"`) or range changed. Safe when nothing was taken away."""

    edge: str
    side: str
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def safe(self) -> bool:
        return not self.removed

    def describe(self) -> str:
        parts = [f"+{', +'.join(self.added)}"] if self.added else []
        parts += [f"-{', -'.join(self.removed)}"] if self.removed else []
        note = " (existing edges at removed types are left)" if self.removed else ""
        return f"change {self.side} of {self.edge}: {'; '.join(parts)}{note}"


@dataclass(frozen=True)
class ChangeIdentity(MigrationStep):
    """An edge type's identity properties changed: stored edge keys would no longer match."""

    edge: str
    old: tuple[str, ...]
    new: tuple[str, ...]

    @property
    def safe(self) -> bool:
        return False

    def describe(self) -> str:
        return f"change identity of {self.edge}: {list(self.old)} -> {list(self.new)} (existing edges keep their old keys)"


@dataclass(frozen=True)
class ChangeCascade(MigrationStep):
    """`cascade_delete` changed. Turning it on makes future deletes remove more: unsafe."""

    edge: str
    old: bool
    new: bool

    @property
    def safe(self) -> bool:
        return not self.new

    def describe(self) -> str:
        return f"{'enable' if self.new else 'disable'} cascade delete along {self.edge}"


@dataclass(frozen=True)
class ChangeEnum(MigrationStep):
    """An enum's permissible values changed. Safe when none was removed."""

    enum: str
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def safe(self) -> bool:
        return not self.removed

    def describe(self) -> str:
        parts = [f"+{', +'.join(self.added)}"] if self.added else []
        parts += [f"-{', -'.join(self.removed)}"] if self.removed else []
        note = " (stored values that were removed are left)" if self.removed else ""
        return f"change values of enum {self.enum}: {'; '.join(parts)}{note}"


def _functional_sides(cardinality: str) -> set[str]:
    sides = set()
    if cardinality in ("many_to_one", "one_to_one"):
        sides.add("subject")
    if cardinality in ("one_to_many", "one_to_one"):
        sides.add("object")
    return sides


# ---------------------------------------------------------------------------------- changes
@dataclass(frozen=True)
class AttributeChange:
    """One attribute of a type or property that differs: its name, old and new value."""

    attribute: str
    old: Any
    new: Any

    def describe(self) -> str:
        """`attribute: old -> new`."""
        return f"{self.attribute}: {_show(self.old)} -> {_show(self.new)}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"attribute": self.attribute, "old": _jsonable(self.old), "new": _jsonable(self.new)}


@dataclass(frozen=True)
class PropertyChanges:
    """How the properties of one type changed. `renamed` holds (old, new) pairs."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    changed: Mapping[str, tuple[AttributeChange, ...]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when no property changed."""
        return not (self.added or self.removed or self.renamed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "renamed": [{"old": o, "new": n} for o, n in self.renamed],
            "changed": {name: [c.to_dict() for c in changes] for name, changes in self.changed.items()},
        }


@dataclass(frozen=True)
class TypeDiff:
    """How one node or edge type that exists in both ontologies changed."""

    name: str
    old_name: str
    changes: tuple[AttributeChange, ...] = ()
    properties: PropertyChanges = field(default_factory=PropertyChanges)

    @property
    def is_empty(self) -> bool:
        """True when neither the type nor its properties changed (a rename alone is not a change)."""
        return not self.changes and self.properties.is_empty

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "name": self.name,
            "old_name": self.old_name,
            "changes": [c.to_dict() for c in self.changes],
            "properties": self.properties.to_dict(),
        }


@dataclass(frozen=True)
class KindDiff:
    """Added, removed, renamed ((old, new) pairs) and changed types of one kind."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    changed: Mapping[str, TypeDiff] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when no type of this kind changed."""
        return not (self.added or self.removed or self.renamed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "renamed": [{"old": o, "new": n} for o, n in self.renamed],
            "changed": {name: d.to_dict() for name, d in self.changed.items()},
        }


@dataclass(frozen=True)
class EnumDiff:
    """Added and removed enums, and enums whose values changed (name -> (added, removed))."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when no enum changed."""
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": {n: {"added": list(a), "removed": list(r)} for n, (a, r) in self.changed.items()},
        }


@dataclass(frozen=True)
class OntologyDiff:
    """Everything that changed from `old_version` to `new_version`, and the implied steps."""

    old_name: str
    new_name: str
    old_version: str
    new_version: str
    node_types: KindDiff
    edge_types: KindDiff
    enums: EnumDiff
    steps: tuple[MigrationStep, ...]

    @property
    def is_empty(self) -> bool:
        """True when the two ontologies describe the same graph."""
        return self.node_types.is_empty and self.edge_types.is_empty and self.enums.is_empty and not self.steps

    @property
    def safe_steps(self) -> list[MigrationStep]:
        """The steps `khub ontology apply` performs."""
        return [s for s in self.steps if s.safe]

    @property
    def unsafe_steps(self) -> list[MigrationStep]:
        """The steps that are only reported."""
        return [s for s in self.steps if not s.safe]

    def steps_of(self, kind: type[MigrationStep]) -> list[Any]:
        """The steps of one class, e.g. `diff.steps_of(RenameProperty)`."""
        return [s for s in self.steps if isinstance(s, kind)]

    def summary(self) -> str:
        """A human report: the changes by kind, then the steps marked safe or UNSAFE."""
        lines = [f"ontology {self.old_name} {self.old_version} -> {self.new_name} {self.new_version}"]
        if self.is_empty:
            lines.append("no changes")
            return "\n".join(lines)
        for title, kind in (("node types", self.node_types), ("edge types", self.edge_types)):
            if kind.is_empty:
                continue
            lines.append(f"{title}:")
            lines += [f"  + {n}" for n in kind.added]
            lines += [f"  - {n}" for n in kind.removed]
            lines += [f"  ~ {o} -> {n} (renamed)" for o, n in kind.renamed]
            for name, tdiff in kind.changed.items():
                lines.append(f"  * {name}" + (f" (was {tdiff.old_name})" if tdiff.old_name != name else ""))
                lines += [f"      {c.describe()}" for c in tdiff.changes]
                props = tdiff.properties
                lines += [f"      + .{p}" for p in props.added]
                lines += [f"      - .{p}" for p in props.removed]
                lines += [f"      ~ .{o} -> .{n} (renamed)" for o, n in props.renamed]
                for pname, changes in props.changed.items():
                    lines.append(f"      * .{pname}: " + "; ".join(c.describe() for c in changes))
        if not self.enums.is_empty:
            lines.append("enums:")
            lines += [f"  + {n}" for n in self.enums.added]
            lines += [f"  - {n}" for n in self.enums.removed]
            for name, (added, removed) in self.enums.changed.items():
                lines.append(f"  * {name}: " + ", ".join([f"+{v}" for v in added] + [f"-{v}" for v in removed]))
        safe, unsafe = self.safe_steps, self.unsafe_steps
        lines.append(f"migration steps: {len(safe)} safe (applied by `khub ontology apply`), {len(unsafe)} unsafe (reported only)")
        lines += [f"  [safe]   {s.describe()}" for s in safe]
        lines += [f"  [UNSAFE] {s.describe()}" for s in unsafe]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form of the whole diff."""
        return {
            "old": {"name": self.old_name, "version": self.old_version},
            "new": {"name": self.new_name, "version": self.new_version},
            "node_types": self.node_types.to_dict(),
            "edge_types": self.edge_types.to_dict(),
            "enums": self.enums.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "safe": all(s.safe for s in self.steps),
        }


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value.value if isinstance(value, PrivacyCategory) else value


# ---------------------------------------------------------------------------------- diffing
#: Property attributes compared between two versions of one property.
PROPERTY_ATTRIBUTES = (
    "range",
    "multivalued",
    "privacy",
    "required",
    "unique",
    "indexed",
    "fulltext",
    "embedding_dim",
    "minimum",
    "maximum",
    "deprecated",
)


def _renames(old_names: Iterable[str], new_items: Mapping[str, Any]) -> dict[str, str]:
    """old name -> new name, for new items whose aliases name an old item that is gone."""
    old_set = set(old_names)
    gone = old_set - set(new_items)
    out: dict[str, str] = {}
    for new_name in sorted(set(new_items) - old_set):
        for alias in new_items[new_name].aliases:
            if alias in gone and alias not in out:
                out[alias] = new_name
                break
    return out


def _property_changes(old: Property, new: Property) -> tuple[AttributeChange, ...]:
    changes = []
    for attr in PROPERTY_ATTRIBUTES:
        before, after = getattr(old, attr), getattr(new, attr)
        if attr == "privacy":
            before, after = before.value, after.value
        if before != after:
            changes.append(AttributeChange(attr, before, after))
    return tuple(changes)


def _property_steps(owner: str, name: str, changes: Iterable[AttributeChange], is_edge: bool) -> list[MigrationStep]:
    steps: list[MigrationStep] = []
    for c in changes:
        if c.attribute == "range":
            steps.append(ChangeRange(owner, name, c.old, c.new, is_edge))
        elif c.attribute == "multivalued":
            steps.append(ChangeMultivalued(owner, name, c.old, c.new, is_edge))
        elif c.attribute == "privacy":
            steps.append(ChangePrivacy(owner, name, c.old, c.new, is_edge))
        elif c.attribute in ("required", "minimum", "maximum"):
            steps.append(ChangeConstraint(owner, name, c.attribute, c.old, c.new, is_edge))
        elif c.attribute in ("unique", "indexed", "fulltext"):
            steps.append((AddIndex if c.new else RemoveIndex)(owner, name, c.attribute, is_edge))
        elif c.attribute == "embedding_dim":
            steps.append(ChangeEmbeddingDim(owner, name, c.old, c.new))
        elif c.attribute == "deprecated" and c.new:
            steps.append(Deprecate(f"{owner}.{name}", str(c.new)))
    return steps


def _index_kinds(prop: Property) -> list[str]:
    kinds = [k for k in ("unique", "indexed", "fulltext") if getattr(prop, k)]
    return [*kinds, "vector"] if prop.is_vector else kinds


def _diff_properties(owner: str, old: Mapping[str, Property], new: Mapping[str, Property], is_edge: bool, steps: list[MigrationStep]) -> PropertyChanges:
    renames = _renames(old, new)
    renamed_new = set(renames.values())
    added = tuple(n for n in new if n not in old and n not in renamed_new)
    removed = tuple(o for o in old if o not in new and o not in renames)
    changed: dict[str, tuple[AttributeChange, ...]] = {}
    for name in added:
        prop = new[name]
        steps.append(AddProperty(owner, name, is_edge, prop.required))
        steps += [AddIndex(owner, name, kind, is_edge) for kind in _index_kinds(prop)]
    for name in removed:
        steps.append(RemoveProperty(owner, name, is_edge))
    for old_name, new_name in renames.items():
        steps.append(RenameProperty(owner, old_name, new_name, is_edge))
    pairs = [(n, n) for n in new if n in old] + [(o, n) for o, n in renames.items()]
    for old_name, new_name in pairs:
        changes = _property_changes(old[old_name], new[new_name])
        if changes:
            changed[new_name] = changes
            steps += _property_steps(owner, new_name, changes, is_edge)
    return PropertyChanges(added, removed, tuple(renames.items()), changed)


def _edge_changes(old: EdgeType, new: EdgeType, node_renames: Mapping[str, str], steps: list[MigrationStep]) -> list[AttributeChange]:
    changes: list[AttributeChange] = []
    for side, before_raw, after in (("domain", old.domain, new.domain), ("range", old.range, new.range)):
        before = tuple(node_renames.get(n, n) for n in before_raw)
        if set(before) != set(after):
            changes.append(AttributeChange(side, before, after))
            added = tuple(n for n in after if n not in before)
            removed = tuple(n for n in before if n not in after)
            steps.append(ChangeEdgeEnds(new.name, side, added, removed))
    if old.cardinality != new.cardinality:
        changes.append(AttributeChange("cardinality", old.cardinality, new.cardinality))
        steps.append(ChangeCardinality(new.name, old.cardinality, new.cardinality))
    if old.identity != new.identity:
        changes.append(AttributeChange("identity", old.identity, new.identity))
        steps.append(ChangeIdentity(new.name, old.identity, new.identity))
    if old.cascade_delete != new.cascade_delete:
        changes.append(AttributeChange("cascade_delete", old.cascade_delete, new.cascade_delete))
        steps.append(ChangeCascade(new.name, old.cascade_delete, new.cascade_delete))
    return changes


def _diff_kind(
    old: Mapping[str, NodeType] | Mapping[str, EdgeType],
    new: Mapping[str, NodeType] | Mapping[str, EdgeType],
    is_edge: bool,
    node_renames: Mapping[str, str],
    steps: list[MigrationStep],
) -> KindDiff:
    renames = _renames(old, new)
    renamed_new = set(renames.values())
    added = tuple(n for n in new if n not in old and n not in renamed_new)
    removed = tuple(o for o in old if o not in new and o not in renames)
    for name in added:
        steps.append(AddEdgeType(name) if is_edge else AddNodeType(name))
    for name in removed:
        steps.append(RemoveType(name, is_edge))
    for old_name, new_name in renames.items():
        steps.append(RenameEdgeType(old_name, new_name) if is_edge else RenameNodeType(old_name, new_name))
    changed: dict[str, TypeDiff] = {}
    pairs = [(n, n) for n in new if n in old] + [(o, n) for o, n in renames.items()]
    for old_name, new_name in pairs:
        before, after = old[old_name], new[new_name]
        type_steps: list[MigrationStep] = []
        changes: list[AttributeChange] = []
        if isinstance(before, EdgeType) and isinstance(after, EdgeType):
            changes += _edge_changes(before, after, node_renames, type_steps)
        if before.deprecated != after.deprecated:
            changes.append(AttributeChange("deprecated", before.deprecated, after.deprecated))
            if after.deprecated:
                type_steps.append(Deprecate(new_name, str(after.deprecated)))
        props = _diff_properties(new_name, before.properties, after.properties, is_edge, type_steps)
        tdiff = TypeDiff(new_name, old_name, tuple(changes), props)
        if not tdiff.is_empty:
            changed[new_name] = tdiff
        steps += type_steps
    return KindDiff(added, removed, tuple(renames.items()), changed)


def _diff_enums(old: Ontology, new: Ontology, steps: list[MigrationStep]) -> EnumDiff:
    added = tuple(n for n in new.enums if n not in old.enums)
    removed = tuple(n for n in old.enums if n not in new.enums)
    changed: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for name in (n for n in new.enums if n in old.enums):
        plus = tuple(v for v in new.enums[name] if v not in old.enums[name])
        minus = tuple(v for v in old.enums[name] if v not in new.enums[name])
        if plus or minus:
            changed[name] = (plus, minus)
            steps.append(ChangeEnum(name, plus, minus))
    return EnumDiff(added, removed, changed)


#: The order steps are listed in: additions and renames first, then the rest.
_STEP_ORDER: tuple[type[MigrationStep], ...] = (
    AddNodeType,
    AddEdgeType,
    RenameNodeType,
    RenameEdgeType,
    AddProperty,
    RenameProperty,
    AddIndex,
    Deprecate,
)


def _order(step: MigrationStep) -> int:
    for i, kind in enumerate(_STEP_ORDER):
        if type(step) is kind:
            return i
    return len(_STEP_ORDER)


def diff_ontologies(old: Ontology, new: Ontology) -> OntologyDiff:
    """Compare two ontologies: added / removed / renamed / changed types and properties, and
    the migration steps they imply (safe ones first, in the order they are applied)."""
    steps: list[MigrationStep] = []
    node_diff = _diff_kind(old.node_types, new.node_types, False, {}, steps)
    node_renames = dict(node_diff.renamed)
    edge_diff = _diff_kind(old.edge_types, new.edge_types, True, node_renames, steps)
    enum_diff = _diff_enums(old, new, steps)
    ordered = sorted(steps, key=lambda s: (not s.safe, _order(s)))
    return OntologyDiff(
        old_name=old.name,
        new_name=new.name,
        old_version=old.version,
        new_version=new.version,
        node_types=node_diff,
        edge_types=edge_diff,
        enums=enum_diff,
        steps=tuple(ordered),
    )


def diff_files(old_path: Path | str, new_path: Path | str) -> OntologyDiff:
    """Load (and validate) two ontology files and compare them; `SchemaInvalid` if either is bad."""
    return diff_ontologies(load_ontology(old_path), load_ontology(new_path))


__all__ = [
    "INDEX_KINDS",
    "AddEdgeType",
    "AddIndex",
    "AddNodeType",
    "AddProperty",
    "AttributeChange",
    "ChangeCardinality",
    "ChangeCascade",
    "ChangeConstraint",
    "ChangeEdgeEnds",
    "ChangeEmbeddingDim",
    "ChangeEnum",
    "ChangeIdentity",
    "ChangeMultivalued",
    "ChangePrivacy",
    "ChangeRange",
    "Deprecate",
    "EnumDiff",
    "KindDiff",
    "MigrationStep",
    "OntologyDiff",
    "PropertyChanges",
    "RemoveIndex",
    "RemoveProperty",
    "RemoveType",
    "RenameEdgeType",
    "RenameNodeType",
    "RenameProperty",
    "TypeDiff",
    "diff_files",
    "diff_ontologies",
]
