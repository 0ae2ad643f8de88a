"""The ontology a deployment runs on, and stewards' edits to it: a draft, versions, the active one.

Stewards change the ontology without editing files on the server (GraphQL `addNodeType`,
`addEdgeType`, `addProperty`, `addIntentDefinition`, then `applyOntology`). Everything lives
under `<data_dir>/ontology/`:

- `draft/`: the edits not applied yet: `schema.yaml` (the whole LinkML schema, its version one
  minor above the one it started from), `intents/<id>.yaml` (intent definitions added or
  replaced) and `draft.json` (base version, version, and every edit with author, time, comment).
  Each edit is checked at once, the whole schema with `ontology.validate` and an intent against
  the draft's ontology with `ontology.intents.parse_intent`: a refused edit changes nothing and
  its errors name the element (and the line of the draft file).
- `active/`: what was last applied: `schema.yaml` and the added `intents/`. When it exists it
  is the configured ontology (`configured_schema_path`) for every khub process on this data
  directory, unless `settings.ontology_path` names a file; intent definitions are the shipped
  ones with the added ones over them (same id: the added one wins).
- `versions/<version>/`: a copy of each applied version with `meta.json` (who applied it, when,
  its edits and the migration report), so any version can be read back.

Applying (the graph side: migrations and the record of the version) is `graph.migrations.apply_draft`;
this module knows files only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ontology.errors import BadInput, NotFound, SchemaInvalid, SchemaIssue
from ontology.intents import INTENT_DIR, IntentDefinition, load_intents, parse_intent
from ontology.model import BUILTIN_RANGES, DEFAULT_SCHEMA, NODE_KEY, Ontology, build_ontology, class_slot_names
from ontology.settings import Settings
from ontology.validate import validate_schema_data
from ontology.yamlsource import load_yaml_text, load_yaml_with_lines

CARDINALITIES = ("many_to_many", "many_to_one", "one_to_many", "one_to_one")
INTENT_ID = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
#: The longest intent definition a steward may send, in characters.
MAX_INTENT_CHARS = 100_000


@dataclass(frozen=True)
class PropertySpec:
    """A property a steward adds: its slot name, range, privacy category and index flags."""

    name: str
    range: str = "string"
    privacy: str = "none"
    description: str = ""
    multivalued: bool = False
    indexed: bool = False
    unique: bool = False
    fulltext: bool = False

    def slot(self) -> dict[str, Any]:
        """The LinkML slot definition."""
        annotations: dict[str, Any] = {"privacy": self.privacy}
        for flag in ("indexed", "unique", "fulltext"):
            if getattr(self, flag):
                annotations[flag] = True
        slot: dict[str, Any] = {"range": self.range}
        if self.multivalued:
            slot["multivalued"] = True
        if self.description:
            slot["description"] = self.description
        slot["annotations"] = annotations
        return slot


@dataclass(frozen=True)
class Edit:
    """One change of a draft: what, to which element, by whom, when and why."""

    kind: str
    element: str
    by: str
    at: str
    comment: str = ""


@dataclass
class Draft:
    """The steward edits not applied yet."""

    base_version: str
    version: str
    edits: list[Edit] = field(default_factory=list)
    ontology: Ontology | None = None
    intents: list[str] = field(default_factory=list)  # ids added or replaced


@dataclass(frozen=True)
class VersionInfo:
    """One applied version: when, by whom, its edits."""

    version: str
    applied_at: str
    applied_by: str
    edits: list[Edit]
    report: dict[str, Any]


def bump_minor(version: str) -> str:
    """`1.3.0` -> `1.4.0`; `BadInput` for a version that is not MAJOR.MINOR.PATCH."""
    parts = version.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[0]}.{int(parts[1]) + 1}.0"
    raise BadInput(f"the ontology version {version!r} is not MAJOR.MINOR.PATCH")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def dump_schema(data: dict[str, Any]) -> str:
    """YAML text of schema data, keys in their order."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=160, default_flow_style=None)


