"""Source-signed statements: a source system commits to a subject's attribute value and signs the commitment.

The statement (RFC 8785 JSON) names the source and its key, the attribute's schema and schema version, the
subject binding (`zkp.binding`), the commitment(s), a sequence number and a validity window; the source
signs "consentry/zk-statement/v1\\n" ‖ its canonical bytes with Ed25519. Source keys are C2SP signed-note
keys (`name+hexid+base64(0x01 ‖ public key)`), pinned by verifiers exactly like the log's key. The gateway
anchors the signed statement in the ledger and never needs the value; the source hands the openings to
the customer's wallet (`HeldStatement`), which proves from them.

Freshness rests on one rule the source keeps, and signs: for one (source, subject binding, attribute) the
validity windows [issued_at, valid_until) of successive statements never overlap and their sequence
numbers increase (`check_succession`). At any instant at most one statement is current, so a statement
is superseded exactly when its window has ended, and a verifier decides both from the statement and a
trusted time (the checkpoint's cosigned time, `zkp.answer_verifier`). A source that breaks the rule signs
two overlapping statements; anyone holding both can show it (`overlapping`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import rfc8785

from ledger import NoteError, SignerKey, VerifierKey, parse_signer_key, parse_verifier_key
from zkp.binding import BINDING_SIZE, SUBJECT_SALT_SIZE, subject_binding
from zkp.encoding import b64url_decode, b64url_encode
from zkp.errors import EncodingError, ProofRefused, SchemaError, VerificationError
from zkp.pedersen import Commitment, Opening, check_opening, commit
from zkp.schema import MAX_SET_ELEMENTS, AttributeKind, AttributeSchema
from zkp.sets import SetOpening, check_set_opening, commit_set
from zkp.times import format_utc, parse_utc, whole_seconds

STATEMENT_TYPE = "consentry/zk-statement/v1"
SIGNING_PREFIX = b"consentry/zk-statement/v1\n"
SIGNATURE_SIZE = 64
MAX_NAME_LENGTH = 128
MAX_SEQ = 2**53 - 1  # RFC 8785 numbers are doubles
_STATEMENT_KEYS = frozenset(
    {
        "type",
        "source",
        "key_id",
        "attribute",
        "schema_version",
        "subject_binding",
        "commitments",
        "seq",
        "issued_at",
        "valid_until",
    }
)


def _is_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_NAME_LENGTH
        and "+" not in value
        and not any(c.isspace() or ord(c) < 0x20 for c in value)
    )


def _count(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


@dataclass(frozen=True)
class SourceStatement:
    """What a source commits to and signs; see the module docstring for the freshness rule."""

    source: str
    key_id: int
    attribute: AttributeSchema
    schema_version: int
    subject_binding: bytes
    commitments: tuple[Commitment, ...]
    seq: int
    issued_at: datetime
    valid_until: datetime

    def __post_init__(self) -> None:
        if not _is_name(self.source):
            raise SchemaError("the source is a key name: 1 to 128 characters, no spaces or '+'")
        if not _count(self.key_id, 0, 2**32 - 1):
            raise SchemaError("the key ID is a 32-bit unsigned integer")
        if not _count(self.schema_version, 1, MAX_SEQ):
            raise SchemaError("the schema version is a positive integer")
        if not isinstance(self.subject_binding, bytes) or len(self.subject_binding) != BINDING_SIZE:
            raise SchemaError(f"the subject binding is {BINDING_SIZE} bytes")
        object.__setattr__(self, "commitments", tuple(self.commitments))
        if len(self.commitments) != self.attribute.commitment_count:
            raise SchemaError(f"{self.attribute.name!r} takes {self.attribute.commitment_count} commitment(s)")
        if not _count(self.seq, 1, MAX_SEQ):
            raise SchemaError("the sequence number is a positive integer")
        for name in ("issued_at", "valid_until"):
            moment = getattr(self, name)
            if not isinstance(moment, datetime) or whole_seconds(moment) != moment:
                raise SchemaError(f"{name} is a timezone-aware instant in whole seconds")
        if self.issued_at >= self.valid_until:
            raise SchemaError("the validity window is empty: issued_at must come before valid_until")

    def to_json(self) -> dict[str, Any]:
        return {
            "type": STATEMENT_TYPE,
            "source": self.source,
            "key_id": f"{self.key_id:08x}",
            "attribute": self.attribute.to_json(),
            "schema_version": self.schema_version,
            "subject_binding": b64url_encode(self.subject_binding),
            "commitments": [c.to_json() for c in self.commitments],
            "seq": self.seq,
            "issued_at": format_utc(self.issued_at),
            "valid_until": format_utc(self.valid_until),
        }

    @classmethod
    def from_json(cls, data: object) -> SourceStatement:
        if not isinstance(data, Mapping) or set(data) != _STATEMENT_KEYS:
            raise EncodingError(f"a source statement is an object with exactly {', '.join(sorted(_STATEMENT_KEYS))}")
        if data["type"] != STATEMENT_TYPE:
            raise EncodingError(f"unknown statement type {str(data['type'])[:60]!r}")
        key_id = data["key_id"]
        if not isinstance(key_id, str) or len(key_id) != 8 or key_id.strip("0123456789abcdef"):
            raise EncodingError("key_id is 8 lowercase hex digits")
        commitments = data["commitments"]
        if not isinstance(commitments, list) or not 0 < len(commitments) <= MAX_SET_ELEMENTS:
            raise EncodingError(f"commitments is a list of 1 to {MAX_SET_ELEMENTS} points")  # before decoding any
        try:
            return cls(
                source=data["source"],
                key_id=int(key_id, 16),
                attribute=AttributeSchema.from_json(data["attribute"]),
                schema_version=data["schema_version"],
                subject_binding=b64url_decode(data["subject_binding"]),
                commitments=tuple(Commitment.from_json(c) for c in commitments),
                seq=data["seq"],
                issued_at=parse_utc(data["issued_at"], "issued_at"),
                valid_until=parse_utc(data["valid_until"], "valid_until"),
            )
        except SchemaError as exc:
            raise EncodingError(f"source statement is not well-formed: {exc}") from exc

    @cached_property
    def _canonical(self) -> bytes:
        return bytes(rfc8785.dumps(self.to_json()))

    def canonical(self) -> bytes:
        """RFC 8785 bytes (computed once: signing, proving, anchoring and verifying all need them)."""
        return self._canonical

    def digest(self) -> bytes:
        """SHA-256 of the canonical statement: what proofs and anchors refer to."""
        return hashlib.sha256(self._canonical).digest()

    def series(self) -> tuple[str, bytes, str]:
        """The (source, subject binding, attribute) whose statements succeed one another."""
        return self.source, self.subject_binding, self.attribute.name

    def current_at(self, moment: datetime) -> bool:
        return self.issued_at <= moment < self.valid_until


def overlapping(first: SourceStatement, second: SourceStatement) -> bool:
    """Two different statements of one series whose windows overlap or whose sequence numbers collide:
    signed evidence that the source broke the succession rule (both could be current at once)."""
    if first.series() != second.series() or first.digest() == second.digest():
        return False
    return first.seq == second.seq or (first.issued_at < second.valid_until and second.issued_at < first.valid_until)


def check_succession(previous: SourceStatement, following: SourceStatement) -> None:
    """Refuse a statement that may not follow `previous` in its series (a source checks before it signs)."""
    if previous.series() != following.series():
        raise SchemaError("a successor names the same source, subject binding and attribute")
    if following.seq <= previous.seq:
        raise SchemaError(f"sequence number {following.seq} does not follow {previous.seq}")
    if following.issued_at < previous.valid_until:
        raise SchemaError(
            f"the window would overlap its predecessor's: it starts at {format_utc(following.issued_at)}, "
            f"before {format_utc(previous.valid_until)}"
        )


def _signing_bytes(statement: SourceStatement) -> bytes:
    return SIGNING_PREFIX + statement.canonical()


def parse_source_keys(source_keys: Sequence[str]) -> dict[tuple[str, int], VerifierKey]:
    """Pinned source keys by (name, key ID); a malformed or ambiguous key is an `EncodingError`."""
    if isinstance(source_keys, str):
        raise TypeError("source_keys is a sequence of key strings, not a single string")
    keys: dict[tuple[str, int], VerifierKey] = {}
    for encoded in source_keys:
        try:
            key = parse_verifier_key(encoded)
        except NoteError as exc:
            raise EncodingError(f"source key: {exc}") from exc
        if keys.setdefault((key.name, key.key_id), key) != key:
            raise EncodingError(f"two different source keys are named {key.name}+{key.key_id:08x}")
    return keys


@dataclass(frozen=True)
class SignedStatement:
    statement: SourceStatement
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"statement": self.statement.to_json(), "signature": b64url_encode(self.signature)}

    def canonical(self) -> bytes:
        """RFC 8785 bytes of `to_json()`: members sort as "signature" < "statement", and a member's canonical
        form is the canonical form of its value, so the statement's cached bytes are reused."""
        signature = b64url_encode(self.signature).encode("ascii")
        return b'{"signature":"' + signature + b'","statement":' + self.statement.canonical() + b"}"

    @classmethod
    def from_json(cls, data: object) -> SignedStatement:
        if not isinstance(data, Mapping) or set(data) != {"statement", "signature"}:
            raise EncodingError("a signed statement is an object with exactly statement and signature")
        signature = b64url_decode(data["signature"])
        if len(signature) != SIGNATURE_SIZE:
            raise EncodingError(f"the statement signature is {SIGNATURE_SIZE} bytes")
        return cls(SourceStatement.from_json(data["statement"]), signature)

    def check_signature(self, source_keys: Mapping[tuple[str, int], VerifierKey]) -> VerifierKey:
        """The pinned key that signed the statement; `VerificationError` when none did."""
        statement = self.statement
        key = source_keys.get((statement.source, statement.key_id))
        if key is None:
            raise VerificationError(f"no pinned key {statement.source}+{statement.key_id:08x} for this source")
        if not key.verifies(_signing_bytes(statement), self.signature):
            raise VerificationError(f"the statement's signature by {statement.source} does not verify")
        return key


