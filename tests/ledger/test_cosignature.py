"""C2SP tlog-cosignature v1 (Ed25519, type 0x04): a timestamped cosignature on a checkpoint, checked against
the specification's own wording (key ID, signed message, signature layout) with an independent Ed25519 check."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import (
    Checkpoint,
    NoteError,
    cosign,
    cosigner_verifier_key,
    generate_cosigner_key,
    generate_signer_key,
    parse_cosigner_verifier_key,
    sign_checkpoint,
    verify_checkpoint,
    verify_cosignatures,
)

ORIGIN = "consentry.test/log"
ROOT = hashlib.sha256(b"root").digest()


@pytest.fixture(scope="module")
def log_keys() -> tuple[str, str]:
    return generate_signer_key(ORIGIN)


@pytest.fixture(scope="module")
def clock() -> tuple[str, str]:
    return generate_cosigner_key("consentry.test/clock")


def _note(log_keys: tuple[str, str]) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, 20852163, ROOT), log_keys[0])


def test_a_cosignature_matches_the_specified_key_id_message_and_layout(
    log_keys: tuple[str, str], clock: tuple[str, str]
) -> None:
    note = cosign(_note(log_keys), clock[0], 1679315147)
    vkey = clock[1]
    name, key_id_hex, key64 = vkey.split("+", 2)
    raw_key = base64.b64decode(key64)
    assert raw_key[0] == 0x04 and len(raw_key) == 33
    assert key_id_hex == hashlib.sha256(name.encode() + b"\n\x04" + raw_key[1:]).digest()[:4].hex()
    line = note.splitlines()[-1]
    assert line.startswith(f"\u2014 {name} ")
    signature = base64.b64decode(line.split(" ")[2])
    assert signature[:4].hex() == key_id_hex
    assert int.from_bytes(signature[4:12], "big") == 1679315147
    body = Checkpoint(ORIGIN, 20852163, ROOT).format()
    Ed25519PublicKey.from_public_bytes(raw_key[1:]).verify(
        signature[12:], f"cosignature/v1\ntime 1679315147\n{body}".encode()
    )
    [found] = verify_cosignatures(note, [vkey])
    assert (found.name, found.timestamp) == (name, 1679315147)
    assert verify_checkpoint(note, [log_keys[1]]).size == 20852163  # the log's signature still verifies


def test_unknown_cosigners_are_ignored_and_a_failing_known_one_rejects(
    log_keys: tuple[str, str], clock: tuple[str, str]
) -> None:
    note = cosign(_note(log_keys), clock[0], 1_700_000_000)
    _, stranger = generate_cosigner_key("consentry.test/stranger")
    assert verify_cosignatures(note, [stranger]) == []
    lines = note.splitlines(keepends=True)
    raw = bytearray(base64.b64decode(lines[-1].split(" ")[2]))
    raw[11] ^= 1  # the timestamp: a cosignature cannot be moved to another time
    lines[-1] = f"{lines[-1].rsplit(' ', 1)[0]} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError, match="invalid cosignature"):
        verify_cosignatures("".join(lines), [clock[1]])


def test_cosigning_again_replaces_the_earlier_cosignature_by_the_same_key(
    log_keys: tuple[str, str], clock: tuple[str, str]
) -> None:
    note = cosign(cosign(_note(log_keys), clock[0], 10), clock[0], 20)
    assert [c.timestamp for c in verify_cosignatures(note, [clock[1]])] == [20]


def test_keys_and_timestamps_are_checked(log_keys: tuple[str, str], clock: tuple[str, str]) -> None:
    assert cosigner_verifier_key(clock[0]) == clock[1]
    assert parse_cosigner_verifier_key(clock[1]).name == "consentry.test/clock"
    with pytest.raises(NoteError, match="expected 0x04"):
        parse_cosigner_verifier_key(log_keys[1])  # a note key (0x01) is not a cosigner key
    with pytest.raises(NoteError, match="timestamp"):
        cosign(_note(log_keys), clock[0], -1)
    with pytest.raises(NoteError):
        cosign("not a note\n\n\u2014 x AAAA\n", clock[0], 1)
