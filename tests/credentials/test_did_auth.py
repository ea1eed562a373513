"""Wallet login by DID Authentication: a presentation signed for `authentication` over our challenge."""

from __future__ import annotations

import copy

import pytest

from credentials import (
    DidAuthError,
    add_proof,
    create_did_auth_presentation,
    generate_key_pair,
    new_challenge,
    verify_did_auth,
)
from tests.credentials.cred_constants import DOMAIN


def test_challenges_are_unpredictable_and_url_safe() -> None:
    challenges = {new_challenge() for _ in range(100)}
    assert len(challenges) == 100
    assert all(len(c) >= 43 and all(ch.isalnum() or ch in "-_" for ch in c) for c in challenges)


@pytest.mark.parametrize("suite", ["eddsa-rdfc-2022", "eddsa-jcs-2022"])
def test_wallet_login_returns_the_holder_did(suite: str, holder: tuple[str, str, str]) -> None:
    did, vm, key = holder
    challenge = new_challenge()
    presentation = create_did_auth_presentation(
        did, private_key_multibase=key, verification_method=vm, challenge=challenge, domain=DOMAIN, cryptosuite=suite
    )
    assert verify_did_auth(presentation, challenge=challenge, domain=DOMAIN) == did


def test_login_for_another_challenge_or_domain_is_refused(holder: tuple[str, str, str]) -> None:
    did, vm, key = holder
    presentation = create_did_auth_presentation(
        did, private_key_multibase=key, verification_method=vm, challenge="old", domain=DOMAIN
    )
    with pytest.raises(DidAuthError, match="proof-challenge"):
        verify_did_auth(presentation, challenge="new", domain=DOMAIN)
    with pytest.raises(DidAuthError, match="proof-domain"):
        verify_did_auth(presentation, challenge="old", domain="phish.example")


def test_login_signed_by_someone_else_for_the_holder_is_refused(holder: tuple[str, str, str]) -> None:
    did, _, _ = holder
    thief = generate_key_pair()
    thief_vm = f"did:key:{thief.public_key_multibase}#{thief.public_key_multibase}"
    presentation = create_did_auth_presentation(
        did,
        private_key_multibase=thief.private_key_multibase,
        verification_method=thief_vm,
        challenge="c",
        domain=DOMAIN,
    )
    with pytest.raises(DidAuthError, match="holder-key"):
        verify_did_auth(presentation, challenge="c", domain=DOMAIN)


def test_an_assertion_proof_is_not_a_login(holder: tuple[str, str, str]) -> None:
    did, vm, key = holder
    unsigned = {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiablePresentation"], "holder": did}
    presentation = add_proof(unsigned, private_key_multibase=key, verification_method=vm, challenge="c", domain=DOMAIN)
    with pytest.raises(DidAuthError, match="proof-purpose"):
        verify_did_auth(presentation, challenge="c", domain=DOMAIN)


def test_presentation_without_holder_or_with_a_changed_holder_is_refused(holder: tuple[str, str, str]) -> None:
    did, vm, key = holder
    presentation = create_did_auth_presentation(
        did, private_key_multibase=key, verification_method=vm, challenge="c", domain=DOMAIN
    )
    anonymous = copy.deepcopy(presentation)
    del anonymous["holder"]
    with pytest.raises(DidAuthError, match="holder"):
        verify_did_auth(anonymous, challenge="c", domain=DOMAIN)
    other = copy.deepcopy(presentation)
    other["holder"] = "did:example:mallory"
    with pytest.raises(DidAuthError):
        verify_did_auth(other, challenge="c", domain=DOMAIN)
