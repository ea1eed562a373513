"""C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the signed note that commits a log to a tree head.

The body is exactly: origin, decimal tree size, base64 RFC 9162 root hash, then optional non-empty
extension lines, each ending in a newline. Parsing is strict so that one checkpoint has one spelling:
a signature over a checkpoint then binds a single (origin, size, root), never two readings of it.

CheckpointError subclasses NoteError (itself a ValueError), so an auditor can catch a bad signature
and a bad body with one except clause and still tell them apart when it matters.

Beyond the spec's text, and consistent with `ledger.rfc9162`: a checkpoint of size 0 must carry the
empty-tree hash, and sizes are below 2**63 (Go's int64, which every known log implementation uses).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.b64 import Base64Error, b64decode, b64encode
from ledger.note import NoteError, parse_signer_key, sign_note, verify_note
from ledger.rfc9162 import EMPTY_ROOT, HASH_SIZE

MAX_TREE_SIZE = (1 << 63) - 1
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(NoteError):
    """A checkpoint body is malformed or is not the one expected; the message names the line and rule."""


def _check_line(value: str, what: str) -> None:
    if not value:
        raise CheckpointError(f"{what} is empty")
    if any(ord(c) < 0x20 for c in value):
        raise CheckpointError(f"{what} contains a newline or control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError(f"{what} is not valid UTF-8") from None


@dataclass(frozen=True)
class Checkpoint:
    """A log's claim that its tree of `size` leaves has Merkle root `root`."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError(f"tree size must be an int, not {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size} is outside 0..2**63-1")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            length = len(self.root) if isinstance(self.root, bytes) else type(self.root).__name__
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes, got {length}")
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise CheckpointError("a checkpoint of size 0 must carry the empty-tree hash SHA-256('')")
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("extensions must be a tuple of lines")
        for i, line in enumerate(self.extensions):
            _check_line(line, f"extension line {i + 1}")

    def format(self) -> str:
        """The note text to sign: every line, the last included, ends in a newline."""
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the text of a verified note), refusing anything but the one canonical form."""
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint has {len(lines)} line(s); origin, size and root hash are required")
        origin, size_text, root_text, *extensions = lines
        _check_line(origin, "origin (line 1)")
        if not _SIZE_RE.fullmatch(size_text):
            raise CheckpointError(
                f"tree size (line 2) {size_text[:40]!r} is not a decimal number without leading zeros"
            )
        size = int(size_text)
        if size > MAX_TREE_SIZE:
            raise CheckpointError(f"tree size (line 2) {size_text[:40]} is larger than 2**63-1")
        try:
            root = b64decode(root_text)
        except Base64Error as exc:
            raise CheckpointError(f"root hash (line 3) is {exc}") from None
        if len(root) != HASH_SIZE:
            raise CheckpointError(f"root hash (line 3) is {len(root)} bytes, expected {HASH_SIZE}")
        for i, line in enumerate(extensions):
            _check_line(line, f"extension line {i + 4}")
        return cls(origin, size, root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer_key: str) -> str:
    """Sign as the log; the key's name must be the origin, so a verifier can tell log from witness."""
    name = parse_signer_key(signer_key).name
    if name != checkpoint.origin:
        raise CheckpointError(f"signer key name {name!r} is not the checkpoint origin {checkpoint.origin!r}")
    return sign_note(checkpoint.format(), signer_key)


def verify_checkpoint(note: str | bytes, verifier_keys: Sequence[str], origin: str | None = None) -> Checkpoint:
    """Verify the note's signatures, then parse its body; with `origin`, refuse checkpoints of other logs."""
    checkpoint = Checkpoint.parse(verify_note(note, verifier_keys))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}")
    return checkpoint
