"""The suppression list: identifiers of erased data subjects, so that ingest does not bring them back.

An erasure (`reasoning.erasure`) deletes a person's data and then records each identifier they
had (their node id, names, e-mail, phone, other identity or contact properties) as a
`Suppression` node whose id is a keyed digest of the identifier: HMAC-SHA-256 with a secret kept
in the store (`GraphStore.secret`), over the identifier's kind and normalised value. The list holds
no data: nobody can read an identifier back from it, but ingest can test whether a value it meets
is on it, and drops it:

- documents: a mention linked to a suppressed node, or whose name is suppressed, creates no node
  and no edge, and its text is masked in the chunk (`█`, same length, so other mentions keep their
  offsets); suppressed e-mail addresses in the text are masked too;
- events: a reference to a suppressed subject (by id or by e-mail) is dropped, and an event whose
  every performer was suppressed is not imported at all.

`identifiers(ontology, node)` lists what a subject's erasure suppresses; both sides normalise the
same way (names as entity resolution does, e-mails lower-case without tags, phones by their last
nine digits, so `+86 138…` and `138…` match).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graph.consent import SUBJECT_LABELS
from graph.redact import IDENTIFYING
from graph.store import GraphStore, Node, NodeRef
from ingest.entities import normalise_for_key
from ingest.resolve import normalise_email, normalise_key, normalise_phone
from ontology.model import Ontology

#: The store secret the digests are keyed with.
SECRET_NAME = "erasure"
#: Properties that are names (normalised as entity resolution normalises them).
NAME_PROPERTIES = frozenset({"name", "full_name", "legal_name", "alias_names"})
EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
#: A phone number as people write it in text: digits with spaces, dashes, dots or brackets between.
PHONE_IN_TEXT = re.compile(r"(?<![\w+])\+?\(?\d[\d\s().\-]{5,}\d(?!\w)")
PHONE_DIGITS = 9


@dataclass(frozen=True)
class Identifier:
    """One identifier of a subject: its kind, the value as stored, and the normalised form digested."""

    kind: str
    value: str
    normalised: str


def normalise_identifier(kind: str, value: Any) -> str:
    """The form of `value` that is digested for `kind` ("" when there is nothing to suppress)."""
    if value is None:
        return ""
    text = str(value)
    if kind == "email":
        return normalise_email(text)
    if kind == "phone":
        digits = normalise_phone(text)
        return digits[-PHONE_DIGITS:] if digits else ""
    label, _, what = kind.partition(":")
    if what == "name":
        return normalise_for_key(label, text)
    if what == "id":
        return text
    return normalise_key(text) or text.strip().lower()


def identifier_kind(label: str, prop: str) -> str:
    """The kind a property's values are suppressed as: e-mails and phones across types, names and other keys per type."""
    if prop == "email":
        return "email"
    if prop == "phone":
        return "phone"
    return f"{label}:name" if prop in NAME_PROPERTIES else f"{label}:{prop}"


def identifiers(ontology: Ontology, node: Node) -> list[Identifier]:
    """Every identifier of `node` an erasure suppresses: its id, and each value of its identity or
    contact properties (lists item by item)."""
    out: dict[tuple[str, str], Identifier] = {}

    def add(kind: str, value: Any) -> None:
        norm = normalise_identifier(kind, value)
        if norm:
            out.setdefault((kind, norm), Identifier(kind, str(value), norm))

    add(f"{node.label}:id", node.id)
    properties = ontology.node_types[node.label].properties
    for name, value in node.props.items():
        prop = properties.get(name)
        if prop is None or prop.privacy.value not in IDENTIFYING or prop.is_vector:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and item.strip():
                add(identifier_kind(node.label, name), item)
    return list(out.values())