def sign_statement(statement: SourceStatement, signer_key: str) -> SignedStatement:
    """Sign as the source; the statement must name the signer key's name and ID."""
    try:
        signer: SignerKey = parse_signer_key(signer_key)
    except NoteError as exc:
        raise EncodingError(f"source signer key: {exc}") from exc
    if (signer.name, signer.key_id) != (statement.source, statement.key_id):
        raise SchemaError("the statement names another source key than the one signing it")
    return SignedStatement(statement, signer.sign(_signing_bytes(statement)))


AttributeOpening = Opening | SetOpening
AttributeValue = int | str | tuple[str, ...]


def check_statement_opening(statement: SourceStatement, opening: AttributeOpening) -> None:
    """Refuse (`ProofRefused`) an opening that does not open the statement's commitment(s)."""
    if statement.attribute.kind is AttributeKind.CATEGORICAL_SET:
        if not isinstance(opening, SetOpening):
            raise ProofRefused("a set attribute is opened by a set opening")
        check_set_opening(statement.attribute, statement.commitments, opening)
        return
    if not isinstance(opening, Opening):
        raise ProofRefused("a single-valued attribute is opened by a value and a blinding")
    try:
        check_opening(statement.attribute, statement.commitments[0], opening)
    except SchemaError as exc:
        raise ProofRefused(f"the opening's value is not a value of {statement.attribute.name!r}: {exc}") from exc


