"""The wallet as the customer's terminal, against a gateway and a source speaking the protocol over real HTTP:
it signs in with its DID, answers by standing rule or asks the person, proves locally, declines without an
answer it cannot prove, and signs temporary grants. Every answer is checked by the public verifier."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.wallet.fake_servers import FakeGateway, FakeSource
from tests.zkp.statement_world import ADULT, AGE, CATALYST, FAULT_CODES, World
from wallet import (
    Action,
    DidKey,
    DidSession,
    GatewayClient,
    PendingQuestion,
    Recipient,
    Result,
    Rule,
    SourceClient,
    Wallet,
    WalletProtocolError,
    WalletStore,
)
from zkp import HeldStatement, Question, QuestionTemplate

SUBJECT = "cust-1001"
DEALER = Recipient("org:dealer-4s", "4S Dealership Pudong")


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def store(tmp_path: Path) -> WalletStore:
    return WalletStore.init(tmp_path / "wallet")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _hold(world: World, store: WalletStore) -> HeldStatement:
    held = world.issue(
        FAULT_CODES,
        SUBJECT,
        ["P0301", "P0420"],
        issued_at=_now() - timedelta(hours=1),
        valid_until=_now() + timedelta(hours=1),
    )
    store.add_statement(held)
    return held


def _pending(template: QuestionTemplate = CATALYST, recipient: Recipient = DEALER) -> PendingQuestion:
    now = _now()
    question = Question(
        template, SUBJECT, recipient.id, "service_delivery", secrets.token_urlsafe(18), now, now + timedelta(minutes=5)
    )
    return PendingQuestion(f"q-{secrets.token_hex(6)}", question, recipient)


@pytest.fixture
def gateway(world: World, store: WalletStore) -> Iterator[FakeGateway]:
    with FakeGateway(world, store.key.did) as server:
        yield server


def _client(gateway: FakeGateway, store: WalletStore) -> GatewayClient:
    return GatewayClient(DidSession(gateway.url, store.key))


def test_a_standing_rule_answers_with_a_proof_the_public_verifier_accepts(
    world: World, store: WalletStore, gateway: FakeGateway
) -> None:
    """The dealership asks whether a fault code is in {P0420, P0300}; li.wei's wallet answers by rule."""
    _hold(world, store)
    store.save_rules(store.rules().with_rule(Rule(DEALER.id, CATALYST.id, Action.ANSWER)))
    pending = _pending()
    gateway.ask(pending)
    outcomes, cursor = Wallet(store).serve_once(_client(gateway, store), None, wait=5)
    assert [(o.result, o.holds) for o in outcomes] == [(Result.ANSWERED, True)]
    verified = gateway.verified[pending.id]
    assert verified.holds is True and verified.source == world.source
    assert cursor is not None
    assert store.journal()[-1]["result"] == "answered" and "P0420" not in str(store.journal())


def test_without_a_rule_the_person_decides_and_nobody_present_leaves_it_pending(
    world: World, store: WalletStore, gateway: FakeGateway
) -> None:
    _hold(world, store)
    client = _client(gateway, store)
    yes, no, later = _pending(), _pending(), _pending()
    verdicts = {yes.id: True, no.id: False, later.id: None}
    asked: list[str] = []

    def ask(pending: PendingQuestion) -> bool | None:
        asked.append(pending.id)
        return verdicts[pending.id]

    for pending in (yes, no, later):
        gateway.ask(pending)
    outcomes, cursor = Wallet(store, ask=ask).serve_once(client, None, wait=5)
    assert {o.question_id: o.result for o in outcomes} == {
        yes.id: Result.ANSWERED,
        no.id: Result.DECLINED,
        later.id: Result.DEFERRED,
    }
    assert gateway.declined == {no.id: "declined_by_customer"}
    assert later.id in gateway.open  # not declined: it waits, and expires as "customer unavailable"
    # the next poll does not bring the same questions back (no busy loop), a new one arrives
    newer = _pending()
    gateway.ask(newer)
    again, _ = Wallet(store, ask=lambda _: True).serve_once(client, cursor, wait=5)
    assert [o.question_id for o in again] == [newer.id]
    assert asked == [yes.id, no.id, later.id]


def test_a_declining_rule_and_a_missing_statement_decline_without_an_answer(
    world: World, store: WalletStore, gateway: FakeGateway
) -> None:
    _hold(world, store)
    marketing = Recipient("org:adpulse", "AdPulse Marketing")
    store.save_rules(store.rules().with_rule(Rule(marketing.id, CATALYST.id, Action.DECLINE)))
    by_rule, no_age = _pending(recipient=marketing), _pending(template=ADULT)
    gateway.ask(by_rule)
    gateway.ask(no_age)
    outcomes, _ = Wallet(store, ask=lambda _: True).serve_once(_client(gateway, store), None, wait=5)
    assert {o.question_id: o.result for o in outcomes} == {by_rule.id: Result.DECLINED, no_age.id: Result.DECLINED}
    assert gateway.declined == {by_rule.id: "declined_by_rule", no_age.id: "no_statement"}


