"""The auditor API over real HTTP: signed checkpoints verified with the published verifier keys, entries,
inclusion and consistency proofs checked with the pure RFC 9162 verifier against the signed roots, and
event search by pseudonym, type, recipient, purpose and time."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ledger import Event, leaf_hash, parse_envelope, verify_checkpoint, verify_consistency, verify_inclusion
from ledger.store import Ledger
from tests.e2e.conftest import Actors


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def append(actors: Actors, events: list[Event]) -> list[int]:
    """Write to the server's ledger from outside, as another gateway process would."""
    with Ledger.open(actors.gateway.database_url) as ledger:
        return [ledger.append(event) for event in events]


@pytest.fixture(scope="module")
def auditor(actors: Actors) -> httpx.Client:
    return actors.gateway.client(headers={"Authorization": f"Bearer {actors.auditor}"})


@pytest.fixture(scope="module")
def verifier_keys(auditor: httpx.Client) -> list[str]:
    keys: list[str] = auditor.get("/v1/ledger/keys").json()["verifier_keys"]
    return keys


def access(subject: str, recipient: str, purpose: str, when: datetime | None = None) -> Event:
    return Event(
        type="access",
        actor=f"client:{recipient}",
        subject=subject,
        payload={"recipient": recipient, "purpose": purpose, "released": ["vin"], "withheld": ["national_id"]},
        time=when,
    )


def verified(checkpoint: dict[str, Any], keys: list[str]) -> Any:
    parsed = verify_checkpoint(checkpoint["note"], keys)
    assert parsed.size == checkpoint["size"]
    assert base64.b64encode(parsed.root).decode() == checkpoint["root"]
    return parsed


def test_latest_checkpoint_is_signed_and_covers_every_entry(
    actors: Actors, auditor: httpx.Client, verifier_keys: list[str]
) -> None:
    indices = append(actors, [access("pseudo-cp", "crm", "warranty")])
    checkpoint = auditor.get("/v1/ledger/checkpoint").json()
    parsed = verified(checkpoint, verifier_keys)
    assert parsed.size >= indices[-1] + 1
    assert parsed.origin == checkpoint["origin"] == f"{actors.gateway.base_url.removeprefix('http://')}/ledger"
    again = auditor.get("/v1/ledger/checkpoint").json()
    assert again["note"] == checkpoint["note"]  # nothing appended: no new signature


