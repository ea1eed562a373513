"""Custodial DIDs (issue 4: "each customer has a DID (did:key) created at enrolment").

A customer enrolled without a wallet gets an Ed25519 did:key in the same transaction as the account; its
private key is kept sealed (AES-256-GCM under the custody key in the data directory, the DID as associated
data) until the customer takes it. These tests open the database and the key file as an attacker with a copy
of either would, and check what the sealing promises.
"""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from sqlalchemy import select, update
from typer.testing import CliRunner

from credentials import public_key_from_multibase
from gateway.auth.custody import (
    CustodyVault,
    KeyAlreadyReleasedError,
    SealedKeyError,
    custody_state,
    did_of,
    release_custodial_key,
)
from gateway.auth.customers import CustomerStore
from gateway.cli import app
from gateway.rights import erasure
from gateway.rights.receipts import ensure_customer_did
from gateway.runtime import Runtime, key_store
from gateway.settings import Settings
from gateway.store.database import create_db_engine
from gateway.store.tables import custodial_did_keys, customers

PASSWORD = "a long enough pw"
WALLET_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


def _sealed(runtime: Runtime, customer_id: str) -> tuple[str, bytes]:
    with runtime.engine.connect() as conn:
        row = conn.execute(
            select(custodial_did_keys.c.did, custodial_did_keys.c.sealed_key).where(
                custodial_did_keys.c.customer_id == customer_id
            )
        ).one()
    return str(row.did), bytes(row.sealed_key)


def _vault(runtime: Runtime) -> CustodyVault:
    return CustodyVault.from_secret(runtime.keys.secret("custody"))


def _enrol(runtime: Runtime, username: str) -> Any:
    return runtime.customers.create(username=username, password=PASSWORD, display_name="", jurisdiction="CN")


def test_enrolment_creates_a_did_key_whose_sealed_private_key_signs_for_it(runtime: Runtime) -> None:
    customer = _enrol(runtime, "li.wei")
    did, sealed = _sealed(runtime, customer.customer_id)
    assert customer.did == did and did.startswith("did:key:z6Mk")
    key = _vault(runtime).open(did, sealed)
    signature = key.sign(b"consent receipt holder binding")
    public = public_key_from_multibase(did.removeprefix("did:key:"))
    public.verify(signature, b"consent receipt holder binding")
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"another message")
    assert custody_state(runtime.engine, customer.customer_id).gateway_holds_key


def test_the_custody_key_file_is_private_to_the_gateway_user(runtime: Runtime, settings: Settings) -> None:
    path = settings.data_dir / "keys" / "custody.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_database_holds_no_form_of_the_private_key(runtime: Runtime) -> None:
    customer = _enrol(runtime, "li.wei")
    did, sealed = _sealed(runtime, customer.customer_id)
    seed = _vault(runtime).open(did, sealed).private_bytes_raw()
    assert seed not in sealed
    assert base64.urlsafe_b64encode(seed).rstrip(b"=") not in sealed
    assert len(sealed) == 12 + 32 + 16  # nonce, ciphertext of the 32-byte seed, GCM tag


def test_a_tampered_sealed_key_does_not_open(runtime: Runtime) -> None:
    customer = _enrol(runtime, "li.wei")
    did, sealed = _sealed(runtime, customer.customer_id)
    for position in (0, 12, len(sealed) - 1):  # nonce, ciphertext, tag
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(SealedKeyError):
            _vault(runtime).open(did, bytes(tampered))


def test_a_sealed_key_moved_to_another_customers_row_does_not_open(runtime: Runtime) -> None:
    li = _enrol(runtime, "li.wei")
    wang = _enrol(runtime, "wang.fang")
    _, li_sealed = _sealed(runtime, li.customer_id)
    with runtime.engine.begin() as conn:
        conn.execute(
            update(custodial_did_keys)
            .where(custodial_did_keys.c.customer_id == wang.customer_id)
            .values(sealed_key=li_sealed)
        )
    wang_did, moved = _sealed(runtime, wang.customer_id)
    with pytest.raises(SealedKeyError):
        _vault(runtime).open(wang_did, moved)


def test_a_sealed_key_does_not_open_under_another_custody_key(runtime: Runtime) -> None:
    customer = _enrol(runtime, "li.wei")
    did, sealed = _sealed(runtime, customer.customer_id)
    with pytest.raises(SealedKeyError):
        CustodyVault.from_secret(b"\x01" * 32).open(did, sealed)


def test_the_custody_key_can_come_from_the_environment(tmp_path: Path) -> None:
    secret = base64.urlsafe_b64encode(b"\x07" * 32).rstrip(b"=").decode()
    settings = Settings(data_dir=tmp_path / "data", issuer="http://127.0.0.1:8000", custody_key=secret)
    started = Runtime.start(settings)
    try:
        customer = _enrol(started, "li.wei")
        did, sealed = _sealed(started, customer.customer_id)
        assert did_of(CustodyVault.from_secret(b"\x07" * 32).open(did, sealed)) == did
    finally:
        started.close()
    assert not (settings.data_dir / "keys" / "custody.secret").exists()


