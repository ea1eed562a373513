"""Temporary access grants signed by the customer's did:key: verified while in force, refused once lapsed, and
refused whenever anyone but the grantor signed them or changed a word of them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from credentials import (
    JCS,
    AccessGrant,
    AccessGrantError,
    add_proof,
    did_key_from_multibase,
    did_key_verification_method,
    generate_key_pair,
    sign_access_grant,
    verify_access_grant,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def customer() -> tuple[str, str]:
    pair = generate_key_pair()
    return did_key_from_multibase(pair.public_key_multibase), pair.private_key_multibase


def _grant(did: str, hours: float = 2) -> AccessGrant:
    return AccessGrant.new(
        did,
        "org:rnd-partner",
        ["behavior.driving"],
        "joint_rnd",
        start=START,
        until=START + timedelta(hours=hours),
    )


def test_a_two_hour_grant_is_in_force_for_two_hours_and_then_lapses(customer: tuple[str, str]) -> None:
    did, key = customer
    document = sign_access_grant(_grant(did), key)
    assert document["proof"]["cryptosuite"] == JCS and "@context" not in document
    grant = verify_access_grant(document, now=START + timedelta(minutes=1))
    assert (grant.recipient, grant.categories, grant.purpose) == (
        "org:rnd-partner",
        ("behavior.driving",),
        "joint_rnd",
    )
    assert grant.valid_until == START + timedelta(hours=2)
    with pytest.raises(AccessGrantError) as lapsed:
        verify_access_grant(document, now=START + timedelta(hours=2))
    assert lapsed.value.rule == "grant-lapsed"
    with pytest.raises(AccessGrantError) as early:
        verify_access_grant(document, now=START - timedelta(seconds=1))
    assert early.value.rule == "grant-not-yet-valid"


def test_a_changed_word_or_another_signer_is_refused(customer: tuple[str, str]) -> None:
    did, key = customer
    document = sign_access_grant(_grant(did), key)
    for field, value in (("categories", ["identity.national_id"]), ("validUntil", "2026-03-09T09:00:00Z")):
        edited = copy.deepcopy(document)
        edited[field] = value
        with pytest.raises(AccessGrantError) as caught:
            verify_access_grant(edited, now=START)
        assert caught.value.rule == "proof", field

    # someone else's key, naming the customer as grantor
    other = generate_key_pair()
    forged = add_proof(
        _grant(did).to_document(),
        private_key_multibase=other.private_key_multibase,
        verification_method=did_key_verification_method(other.public_key_multibase),
        cryptosuite=JCS,
    )
    with pytest.raises(AccessGrantError) as caught:
        verify_access_grant(forged, now=START)
    assert caught.value.rule == "grantor"
    with pytest.raises(AccessGrantError):
        sign_access_grant(_grant(did), other.private_key_multibase)


def test_grants_are_temporary_and_well_formed(customer: tuple[str, str]) -> None:
    did, key = customer
    with pytest.raises(AccessGrantError) as caught:
        verify_access_grant(sign_access_grant(_grant(did, hours=24 * 40), key), now=START)
    assert caught.value.rule == "grant-too-long"
    for broken in ({}, {"type": "ConsentryAccessGrant"}, [], "grant"):
        with pytest.raises(AccessGrantError):
            verify_access_grant(broken, now=START)
    with pytest.raises(AccessGrantError):
        AccessGrant.new(did, "org:x", [], "joint_rnd", start=START, until=START + timedelta(hours=1))
