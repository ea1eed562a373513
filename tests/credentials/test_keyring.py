"""Issuer keys on disk: mode 0600, rotation keeps every key in the did:web document."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from credentials import DidResolver, IssuerKeyring, KeyFormatError, add_proof, verify_did_auth, verify_proof
from credentials.did_auth import create_did_auth_presentation

DID = "did:web:consentry.example"


def _doc() -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": DID,
        "credentialSubject": {"id": "did:example:alice"},
    }


def test_keyring_is_created_private_and_reopened_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "issuer-keys.json"
    created = IssuerKeyring.load_or_create(path, DID)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert IssuerKeyring.load_or_create(path, DID).current == created.current
    assert created.current.private_key_multibase not in repr(created.current)


def test_a_keyring_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "issuer-keys.json"
    IssuerKeyring.load_or_create(path, DID)
    path.chmod(0o644)
    with pytest.raises(KeyFormatError, match="0600"):
        IssuerKeyring.load_or_create(path, DID)


def test_rotation_keeps_old_receipts_valid_and_moves_login_to_the_new_key(tmp_path: Path) -> None:
    path = tmp_path / "issuer-keys.json"
    ring = IssuerKeyring.load_or_create(path, DID)
    old = ring.current
    receipt = add_proof(
        _doc(), private_key_multibase=old.private_key_multibase, verification_method=old.verification_method
    )
    new = ring.rotate()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert IssuerKeyring.load_or_create(path, DID).current == new != old
    document = ring.did_document()
    assert [m["id"] for m in document["verificationMethod"]] == [old.verification_method, new.verification_method]
    resolver = DidResolver({DID: document})
    assert verify_proof(receipt, resolver=resolver).verified
    login = create_did_auth_presentation(
        DID,
        private_key_multibase=new.private_key_multibase,
        verification_method=new.verification_method,
        challenge="c",
        domain="d",
    )
    assert verify_did_auth(login, challenge="c", domain="d", resolver=resolver) == DID


def test_a_rotation_by_another_process_reaches_an_open_keyring(tmp_path: Path) -> None:
    """The CLI rotates the file while the server holds the keyring: the server signs with the new key."""
    path = tmp_path / "issuer-keys.json"
    server = IssuerKeyring.load_or_create(path, DID)
    before = server.current
    rotated = IssuerKeyring.load_or_create(path, DID).rotate()
    assert server.current == rotated
    assert server.public_keys_multibase[0] == before.verification_method.split("#")[1]
    assert len(server.did_document()["verificationMethod"]) == 2