def test_enrolling_with_a_wallet_did_keeps_no_key(runtime: Runtime) -> None:
    customer = runtime.customers.create(
        username="li.wei", password=PASSWORD, display_name="", jurisdiction="CN", did=WALLET_DID
    )
    assert customer.did == WALLET_DID
    assert not custody_state(runtime.engine, customer.customer_id).gateway_holds_key


def test_a_customer_enrolled_without_a_did_gets_a_custodial_one_when_first_needed(runtime: Runtime) -> None:
    """Accounts from before DIDs were given at enrolment (or enrolled by a tool without the custody key)."""
    legacy = CustomerStore(runtime.engine).create(
        username="li.wei", password=PASSWORD, display_name="", jurisdiction="CN"
    )
    assert legacy.did is None
    did = ensure_customer_did(runtime.customers, legacy)
    assert ensure_customer_did(runtime.customers, legacy) == did  # the principal is stale; the stored DID wins
    stored_did, sealed = _sealed(runtime, legacy.customer_id)
    assert stored_did == did and did_of(_vault(runtime).open(did, sealed)) == did


def test_binding_a_wallet_did_deletes_the_custodial_key(runtime: Runtime) -> None:
    customer = _enrol(runtime, "li.wei")
    runtime.customers.set_did(customer.customer_id, WALLET_DID)
    with runtime.engine.connect() as conn:
        assert conn.execute(select(custodial_did_keys)).first() is None
        assert conn.execute(select(customers.c.did)).scalar() == WALLET_DID


def test_erasure_deletes_the_custodial_key_and_keeps_the_did(runtime: Runtime) -> None:
    customer = _enrol(runtime, "li.wei")

    async def nosleep(_: float) -> None:
        return None

    requested = erasure.request_erasure(runtime.erasures, customer)
    done = asyncio.run(erasure.process_erasure(runtime.erasures, customer, requested["request_id"], sleep=nosleep))
    assert done["status"] == "completed"
    with runtime.engine.connect() as conn:
        kept = conn.execute(select(custodial_did_keys)).mappings().one()
    assert kept["sealed_key"] is None and kept["released_at"] is None  # deleted, and remembered as held until then
    assert custody_state(runtime.engine, customer.customer_id).discarded
    stored = runtime.customers.get(customer.customer_id)
    assert stored is not None and stored.did == customer.did


def test_consentry_customer_add_enrols_with_a_custodial_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CONSENTRY_DATABASE_URL", raising=False)
    args = ["customer", "add", "--username", "li.wei", "--jurisdiction", "CN", "--password", "correct horse battery"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    did = json.loads(result.stdout)["did"]
    assert did.startswith("did:key:z6Mk")
    settings = Settings(data_dir=tmp_path / "data")
    engine = create_db_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            stored_did, sealed = conn.execute(select(custodial_did_keys.c.did, custodial_did_keys.c.sealed_key)).one()
    finally:
        engine.dispose()
    vault = CustodyVault.from_secret(key_store(settings).secret("custody"))
    assert stored_did == did and did_of(vault.open(did, bytes(sealed))) == did


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    started = Runtime.start(Settings(data_dir=tmp_path / "data", issuer="http://127.0.0.1:8000", database_url=url))
    try:
        yield started
    finally:
        started.close()


def test_two_concurrent_releases_hand_the_key_out_once(any_db_runtime: Runtime) -> None:
    runtime = any_db_runtime
    customer = _enrol(runtime, "li.wei")
    vault = runtime.customers.vault
    assert vault is not None

    def release() -> object:
        try:
            return release_custodial_key(
                runtime.ledger,
                vault,
                customer_id=customer.customer_id,
                actor=customer.actor,
                subject=runtime.subject_pseudonym(customer.customer_id),
            )
        except KeyAlreadyReleasedError as exc:
            return exc

    size = runtime.ledger.size()
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: release(), range(4)))
    handed = [o for o in outcomes if isinstance(o, tuple)]
    assert len(handed) == 1
    assert all(isinstance(o, KeyAlreadyReleasedError) for o in outcomes if o not in handed)
    jwk, index = handed[0]
    assert jwk["kid"].startswith(f"{customer.did}#")
    assert runtime.ledger.size() == size + 1  # refused releases leave no entry
    assert runtime.ledger.payload(index) == {"did": customer.did, "to": "subject"}
    with runtime.engine.connect() as conn:
        assert conn.execute(select(custodial_did_keys.c.sealed_key)).scalar() is None
