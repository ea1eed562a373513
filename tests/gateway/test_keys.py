"""Key rings in the data directory: created 0600 on first use, rotated without losing old keys, set from
the environment, and refused when readable by others."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from gateway.keys import KeyStore, SigningKey
from keyfiles import KeyFileError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_use_creates_each_ring_with_mode_0600_in_a_0700_directory(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    token = store.ring("token").current
    checkpoint = store.ring("checkpoint").current
    assert token.alg == "ES256"
    assert checkpoint.alg == "EdDSA"
    assert mode(tmp_path / "keys") == 0o700
    for name in ("token.json", "checkpoint.json"):
        assert mode(tmp_path / "keys" / name) == 0o600
    assert len(store.secret("pseudonym")) == 32
    assert mode(tmp_path / "keys" / "pseudonym.secret") == 0o600


def test_keys_survive_a_restart(tmp_path: Path) -> None:
    first = KeyStore(tmp_path).ring("token").current
    again = KeyStore(tmp_path).ring("token").current
    assert again.kid == first.kid
    assert again.private_jwk() == first.private_jwk()
    assert KeyStore(tmp_path).secret("pseudonym") == KeyStore(tmp_path).secret("pseudonym")


def test_rotation_adds_a_current_key_and_keeps_the_old_for_verification(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    old = store.ring("token").current
    fresh = store.rotate("token")
    ring = KeyStore(tmp_path).ring("token")
    assert ring.current_kid == fresh.kid != old.kid
    assert ring.get(old.kid) is not None
    assert [k["kid"] for k in ring.public_jwks()["keys"]] == [old.kid, fresh.kid]
    assert all("d" not in k for k in ring.public_jwks()["keys"])


def test_a_rotation_by_another_process_is_seen_without_restart(tmp_path: Path) -> None:
    server_view = KeyStore(tmp_path)
    server_view.ring("token")
    fresh = KeyStore(tmp_path).rotate("token")
    assert server_view.ring("token").current_kid == fresh.kid


def test_kid_is_the_rfc7638_thumbprint() -> None:
    """RFC 7638 §3.1 example: the thumbprint of that RSA key is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
    For our key types the same construction (sorted required members, no whitespace, SHA-256) applies;
    RFC 8037 §A.3 gives the Ed25519 example."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}
    key = SigningKey.from_jwk(jwk)
    assert key.public_jwk()["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert key.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_an_environment_key_signs_and_disk_keys_still_verify(tmp_path: Path) -> None:
    disk = KeyStore(tmp_path).ring("checkpoint").current
    env_key = SigningKey.generate("EdDSA")
    store = KeyStore(tmp_path, {"checkpoint": json.dumps(env_key.private_jwk())})
    ring = store.ring("checkpoint")
    assert ring.current_kid == env_key.kid
    assert ring.get(disk.kid) is not None
    with pytest.raises(KeyFileError, match="from the environment"):
        store.rotate("checkpoint")


def test_an_environment_key_alone_writes_nothing_to_disk(tmp_path: Path) -> None:
    env_key = SigningKey.generate("ES256")
    store = KeyStore(tmp_path / "keys", {"token": json.dumps(env_key.private_jwk())})
    assert store.ring("token").current_kid == env_key.kid
    assert not (tmp_path / "keys" / "token.json").exists()


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    KeyStore(tmp_path).ring("token")
    os.chmod(tmp_path / "token.json", 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        KeyStore(tmp_path).ring("token")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "not a JSON Web Key"),
        ('{"kty": "OKP", "crv": "Ed25519"}', "private JWK"),
        ('{"kty": "RSA", "d": "AAAA"}', "Ed25519 \\(OKP\\) or P-256"),
    ],
)
def test_bad_environment_keys_are_refused_with_a_reason(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        KeyStore(tmp_path, {"token": value}).ring("token")


def test_unknown_ring_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="unknown key ring"):
        KeyStore(tmp_path).ring("nope")
    with pytest.raises(KeyFileError, match="unknown key ring"):
        KeyStore(tmp_path).rotate("nope")


def test_the_credential_issuer_is_not_a_key_store_ring(tmp_path: Path) -> None:
    """Issuer keys live only in credentials.IssuerKeyring, so there is no second, unpublished issuer key."""
    with pytest.raises(KeyFileError, match="unknown key ring"):
        KeyStore(tmp_path).ring("issuer")
