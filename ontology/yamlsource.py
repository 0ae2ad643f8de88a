"""Load YAML while remembering the line of every mapping key, for error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Lines = dict[tuple[str, ...], int]


#: libyaml's parser when PyYAML was built with it (about 10x faster; same nodes and line marks).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_with_lines(path: Path, text: str | None = None) -> tuple[Any, Lines, list[tuple[tuple[str, ...], int]]]:
    """Parse `path` (or `text`, named `path` in messages); return the data, a map from key path
    (tuple of keys) to 1-based line, and the keys that appear twice in one mapping (path, line of
    the repeat).

    Raises `yaml.YAMLError` (with its own line and column) when the text is not YAML.
    """
    text = path.read_text(encoding="utf-8") if text is None else text
    root = yaml.compose(text, Loader=_LOADER)
    lines: Lines = {(): 1}
    duplicates: list[tuple[tuple[str, ...], int]] = []
    if root is None:
        return None, lines, duplicates
    return _convert(root, (), lines, duplicates), lines, duplicates


def _convert(node: yaml.Node, here: tuple[str, ...], lines: Lines, dups: list) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_scalar(key_node))
            path = (*here, key)
            if key in out:
                dups.append((path, key_node.start_mark.line + 1))
            lines[path] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, path, lines, dups)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            path = (*here, str(i))
            lines[path] = item.start_mark.line + 1
            items.append(_convert(item, path, lines, dups))
        return items
    return _scalar(node)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _scalar(node: yaml.Node) -> Any:
    return _CONSTRUCTOR.construct_object(node, deep=True)


def load_yaml_text(text: str) -> Any:
    """Parse YAML text (no line tracking), e.g. an ontology snapshot kept in the graph."""
    return yaml.safe_load(text)


def line_of(lines: Lines, path: tuple[str, ...]) -> int:
    """The line of `path`, or of its nearest ancestor that has one."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)
