"""W3C Bitstring Status List v1.0: encoding, bit order, entries, and the SQL repository."""

from __future__ import annotations

import base64
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, text

from credentials import (
    MIN_LIST_SIZE,
    StatusListError,
    StatusListRepository,
    check_status,
    decode_list,
    encode_list,
    get_bit,
    new_bitstring,
    set_bit,
    status_entry,
    status_list_credential,
)
from credentials import status_store as status_store_module
from credentials.migrations import VERSION_TABLE, upgrade

LIST_URL = "https://consentry.example/credentials/status/1"


def test_minimum_list_size_is_131072_entries() -> None:
    assert len(new_bitstring()) * 8 == MIN_LIST_SIZE == 131_072
    with pytest.raises(StatusListError, match="at least"):
        new_bitstring(1024)


def test_index_zero_is_the_leftmost_bit() -> None:
    bits = new_bitstring()
    set_bit(bits, 0, True)
    set_bit(bits, 9, True)
    assert bits[:2] == bytes([0b1000_0000, 0b0100_0000])


def test_encoding_is_multibase_base64url_of_gzip() -> None:
    bits = new_bitstring()
    set_bit(bits, 94_567, True)
    encoded = encode_list(bits)
    assert encoded.startswith("u") and "=" not in encoded
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert raw == bytes(bits)
    assert decode_list(encoded) == bytes(bits)


def test_empty_list_encoding_matches_the_specification_example_size() -> None:
    # The spec's 16 KB all-zero list compresses to a short string; ours must decode to 131,072 clear bits.
    decoded = decode_list(encode_list(new_bitstring()))
    assert len(decoded) == 16_384 and not any(decoded)


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=MIN_LIST_SIZE - 1), max_size=30))
def test_set_bits_round_trip_through_the_encoding(indexes: set[int]) -> None:
    bits = new_bitstring()
    for index in indexes:
        set_bit(bits, index, True)
    decoded = decode_list(encode_list(bits))
    assert {i for i in range(MIN_LIST_SIZE) if decoded[i // 8] and get_bit(decoded, i)} == indexes


def test_decoding_refuses_bad_prefix_bombs_and_short_lists() -> None:
    with pytest.raises(StatusListError, match="prefix"):
        decode_list("z123")
    bomb = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(17 * 1024 * 1024))).decode().rstrip("=")
    with pytest.raises(StatusListError, match="size limit"):
        decode_list(bomb)
    short = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(100))).decode().rstrip("=")
    with pytest.raises(StatusListError, match="at least"):
        decode_list(short)


def test_entry_carries_the_index_as_a_string() -> None:
    entry = status_entry(LIST_URL, 94_567)
    assert entry == {
        "id": f"{LIST_URL}#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": LIST_URL,
    }


def test_check_status_reads_the_entry_bit_and_refuses_mismatches() -> None:
    bits = new_bitstring()
    set_bit(bits, 7, True)
    listed = status_list_credential(
        LIST_URL, issuer="did:web:consentry.example", encoded_list=encode_list(bits), valid_from="2026-01-01T00:00:00Z"
    )
    assert check_status(status_entry(LIST_URL, 7), listed) is True
    assert check_status(status_entry(LIST_URL, 8), listed) is False
    with pytest.raises(StatusListError, match="purpose"):
        check_status(status_entry(LIST_URL, 7, "suspension"), listed)
    with pytest.raises(StatusListError, match="does not match"):
        check_status(status_entry("https://other.example/list", 7), listed)
    numeric = dict(status_entry(LIST_URL, 7), statusListIndex=7)
    with pytest.raises(StatusListError, match="decimal string"):
        check_status(numeric, listed)
    with pytest.raises(StatusListError, match="outside"):
        check_status(status_entry(LIST_URL, MIN_LIST_SIZE), listed)


def _repository(url: str) -> StatusListRepository:
    engine = create_engine(url)
    upgrade(engine)
    upgrade(engine)
    return StatusListRepository(engine)


def _exercise_repository(url: str) -> None:
    repository = _repository(url)
    engine = repository._engine
    assert VERSION_TABLE == "alembic_version_credentials"
    assert VERSION_TABLE in inspect(engine).get_table_names()
    repository.create_list(LIST_URL)
    with pytest.raises(StatusListError, match="already exists"):
        repository.create_list(LIST_URL)
    first, second = repository.allocate(LIST_URL), repository.allocate(LIST_URL)
    assert first != second and 0 <= first < MIN_LIST_SIZE
    assert repository.get_status(LIST_URL, first) is False

    # A flip inside a transaction that rolls back (the ledger append failed) leaves the bit clear.
    with pytest.raises(RuntimeError), engine.begin() as conn:
        repository.set_status(LIST_URL, first, conn=conn)
        raise RuntimeError("ledger append failed")
    assert repository.get_status(LIST_URL, first) is False

    with engine.begin() as conn:
        repository.set_status(LIST_URL, first, conn=conn)
    assert repository.get_status(LIST_URL, first) is True
    decoded = decode_list(repository.encoded_list(LIST_URL))
    assert get_bit(decoded, first) and not get_bit(decoded, second)

    unallocated = next(i for i in range(MIN_LIST_SIZE) if i not in (first, second))
    with pytest.raises(StatusListError, match="never allocated"):
        repository.set_status(LIST_URL, unallocated)
    with pytest.raises(StatusListError, match="unknown status list"):
        repository.allocate("https://consentry.example/credentials/status/404")


def test_repository_on_sqlite(sqlite_url: str) -> None:
    _exercise_repository(sqlite_url)


@pytest.mark.postgres
def test_repository_on_postgresql(postgres_url: str) -> None:
    _exercise_repository(postgres_url)


def test_allocation_retries_on_a_collision(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    repository = _repository(sqlite_url)
    repository.create_list(LIST_URL)
    draws = iter([5, 5, 9])
    monkeypatch.setattr(status_store_module.secrets, "randbelow", lambda n: next(draws))
    assert repository.allocate(LIST_URL) == 5
    assert repository.allocate(LIST_URL) == 9
    with repository._engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM credentials_status_entries")).scalar_one() == 2


def test_allocation_indexes_are_spread_over_the_whole_list(sqlite_url: str) -> None:
    repository = _repository(sqlite_url)
    repository.create_list(LIST_URL)
    indexes = [repository.allocate(LIST_URL) for _ in range(40)]
    assert len(set(indexes)) == 40
    assert max(indexes) > MIN_LIST_SIZE // 2 > min(indexes)