def contact_spans(text: str, emails: set[str], phones: set[str]) -> list[tuple[int, int]]:
    """Spans of the given e-mail addresses and phone numbers (normalised as `normalise_identifier`
    does) in `text`, however they are written there: what an erasure masks before the subject's
    identifiers are on the suppression list."""
    spans = [m.span() for m in EMAIL_IN_TEXT.finditer(text) if emails and normalise_identifier("email", m.group()) in emails]
    return spans + [m.span() for m in PHONE_IN_TEXT.finditer(text) if phones and normalise_identifier("phone", m.group()) in phones]


def digest(secret: str, kind: str, normalised: str) -> str:
    """The keyed digest of one normalised identifier (the Suppression node id)."""
    return hmac.new(secret.encode(), f"{kind}|{normalised}".encode(), hashlib.sha256).hexdigest()


class SuppressionList:
    """The suppression list of one store, loaded in memory (`refresh` re-reads it)."""

    def __init__(self, store: GraphStore):
        self.store = store
        self._secret: str | None = None
        self._digests: frozenset[str] = frozenset()
        self.refresh()

    @property
    def secret(self) -> str:
        """The store's erasure secret (created on first use)."""
        if self._secret is None:
            self._secret = self.store.secret(SECRET_NAME)
        return self._secret

    def refresh(self) -> None:
        """Re-read the list from the store (cheap: one page per 5,000 entries; nothing when empty)."""
        if "Suppression" not in self.store.ontology.node_types:
            self._digests = frozenset()
            return
        found: set[str] = set()
        after: str | None = None
        while True:
            page = self.store.scan_nodes("Suppression", after=after, limit=5000, props=())
            found.update(n.id for n in page)
            if len(page) < 5000:
                break
            after = page[-1].id
        self._digests = frozenset(found)

    def __len__(self) -> int:
        return len(self._digests)

    def digest_of(self, kind: str, value: Any) -> str | None:
        """The digest of `value` as a `kind` identifier, None when it normalises to nothing."""
        norm = normalise_identifier(kind, value)
        return digest(self.secret, kind, norm) if norm else None

    def contains(self, kind: str, value: Any) -> bool:
        """True when `value`, as a `kind` identifier, belongs to an erased subject."""
        if not self._digests:
            return False
        key = self.digest_of(kind, value)
        return key is not None and key in self._digests

    def node(self, ref: NodeRef) -> bool:
        """True when `ref` is the id of an erased subject."""
        return self.contains(f"{ref.label}:id", ref.id)

    def erased(self, label: str, node_id: str, props: Mapping[str, Any]) -> str | None:
        """Which identifier of a node about to be written belongs to an erased subject (`id`, or the
        property's name), None when none does or `label` is not a data subject's type."""
        if not self._digests or label not in SUBJECT_LABELS:
            return None
        if self.node(NodeRef(label, node_id)):
            return "id"
        for name, value in props.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and self.contains(identifier_kind(label, name), item):
                    return name
        return None

    def name(self, label: str, text: str) -> bool:
        """True when `text` is a name of an erased subject of type `label`."""
        return self.contains(f"{label}:name", text)

    def email_spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of suppressed e-mail addresses in `text`."""
        if not self._digests or "@" not in text:
            return []
        return [m.span() for m in EMAIL_IN_TEXT.finditer(text) if self.contains("email", m.group())]

    def phone_spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of suppressed phone numbers in `text`, however written (`020-7946-0018` for a
        stored `+44 20 7946 0018`: compared by their last nine digits)."""
        if not self._digests:
            return []
        return [m.span() for m in PHONE_IN_TEXT.finditer(text) if self.contains("phone", m.group())]

    def text_spans(self, text: str) -> list[tuple[int, int]]:
        """Spans of an erased subject's e-mail addresses and phone numbers in free text."""
        return self.email_spans(text) + self.phone_spans(text)

    def subject_digest(self, ref: NodeRef) -> str:
        """The keyed digest of a subject's Type:id, as tombstones and requests record it."""
        return digest(self.secret, "subject", str(ref))
