"""A data directory written before `keyfiles` keeps working: the gateway started on it signs with the same keys,
pseudonymises with the same secret, publishes the same issuer keys and opens what was sealed before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from credentials import IssuerKeyring
from credentials.keys import key_pair_from_private, private_key_from_multibase
from gateway.auth.custody import CustodyVault
from gateway.keys import KeyStore
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.zk.sealing import OpeningSealer, load_opening_key, row_binding
from tests.keyfiles.legacy_layout import LegacyKeys, write_legacy_keys
from zkp import Opening

OPENING = Opening(42, 7)
BINDING = row_binding("pseudonym-1", "age", 3, "commitment")


@pytest.fixture
def legacy(tmp_path: Path) -> tuple[Path, LegacyKeys]:
    data_dir = tmp_path / "data"
    return data_dir, write_legacy_keys(data_dir / "keys", OPENING.to_bytes(), BINDING)


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture
def started(legacy: tuple[Path, LegacyKeys]) -> Iterator[tuple[Runtime, LegacyKeys, dict[str, bytes]]]:
    data_dir, keys = legacy
    before = _files(data_dir / "keys")
    runtime = Runtime.start(Settings(data_dir=data_dir, issuer="http://127.0.0.1:8000"))
    try:
        yield runtime, keys, before
    finally:
        runtime.close()


def test_the_gateway_signs_with_the_rings_it_finds(started: tuple[Runtime, LegacyKeys, dict[str, bytes]]) -> None:
    runtime, keys, _ = started
    token = runtime.keys.ring("token")
    assert [key.kid for key in token.keys] == [entry["kid"] for entry in keys.token]
    assert token.current_kid == keys.token[-1]["kid"]
    assert token.current.private_jwk() == {k: v for k, v in keys.token[-1].items() if k != "created"}
    assert runtime.keys.ring("checkpoint").current.private_jwk()["d"] == keys.checkpoint[0]["d"]
    assert token.current.created == "2026-06-07T08:09:10+00:00"


def test_the_secrets_are_the_ones_on_disk(started: tuple[Runtime, LegacyKeys, dict[str, bytes]]) -> None:
    runtime, keys, _ = started
    assert runtime.pseudonym_key == keys.secrets["pseudonym"]
    assert runtime.keys.secret("custody") == keys.secrets["custody"]
    assert load_opening_key(runtime.settings.data_dir / "keys") == keys.secrets["zk-opening"]


def test_the_issuer_publishes_every_key_and_signs_with_the_newest(
    started: tuple[Runtime, LegacyKeys, dict[str, bytes]],
) -> None:
    runtime, keys, _ = started
    expected = [key_pair_from_private(private_key_from_multibase(k)).public_key_multibase for k in keys.issuer]
    keyring = runtime.credentials.keyring
    assert keyring.public_keys_multibase == expected
    assert keyring.current.private_key_multibase == keys.issuer[-1]


def test_what_was_sealed_before_still_opens(started: tuple[Runtime, LegacyKeys, dict[str, bytes]]) -> None:
    runtime, keys, _ = started
    vault = runtime.customers.vault
    assert vault is not None
    key = vault.open(keys.custodial_did, keys.sealed_custodial_key)
    assert key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()) == keys.custodial_seed
    assert runtime.zk.anchorer.sealer.open(keys.sealed_opening, BINDING) == OPENING


def test_starting_rewrites_no_key_file(started: tuple[Runtime, LegacyKeys, dict[str, bytes]]) -> None:
    """Keys added since (a new ring, a new signer) are created beside them; the old files stay byte for byte."""
    runtime, _, before = started
    after = _files(runtime.settings.data_dir / "keys")
    assert {name: after.get(name) for name in before} == before


def test_a_rotation_keeps_the_format_and_the_old_keys(legacy: tuple[Path, LegacyKeys]) -> None:
    data_dir, keys = legacy
    directory = data_dir / "keys"
    fresh = KeyStore(directory).rotate("token")
    document = json.loads((directory / "token.json").read_text())
    assert document["current"] == fresh.kid
    assert [entry["kid"] for entry in document["keys"]] == [*(e["kid"] for e in keys.token), fresh.kid]
    assert document["keys"][0] == {**keys.token[0], "created": "2026-01-02T03:04:05+00:00"}
    issuer = IssuerKeyring.load_or_create(directory / "credential-issuer.json", "did:web:consentry.example")
    newest = issuer.rotate()
    assert json.loads((directory / "credential-issuer.json").read_text())["keys"] == [
        *keys.issuer,
        newest.private_key_multibase,
    ]


def test_sealing_is_unchanged_so_old_and_new_blobs_open_alike(legacy: tuple[Path, LegacyKeys]) -> None:
    _, keys = legacy
    vault = CustodyVault.from_secret(keys.secrets["custody"])
    assert vault.open(keys.custodial_did, keys.sealed_custodial_key) is not None
    sealer = OpeningSealer(keys.secrets["zk-opening"])
    assert sealer.open(sealer.seal(OPENING, BINDING), BINDING) == sealer.open(keys.sealed_opening, BINDING)