def test_an_expired_statement_is_not_used_and_the_latest_current_one_is(world: World, store: WalletStore) -> None:
    now = _now()
    old = world.issue(AGE, SUBJECT, 17, issued_at=now - timedelta(days=2), valid_until=now - timedelta(days=1))
    current = world.issue(
        AGE, SUBJECT, 18, seq=2, issued_at=now - timedelta(days=1), valid_until=now + timedelta(days=1)
    )
    for held in (old, current):
        store.add_statement(held)
    chosen = Wallet(store).statement_for(_pending(ADULT).question)
    assert chosen is not None and chosen.statement.seq == 2


def test_the_long_poll_delivers_a_question_that_arrives_while_waiting(
    world: World, store: WalletStore, gateway: FakeGateway
) -> None:
    _hold(world, store)
    store.save_rules(store.rules().with_rule(Rule(DEALER.id, CATALYST.id, Action.ANSWER)))
    pending = _pending()
    timer = threading.Timer(0.3, gateway.ask, args=(pending,))
    timer.start()
    try:
        outcomes, _ = Wallet(store).serve_once(_client(gateway, store), None, wait=20)
    finally:
        timer.cancel()
    assert [o.question_id for o in outcomes] == [pending.id]


def test_a_lapsed_session_signs_in_again_and_a_stranger_did_is_refused(
    world: World, store: WalletStore, gateway: FakeGateway
) -> None:
    client = _client(gateway, store)
    client.poll(None, 0)
    gateway.forget_sessions()
    client.poll(None, 0)
    assert gateway.sign_ins == 2
    with pytest.raises(WalletProtocolError) as refused:
        GatewayClient(DidSession(gateway.url, DidKey.generate())).poll(None, 0)
    assert refused.value.status == 401 and refused.value.problem_type == "https://consentry.dev/problems/unknown-did"


def test_the_wallet_signs_only_for_the_server_it_talks_to(store: WalletStore, world: World) -> None:
    """A server relaying another server's challenge (to sign in there as the customer) gets no signature."""
    with FakeGateway(world, store.key.did) as elsewhere:
        phishing = DidSession(elsewhere.url.replace("127.0.0.1", "localhost"), store.key)
        with pytest.raises(WalletProtocolError, match="refused"):
            phishing.sign_in()


def test_a_signed_two_hour_grant_reaches_the_gateway(store: WalletStore, gateway: FakeGateway) -> None:
    start = _now()
    document = store.key.grant(
        "org:rnd-partner", ["behavior.driving"], "joint_rnd", start=start, until=start + timedelta(hours=2)
    )
    receipt = _client(gateway, store).grant(document)
    assert receipt["valid_until"] == document["validUntil"]
    assert gateway.grants == [document]


def test_a_source_delivers_statements_after_did_authentication(world: World, store: WalletStore) -> None:
    held = world.issue(FAULT_CODES, SUBJECT, ["P0301", "P0420"])
    with FakeSource({store.key.did: [held]}) as source:
        with DidSession(source.url, store.key) as session:
            delivered = SourceClient(session, [world.source_key]).fetch()
        assert [h.statement.digest() for h in delivered] == [held.statement.digest()]
        impostor = World()
        with DidSession(source.url, store.key) as session, pytest.raises(WalletProtocolError, match="pinned key"):
            SourceClient(session, [impostor.source_key]).fetch()


def test_a_reply_the_gateway_refuses_is_journaled_and_the_next_question_still_answered(
    world: World, store: WalletStore, gateway: FakeGateway
) -> None:
    """A statement signed by a key nobody pinned gives an answer the gateway's verifier refuses."""
    stranger = World()
    now = _now()
    store.add_statement(
        stranger.issue(AGE, SUBJECT, 30, issued_at=now - timedelta(hours=1), valid_until=now + timedelta(hours=1))
    )
    _hold(world, store)
    for template in (ADULT, CATALYST):
        store.save_rules(store.rules().with_rule(Rule(DEALER.id, template.id, Action.ANSWER)))
    refused, answered = _pending(ADULT), _pending(CATALYST)
    gateway.ask(refused)
    gateway.ask(answered)
    outcomes, _ = Wallet(store).serve_once(_client(gateway, store), None, wait=5)
    assert {o.question_id: o.result for o in outcomes} == {refused.id: Result.REJECTED, answered.id: Result.ANSWERED}
    assert [entry["result"] for entry in store.journal()] == ["rejected", "answered"]
