"""Check an ontology file and report every problem with its file, line and element."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ontology.errors import SchemaIssue
from ontology.model import (
    ANY_NODE,
    BUILTIN_RANGES,
    CARDINALITIES,
    EDGE_END_SLOTS,
    PrivacyCategory,
    class_kind,
    class_slot_names,
    range_names,
)
from ontology.yamlsource import Lines, line_of, load_yaml_with_lines

SLOT_KEYS = frozenset(
    {
        "range",
        "description",
        "multivalued",
        "required",
        "identifier",
        "annotations",
        "aliases",
        "deprecated",
        "minimum_value",
        "maximum_value",
        "maximum_cardinality",
        "any_of",
        "pattern",
        "title",
        "examples",
    }
)
SLOT_ANNOTATIONS = frozenset({"privacy", "unique", "indexed", "fulltext", "embedding_dim"})
CLASS_KEYS = frozenset(
    {
        "is_a",
        "abstract",
        "description",
        "slots",
        "slot_usage",
        "annotations",
        "aliases",
        "deprecated",
        "title",
        "mixins",
    }
)
CLASS_ANNOTATIONS = frozenset({"khub_kind", "cardinality", "identity", "cascade_delete", "label_zh"})
TOP_KEYS_REQUIRED = ("id", "name", "version", "classes", "slots")
NODE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
EDGE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")


class _Collector:
    def __init__(self, file: str, lines: Lines):
        self.file, self.lines, self.issues = file, lines, []

    def add(self, path: tuple[str, ...], element: str, message: str) -> None:
        self.issues.append(SchemaIssue(self.file, line_of(self.lines, path), element, message))


def validate_file(path: Path | str) -> list[SchemaIssue]:
    """Every problem of the ontology file at `path` (empty when it is valid)."""
    path = Path(path)
    if not path.exists():
        return [SchemaIssue(str(path), 0, "file", "does not exist")]
    try:
        data, lines, duplicates = load_yaml_with_lines(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        return [SchemaIssue(str(path), line, "yaml", str(exc).replace("\n", " "))]
    except UnicodeDecodeError as exc:
        return [SchemaIssue(str(path), 0, "file", f"not UTF-8 text: {exc}")]
    return validate_schema_data(data, lines, duplicates, str(path))


def validate_schema_data(data: Any, lines: Lines, duplicates: list[tuple[tuple[str, ...], int]], file: str) -> list[SchemaIssue]:
    """Every problem of already parsed schema data."""
    c = _Collector(file, lines)
    for path, line in duplicates:
        c.issues.append(SchemaIssue(file, line, ".".join(path), "defined twice in the same mapping"))
    if not isinstance(data, dict):
        c.add((), "schema", "the file must be a YAML mapping (a LinkML schema)")
        return c.issues
    for key in TOP_KEYS_REQUIRED:
        if key not in data:
            c.add((), key, "required top-level key is missing")
    if "version" in data and not VERSION.match(str(data["version"])):
        c.add(("version",), "version", f"{data['version']!r} is not MAJOR.MINOR.PATCH")
    enums = data.get("enums") or {}
    slots = data.get("slots") or {}
    classes = data.get("classes") or {}
    for section, value in (("enums", enums), ("slots", slots), ("classes", classes)):
        if not isinstance(value, dict):
            c.add((section,), section, "must be a mapping of name to definition")
            return c.issues
    _check_enums(c, enums)
    _check_slots(c, slots, enums, classes)
    _check_classes(c, classes, slots)
    _check_aliases(c, classes, slots)
    return c.issues


def _check_enums(c: _Collector, enums: dict[str, Any]) -> None:
    for name, enum in enums.items():
        values = (enum or {}).get("permissible_values") if isinstance(enum, dict) else None
        if not values:
            c.add(("enums", name), f"enum {name}", "has no permissible_values")


def _check_slots(c: _Collector, slots: dict[str, Any], enums: dict[str, Any], classes: dict[str, Any]) -> None:
    for name, slot in slots.items():
        where = ("slots", name)
        element = f"slot {name}"
        if not isinstance(slot, dict):
            c.add(where, element, "must be a mapping")
            continue
        if not PROPERTY_NAME.match(name):
            c.add(where, element, "slot names are lower_snake_case")
        for key in slot:
            if key not in SLOT_KEYS:
                c.add((*where, key), element, f"unknown key {key!r}; allowed: {', '.join(sorted(SLOT_KEYS))}")
        rng = slot.get("range", "string")
        if rng not in BUILTIN_RANGES and rng not in enums and rng not in classes:
            c.add((*where, "range"), element, f"unknown range {rng!r} (not a type, enum or class)")
        ann = slot.get("annotations") or {}
        if not isinstance(ann, dict):
            c.add((*where, "annotations"), element, "annotations must be a mapping")
            continue
        for key in ann:
            if key not in SLOT_ANNOTATIONS:
                c.add((*where, "annotations", key), element, f"unknown annotation {key!r}; allowed: {', '.join(sorted(SLOT_ANNOTATIONS))}")
        privacy = ann.get("privacy")
        allowed = [p.value for p in PrivacyCategory]
        if privacy is None:
            c.add((*where, "annotations"), element, f"has no privacy category (one of {', '.join(allowed)})")
        elif privacy not in allowed:
            c.add((*where, "annotations", "privacy"), element, f"privacy {privacy!r} is not one of {', '.join(allowed)}")
        if "maximum_cardinality" in slot:
            cap = slot["maximum_cardinality"]
            if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0 or not slot.get("multivalued"):
                c.add((*where, "maximum_cardinality"), element, "maximum_cardinality is a positive integer on a multivalued slot (the most recent values kept)")
        for flag in ("unique", "indexed", "fulltext"):
            if flag in ann and not isinstance(ann[flag], bool):
                c.add((*where, "annotations", flag), element, f"{flag} must be true or false")
        if "embedding_dim" in ann:
            dim = ann["embedding_dim"]
            if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
                c.add((*where, "annotations", "embedding_dim"), element, "embedding_dim must be a positive integer")
            if rng not in ("float", "double") or not slot.get("multivalued"):
                c.add((*where, "annotations", "embedding_dim"), element, "an embedding is a multivalued float slot")
        if ann.get("fulltext") and rng != "string":
            c.add((*where, "annotations", "fulltext"), element, "only string slots can be full-text indexed")
        if ann.get("unique") and slot.get("multivalued"):
            c.add((*where, "annotations", "unique"), element, "a multivalued slot cannot be unique")


def _check_classes(c: _Collector, classes: dict[str, Any], slots: dict[str, Any]) -> None:
    node_names = {n for n in classes if class_kind(classes, n) == "node"}
    for name, cls in classes.items():
        where = ("classes", name)
        element = f"class {name}"
        if not isinstance(cls, dict):
            c.add(where, element, "must be a mapping")
            continue
        for key in cls:
            if key not in CLASS_KEYS:
                c.add((*where, key), element, f"unknown key {key!r}; allowed: {', '.join(sorted(CLASS_KEYS))}")
        parent = cls.get("is_a")
        if parent and parent not in classes:
            c.add((*where, "is_a"), element, f"is_a names unknown class {parent!r}")
        for i, slot in enumerate(cls.get("slots") or []):
            if slot not in slots:
                c.add((*where, "slots", str(i)), element, f"uses undefined slot {slot!r}")
        ann = cls.get("annotations") or {}
        for key in ann:
            if key not in CLASS_ANNOTATIONS:
                c.add((*where, "annotations", key), element, f"unknown annotation {key!r}; allowed: {', '.join(sorted(CLASS_ANNOTATIONS))}")
        kind = ann.get("khub_kind")
        if kind is None:
            if not cls.get("abstract"):
                c.add(where, element, "a concrete class needs annotation khub_kind: node or edge")
            continue
        if kind not in ("node", "edge"):
            c.add((*where, "annotations", "khub_kind"), element, f"khub_kind {kind!r} is not node or edge")
            continue
        induced = class_slot_names(classes, name)
        usage = cls.get("slot_usage") or {}
        for slot in usage:
            if slot not in induced:
                c.add((*where, "slot_usage", slot), element, f"slot_usage names {slot!r}, which the class does not have")
        if kind == "node":
            if not NODE_NAME.match(name):
                c.add(where, element, "node type names are CamelCase")
            if "id" not in induced:
                c.add(where, element, "a node type needs the key slot 'id' (is_a: Entity)")
            if EDGE_END_SLOTS & set(induced):
                c.add(where, element, "a node type cannot have subject/object slots")
        else:
            _check_edge(c, name, cls, induced, usage, node_names)


def _check_edge(c: _Collector, name: str, cls: dict[str, Any], induced: list[str], usage: dict[str, Any], node_names: set[str]) -> None:
    where = ("classes", name)
    element = f"edge {name}"
    if not EDGE_NAME.match(name):
        c.add(where, element, "edge type names are UPPER_SNAKE_CASE")
    if not set(induced) >= EDGE_END_SLOTS:
        c.add(where, element, "an edge type needs subject and object (is_a: EdgeBase)")
    for end in ("subject", "object"):
        names = range_names(usage.get(end))
        if not names:
            c.add((*where, "slot_usage"), element, f"{end} needs a range (a node type, any_of node types, or {ANY_NODE})")
        for target in names:
            if target != ANY_NODE and target not in node_names:
                c.add((*where, "slot_usage", end), element, f"{end} range {target!r} is not a node type")
    ann = cls.get("annotations") or {}
    cardinality = ann.get("cardinality", "many_to_many")
    if cardinality not in CARDINALITIES:
        c.add((*where, "annotations", "cardinality"), element, f"cardinality {cardinality!r} is not one of {', '.join(sorted(CARDINALITIES))}")
    identity = ann.get("identity")
    for prop in [identity] if isinstance(identity, str) else identity or []:
        if prop not in induced:
            c.add((*where, "annotations", "identity"), element, f"identity names {prop!r}, which the edge does not have")
    if "cascade_delete" in ann and not isinstance(ann["cascade_delete"], bool):
        c.add((*where, "annotations", "cascade_delete"), element, "cascade_delete must be true or false")


def _check_aliases(c: _Collector, classes: dict[str, Any], slots: dict[str, Any]) -> None:
    for section, items in (("classes", classes), ("slots", slots)):
        for name, item in items.items():
            if not isinstance(item, dict):
                continue
            aliases = item.get("aliases") or []
            for alias in [aliases] if isinstance(aliases, str) else aliases:
                if alias in items:
                    c.add((section, name, "aliases"), f"{section[:-1].replace('classe', 'class')} {name}", f"alias {alias!r} is also a current name")