def test_entries_by_range_are_the_canonical_leaves(actors: Actors, auditor: httpx.Client) -> None:
    append(actors, [access("pseudo-entries", "crm", "warranty") for _ in range(3)])
    page = auditor.get("/v1/ledger/entries", params={"start": 0, "end": 100_000 // 100}).json()
    assert page["start"] == 0
    assert page["end"] == min(page["tree_size"], 1000)
    for entry in page["entries"]:
        data = b64(entry["data"])
        assert parse_envelope(data)["v"] == 1
        assert b64(entry["leaf_hash"]) == leaf_hash(data)
    assert [e["index"] for e in page["entries"]] == list(range(page["end"]))
    assert auditor.get("/v1/ledger/entries", params={"start": 5, "end": 5}).status_code == 422
    assert auditor.get("/v1/ledger/entries", params={"start": 0, "end": 5000}).status_code == 422
    assert auditor.get("/v1/ledger/entries", params={"start": -1, "end": 5}).status_code == 422


def test_inclusion_proofs_verify_against_the_signed_root(
    actors: Actors, auditor: httpx.Client, verifier_keys: list[str]
) -> None:
    append(actors, [access(f"pseudo-incl-{i}", "crm", "warranty") for i in range(6)])
    size = auditor.get("/v1/ledger/checkpoint").json()["size"]
    for index in {0, 1, size // 2, size - 1}:
        proof = auditor.get("/v1/ledger/proofs/inclusion", params={"index": index, "tree_size": size}).json()
        parsed = verified(proof["checkpoint"], verifier_keys)
        assert proof["tree_size"] == parsed.size == size
        verify_inclusion(b64(proof["leaf_hash"]), index, size, [b64(h) for h in proof["audit_path"]], parsed.root)
    latest = auditor.get("/v1/ledger/proofs/inclusion", params={"index": 0}).json()
    assert latest["tree_size"] == size


def test_proofs_are_only_served_at_published_checkpoint_sizes(actors: Actors, auditor: httpx.Client) -> None:
    size = auditor.get("/v1/ledger/checkpoint").json()["size"]
    append(actors, [access("pseudo-unpublished", "crm", "warranty") for _ in range(2)])
    unpublished = auditor.get("/v1/ledger/proofs/inclusion", params={"index": 0, "tree_size": size + 1})
    assert unpublished.status_code == 404
    assert unpublished.json()["type"] == "https://consentry.dev/problems/no-checkpoint-at-size"
    past_end = auditor.get("/v1/ledger/proofs/inclusion", params={"index": size, "tree_size": size})
    assert past_end.status_code == 422


def test_consistency_proof_links_an_old_checkpoint_to_the_latest(
    actors: Actors, auditor: httpx.Client, verifier_keys: list[str]
) -> None:
    old = auditor.get("/v1/ledger/checkpoint").json()
    append(actors, [access(f"pseudo-cons-{i}", "crm", "warranty") for i in range(5)])
    new = auditor.get("/v1/ledger/checkpoint").json()
    proof = auditor.get("/v1/ledger/proofs/consistency", params={"first": old["size"], "second": new["size"]}).json()
    old_parsed = verified(proof["first_checkpoint"], verifier_keys)
    new_parsed = verified(proof["checkpoint"], verifier_keys)
    assert proof["first_checkpoint"]["note"] == old["note"]
    verify_consistency(
        old_parsed.size, new_parsed.size, [b64(h) for h in proof["proof"]], old_parsed.root, new_parsed.root
    )
    backwards = auditor.get("/v1/ledger/proofs/consistency", params={"first": new["size"] + 1, "second": new["size"]})
    assert backwards.status_code == 422


def test_event_search_by_pseudonym_type_recipient_purpose_and_time(actors: Actors, auditor: httpx.Client) -> None:
    now = datetime.now(UTC)
    first, second, third = append(
        actors,
        [
            access("pseudo-search", "dealer", "warranty", now - timedelta(days=2)),
            access("pseudo-search", "marketing", "newsletter", now - timedelta(days=1)),
            Event(
                type="consent.withdrawn",
                actor="customer:pseudo-search",
                subject="pseudo-search",
                payload={"purpose": "newsletter"},
            ),
        ],
    )

    def search(**params: Any) -> list[int]:
        response = auditor.get("/v1/ledger/events", params=params)
        assert response.status_code == 200, response.text
        return [event["index"] for event in response.json()["events"]]

    assert search(subject="pseudo-search") == [first, second, third]
    assert search(subject="pseudo-search", type="access") == [first, second]
    assert search(subject="pseudo-search", recipient="marketing") == [second]
    assert search(subject="pseudo-search", purpose="newsletter") == [second, third]
    assert search(subject="pseudo-search", since=(now - timedelta(days=1, hours=1)).isoformat()) == [second, third]
    assert search(subject="pseudo-search", until=(now - timedelta(days=1, hours=1)).isoformat()) == [first]
    page = auditor.get("/v1/ledger/events", params={"subject": "pseudo-search", "limit": 2}).json()
    assert [e["index"] for e in page["events"]] == [first, second]
    assert search(subject="pseudo-search", after=page["next_after"]) == [third]
    event = auditor.get("/v1/ledger/events", params={"subject": "pseudo-search", "recipient": "dealer"}).json()[
        "events"
    ][0]
    assert event["type"] == "access"
    assert event["actor"] == "client:dealer"
    assert event["purpose"] == "warranty"
    naive = auditor.get("/v1/ledger/events", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422


def test_an_erased_subject_keeps_its_entries_but_loses_recipient_and_purpose(
    actors: Actors, auditor: httpx.Client
) -> None:
    append(actors, [access("pseudo-erased", "dealer", "warranty")])
    assert (
        auditor.get("/v1/ledger/events", params={"subject": "pseudo-erased"}).json()["events"][0]["purpose"]
        == "warranty"
    )
    with Ledger.open(actors.gateway.database_url) as ledger:
        ledger.erase_subject("pseudo-erased", actor="admin:dpo")
    events = auditor.get("/v1/ledger/events", params={"subject": "pseudo-erased"}).json()["events"]
    assert [e["type"] for e in events] == ["access", "ledger.erasure"]
    assert events[0]["purpose"] is None
    assert events[0]["recipient"] is None