class OntologyWorkspace:
    """The ontology files of one data directory: draft, active and versions (see the module doc)."""

    def __init__(self, data_dir: Path, base_schema: Path | None = None, shipped_intents: Path = INTENT_DIR):
        self.root = Path(data_dir) / "ontology"
        self.base_schema = Path(base_schema) if base_schema else DEFAULT_SCHEMA
        self.shipped_intents = shipped_intents

    @classmethod
    def for_settings(cls, settings: Settings) -> OntologyWorkspace:
        """The workspace of `settings.data_dir`, over the shipped schema."""
        return cls(settings.data_dir)

    # ------------------------------------------------------------------ paths
    @property
    def draft_dir(self) -> Path:
        return self.root / "draft"

    @property
    def active_dir(self) -> Path:
        return self.root / "active"

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    def active_schema_path(self) -> Path:
        """The schema in force: the last applied here, else the base (shipped) one."""
        active = self.active_dir / "schema.yaml"
        return active if active.is_file() else self.base_schema

    def intent_files(self, include_draft: bool = False) -> list[Path]:
        """The intent definition files in force: shipped ones, with added ones (by file name = id) over them."""
        files = {p.stem: p for p in sorted(self.shipped_intents.glob("*.yaml"))}
        layers = [self.active_dir / "intents"] + ([self.draft_dir / "intents"] if include_draft else [])
        for layer in layers:
            for path in sorted(layer.glob("*.yaml")):
                files[path.stem] = path
        return [files[k] for k in sorted(files)]

    def intents(self, ontology: Ontology | None = None) -> list[IntentDefinition]:
        """The intent definitions in force, validated against `ontology` (default: the active one)."""
        return load_intents(self.intent_files(), ontology or self.active_ontology())

    def active_ontology(self) -> Ontology:
        """The ontology in force (validated)."""
        from ontology.model import load_ontology

        return load_ontology(self.active_schema_path())

    # ------------------------------------------------------------------ the draft
    def draft(self) -> Draft | None:
        """The pending draft, with its ontology built; None when there is none."""
        meta_path = self.draft_dir / "draft.json"
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        draft = Draft(meta["base_version"], meta["version"], [Edit(**e) for e in meta.get("edits", [])])
        draft.ontology = self._load_draft_ontology()
        draft.intents = sorted(p.stem for p in (self.draft_dir / "intents").glob("*.yaml"))
        return draft

    def discard_draft(self) -> bool:
        """Drop the pending draft; False when there was none."""
        if not self.draft_dir.exists():
            return False
        shutil.rmtree(self.draft_dir)
        return True

    def draft_schema_text(self) -> str:
        """The YAML text of the draft schema; `NotFound` when there is no draft."""
        path = self.draft_dir / "schema.yaml"
        if not path.is_file():
            raise NotFound("there is no ontology draft (add a type, a property or an intent definition first)")
        return path.read_text(encoding="utf-8")

    def _load_draft_ontology(self) -> Ontology:
        path = self.draft_dir / "schema.yaml"
        data, lines, duplicates = load_yaml_with_lines(path)
        issues = validate_schema_data(data, lines, duplicates, str(path))
        if issues:
            raise SchemaInvalid(issues)
        return build_ontology(data, path)

    def _draft_data(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The draft schema data and its metadata (started from the active schema when there is no draft)."""
        meta_path = self.draft_dir / "draft.json"
        if meta_path.is_file():
            return load_yaml_text(self.draft_schema_text()), json.loads(meta_path.read_text(encoding="utf-8"))
        data = load_yaml_text(self.active_schema_path().read_text(encoding="utf-8"))
        base = str(data.get("version"))
        data["version"] = bump_minor(base)
        return data, {"base_version": base, "version": data["version"], "started_at": _now(), "edits": []}

    def _save_draft(self, data: dict[str, Any], meta: dict[str, Any], edit: Edit, intent: tuple[str, str] | None = None) -> Draft:
        """Check the changed draft whole; keep it only when it is valid (else `SchemaInvalid`, nothing kept)."""
        staging = Path(tempfile.mkdtemp(prefix=".draft.", dir=self._ensure_root()))
        try:
            if self.draft_dir.exists():
                shutil.copytree(self.draft_dir, staging, dirs_exist_ok=True)
            schema_path = staging / "schema.yaml"
            schema_path.write_text(dump_schema(data), encoding="utf-8")
            loaded, lines, duplicates = load_yaml_with_lines(schema_path)
            issues = validate_schema_data(loaded, lines, duplicates, "draft/schema.yaml")
            if issues:
                raise SchemaInvalid(issues)
            ontology = build_ontology(loaded, schema_path)
            if intent is not None:
                intent_path = staging / "intents" / f"{intent[0]}.yaml"
                intent_path.parent.mkdir(parents=True, exist_ok=True)
                intent_path.write_text(intent[1], encoding="utf-8")
            # every intent in force must still hold on the changed schema (and the new one must)
            files = {p.stem: p for p in self.intent_files()}
            files.update({p.stem: p for p in (staging / "intents").glob("*.yaml")})
            problems: list[SchemaIssue] = []
            for path in files.values():
                _definition, found = parse_intent(path, ontology)
                problems += [SchemaIssue(_shown(i.file, staging), i.line, i.element, i.message) for i in found]
            if problems:
                raise SchemaInvalid(problems)
            meta["edits"].append(asdict(edit))
            (staging / "draft.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
            if self.draft_dir.exists():
                shutil.rmtree(self.draft_dir)
            os.replace(staging, self.draft_dir)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        found_draft = self.draft()
        assert found_draft is not None
        return found_draft

    def _ensure_root(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root

    # ------------------------------------------------------------------ edits
    def add_node_type(
        self, name: str, by: str, description: str = "", properties: Sequence[PropertySpec] = (), label_zh: str | None = None, comment: str = ""
    ) -> Draft:
        """Add a node type (an `Entity`, so it has `id` and provenance) with its properties."""
        data, meta = self._draft_data()
        classes = data.setdefault("classes", {})
        if name in classes:
            raise BadInput(f"the ontology already has a class {name!r}")
        annotations: dict[str, Any] = {"khub_kind": "node"}
        if label_zh:
            annotations["label_zh"] = label_zh
        cls: dict[str, Any] = {"is_a": "Entity", "description": description or f"{name} (added by {by})", "slots": []}
        cls["annotations"] = annotations
        classes[name] = cls
        for spec in properties:
            self._attach(data, name, spec)
        return self._save_draft(data, meta, Edit("add_node_type", name, by, _now(), comment))

    def add_edge_type(
        self,
        name: str,
        by: str,
        subject: Sequence[str],
        object: Sequence[str],
        cardinality: str = "many_to_many",
        description: str = "",
        properties: Sequence[PropertySpec] = (),
        comment: str = "",
    ) -> Draft:
        """Add an edge type from `subject` node types to `object` node types (an `EdgeBase`: provenance and valid time)."""
        data, meta = self._draft_data()
        classes = data.setdefault("classes", {})
        if name in classes:
            raise BadInput(f"the ontology already has a class {name!r}")
        if cardinality not in CARDINALITIES:
            raise BadInput(f"cardinality {cardinality!r} is not one of {', '.join(CARDINALITIES)}")
        if not subject or not object:
            raise BadInput(f"edge type {name}: give at least one subject and one object node type")
        classes[name] = {
            "is_a": "EdgeBase",
            "description": description or f"{name} (added by {by})",
            "slots": [],
            "slot_usage": {"subject": _ends(subject), "object": _ends(object)},
            "annotations": {"khub_kind": "edge", "cardinality": cardinality},
        }
        for spec in properties:
            self._attach(data, name, spec)
        return self._save_draft(data, meta, Edit("add_edge_type", name, by, _now(), comment))

    def add_property(self, owner: str, spec: PropertySpec, by: str, comment: str = "") -> Draft:
        """Add a property to a node or edge type."""
        data, meta = self._draft_data()
        if owner not in (data.get("classes") or {}):
            raise BadInput(f"no node or edge type {owner!r} in the ontology")
        self._attach(data, owner, spec)
        return self._save_draft(data, meta, Edit("add_property", f"{owner}.{spec.name}", by, _now(), comment))

    def add_intent_definition(self, text: str, by: str, comment: str = "") -> Draft:
        """Add an intent definition (the YAML of one `ontology/intents/*.yaml` file), or replace one
        with a higher `version`; checked against the draft's ontology."""
        if len(text) > MAX_INTENT_CHARS:
            raise BadInput(f"the intent definition has {len(text)} characters; at most {MAX_INTENT_CHARS}")
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise BadInput(f"the intent definition is not YAML{where}: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(parsed, dict):
            raise BadInput("an intent definition is one mapping (id, subject, signals, threshold, ...)")
        intent_id = str(parsed.get("id", ""))
        if not INTENT_ID.match(intent_id):
            raise BadInput(f"intent id {intent_id[:80]!r}: lower_snake_case, 2 to 63 characters")
        current = {p.stem: p for p in self.intent_files(include_draft=True)}.get(intent_id)
        if current is not None:
            old_version = int((yaml.safe_load(current.read_text(encoding="utf-8")) or {}).get("version", 1))
            new_version = parsed.get("version", 1)
            if not isinstance(new_version, int) or new_version <= old_version:
                raise BadInput(f"intent {intent_id!r} exists at version {old_version}: a replacement needs a higher version")
        data, meta = self._draft_data()
        return self._save_draft(data, meta, Edit("add_intent_definition", intent_id, by, _now(), comment), intent=(intent_id, text))

    @staticmethod
    def _attach(data: dict[str, Any], owner: str, spec: PropertySpec) -> None:
        classes, slots = data.setdefault("classes", {}), data.setdefault("slots", {})
        enums = data.get("enums") or {}
        if spec.name == NODE_KEY or spec.name in ("subject", "object"):
            raise BadInput(f"{owner}.{spec.name}: {spec.name!r} is reserved")
        if spec.range not in BUILTIN_RANGES and spec.range not in enums:
            raise BadInput(f"{owner}.{spec.name}: unknown range {spec.range!r} (one of {', '.join(sorted(BUILTIN_RANGES))} or an enum)")
        if spec.name in class_slot_names(classes, owner):
            raise BadInput(f"{owner} already has a property {spec.name!r}")
        wanted = spec.slot()
        existing = slots.get(spec.name)
        if existing is not None:
            same = (
                existing.get("range", "string") == wanted["range"]
                and bool(existing.get("multivalued")) == spec.multivalued
                and (existing.get("annotations") or {}).get("privacy") == spec.privacy
            )
            if not same:
                shown = f"range {existing.get('range', 'string')}, privacy {(existing.get('annotations') or {}).get('privacy')}"
                raise BadInput(f"{owner}.{spec.name}: a property {spec.name!r} already exists with {shown}; use the same definition or another name")
        else:
            slots[spec.name] = wanted
        classes[owner].setdefault("slots", []).append(spec.name)

    # ------------------------------------------------------------------ versions
    def promote_draft(self, by: str, report: dict[str, Any]) -> VersionInfo:
        """Make the draft the active ontology and keep a copy as a version (after the graph took it)."""
        draft = self.draft()
        if draft is None:
            raise NotFound("there is no ontology draft to apply")
        info = VersionInfo(draft.version, _now(), by, draft.edits, report)
        target = self.versions_dir / draft.version
        staging = Path(tempfile.mkdtemp(prefix=".version.", dir=self._ensure_root()))
        try:
            shutil.copy2(self.draft_dir / "schema.yaml", staging / "schema.yaml")
            intents = staging / "intents"
            intents.mkdir()
            for path in (self.active_dir / "intents").glob("*.yaml"):
                shutil.copy2(path, intents / path.name)
            for path in (self.draft_dir / "intents").glob("*.yaml"):
                shutil.copy2(path, intents / path.name)
            meta = {**asdict(info), "edits": [asdict(e) for e in draft.edits]}
            (staging / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
            self.versions_dir.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(staging, target)
            active_staging = self.root / ".active.new"
            if active_staging.exists():
                shutil.rmtree(active_staging)
            shutil.copytree(staging, active_staging)
            (active_staging / "meta.json").unlink()
            if self.active_dir.exists():
                shutil.rmtree(self.active_dir)
            os.replace(active_staging, self.active_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.discard_draft()
        return info

    def versions(self) -> list[VersionInfo]:
        """Every version applied through the workspace, oldest first."""
        found = []
        for meta_path in self.versions_dir.glob("*/meta.json"):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            found.append(VersionInfo(meta["version"], meta["applied_at"], meta["applied_by"], [Edit(**e) for e in meta["edits"]], meta.get("report") or {}))
        return sorted(found, key=lambda v: v.applied_at)


def _ends(names: Sequence[str]) -> dict[str, Any]:
    names = list(dict.fromkeys(names))
    return {"range": names[0]} if len(names) == 1 else {"any_of": [{"range": n} for n in names]}


def _shown(file: str, staging: Path) -> str:
    """A staging path as the steward knows it (draft/...)."""
    return file.replace(str(staging), "draft") if file.startswith(str(staging)) else Path(file).name


def configured_schema_path(settings: Settings) -> Path:
    """The ontology file a process on `settings` runs on: `settings.ontology_path`, else the one
    last applied in the data directory's workspace, else the shipped one."""
    if settings.ontology_path:
        return Path(settings.ontology_path)
    return OntologyWorkspace.for_settings(settings).active_schema_path()


_intent_cache: dict[tuple[Any, ...], list[IntentDefinition]] = {}
_cache_lock = threading.Lock()


def configured_intents(settings: Settings, ontology: Ontology) -> list[IntentDefinition]:
    """The intent definitions a process on `settings` runs: shipped ones with the workspace's added
    ones over them. Kept while the files (names and modification times) and the ontology stay the same."""
    files = OntologyWorkspace.for_settings(settings).intent_files()
    key = (id(ontology), ontology.version, tuple((str(p), p.stat().st_mtime_ns) for p in files))
    with _cache_lock:
        found = _intent_cache.get(key)
    if found is None:
        found = load_intents(files, ontology)
        with _cache_lock:
            if len(_intent_cache) > 16:
                _intent_cache.clear()
            _intent_cache[key] = found
    return list(found)