@dataclass(frozen=True)
class HeldStatement:
    """What the source delivers to the customer's wallet: the signed statement and everything to prove from it.

    The opening lets its holder prove anything true about the value, so `repr` hides it and the wallet
    keeps it in a file only its owner can read."""

    signed: SignedStatement
    subject: str
    subject_salt: bytes
    opening: AttributeOpening

    def __post_init__(self) -> None:
        if subject_binding(self.subject_salt, self.subject) != self.signed.statement.subject_binding:
            raise ProofRefused("the subject and salt do not give the statement's subject binding")
        check_statement_opening(self.signed.statement, self.opening)

    def __repr__(self) -> str:
        s = self.signed.statement
        return f"HeldStatement({s.source!r}, {s.attribute.name!r}, seq={s.seq}, <opening>)"

    @property
    def statement(self) -> SourceStatement:
        return self.signed.statement

    @property
    def value(self) -> AttributeValue:
        return self.opening.elements if isinstance(self.opening, SetOpening) else self.opening.value

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.signed.to_json(),
            "subject": self.subject,
            "subject_salt": b64url_encode(self.subject_salt),
            "opening": self.opening.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> HeldStatement:
        """Parse and check a delivery: binding and opening must match the signed statement."""
        if not isinstance(data, Mapping) or set(data) != {"statement", "subject", "subject_salt", "opening"}:
            raise EncodingError("a held statement is an object with exactly statement, subject, subject_salt, opening")
        signed = SignedStatement.from_json(data["statement"])
        is_set = signed.statement.attribute.kind is AttributeKind.CATEGORICAL_SET
        opening: AttributeOpening = (SetOpening if is_set else Opening).from_json(data["opening"])
        if not isinstance(data["subject"], str):
            raise EncodingError("the subject is a string")
        try:
            return cls(signed, data["subject"], b64url_decode(data["subject_salt"]), opening)
        except ProofRefused as exc:
            raise EncodingError(f"the delivery does not match its statement: {exc}") from exc


def issue_statement(
    signer_key: str,
    *,
    attribute: AttributeSchema,
    schema_version: int,
    subject: str,
    subject_salt: bytes,
    value: int | str | Sequence[str],
    seq: int,
    issued_at: datetime,
    valid_until: datetime,
    previous: SourceStatement | None = None,
) -> HeldStatement:
    """The source's side: commit to `value`, sign the statement, and return what the wallet is to hold.

    Pass the series' `previous` statement to have the succession rule checked before anything is signed."""
    if len(subject_salt) != SUBJECT_SALT_SIZE:
        raise EncodingError(f"the subject salt is exactly {SUBJECT_SALT_SIZE} bytes")
    opening: AttributeOpening
    if attribute.kind is AttributeKind.CATEGORICAL_SET:
        if isinstance(value, int | str):
            raise SchemaError(f"set attribute {attribute.name!r} takes a list of categories")
        commitments, opening = commit_set(attribute, value)
    else:
        if not isinstance(value, int | str):
            raise SchemaError(f"attribute {attribute.name!r} takes a single value")
        commitment, opening = commit(attribute, value)
        commitments = (commitment,)
    try:
        key = parse_signer_key(signer_key)
    except NoteError as exc:
        raise EncodingError(f"source signer key: {exc}") from exc
    statement = SourceStatement(
        source=key.name,
        key_id=key.key_id,
        attribute=attribute,
        schema_version=schema_version,
        subject_binding=subject_binding(subject_salt, subject),
        commitments=commitments,
        seq=seq,
        issued_at=issued_at,
        valid_until=valid_until,
    )
    if previous is not None:
        check_succession(previous, statement)
    return HeldStatement(sign_statement(statement, signer_key), subject, subject_salt, opening)
