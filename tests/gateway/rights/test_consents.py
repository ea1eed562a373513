"""The customer's consent service (issue 4 "Consent API (customer)", issue 5 receipts, issue 7 "My consents")."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.auth.principals import CustomerPrincipal
from gateway.rights import consents
from gateway.rights.errors import (
    ConsentStateConflict,
    CrossBorderConsentRequired,
    InvalidConsentRequest,
    NotFoundError,
    NoticeChanged,
    SeparateConsentRequired,
)
from gateway.rights.receipts import get_receipt, list_receipts
from gateway.runtime import Runtime
from policies import SubjectContext
from tests.gateway.rights.conftest import give


def test_catalog_names_purposes_categories_recipients_and_the_current_agreement(
    runtime: Runtime, li: CustomerPrincipal
) -> None:
    en = consents.catalog(runtime.policies, li, lang="en")
    zh = consents.catalog(runtime.policies, li, lang="zh-CN")
    purposes = {p["id"]: p for p in en["purposes"]}
    assert purposes["marketing"]["needs_consent"] and purposes["marketing"]["marketing"]
    assert (
        purposes["service_delivery"]["legal_basis"] == "contract" and not purposes["service_delivery"]["needs_consent"]
    )
    assert purposes["joint_rnd"]["value_offer"]["points_per_use"] == 5
    categories = {c["id"]: c for c in en["categories"]}
    assert categories["identity.national_id"]["needs_separate_consent"]
    assert not categories["vehicle.vin"]["needs_separate_consent"]
    recipients = {r["id"]: r for r in en["recipients"]}
    assert recipients["stuttgart-rnd"]["needs_cross_border_consent"]
    assert en["agreement"]["version"] == zh["agreement"]["version"]
    assert en["agreement"]["sha256"] != zh["agreement"]["sha256"]
    assert "PIPL" in en["agreement"]["text"] or en["law"] == "PIPL"
    with pytest.raises(InvalidConsentRequest):
        consents.catalog(runtime.policies, li, lang="fr")


def cell(rt: Runtime, customer: CustomerPrincipal, recipient: str, purpose: str, category: str) -> dict[str, Any]:
    (found,) = [
        c
        for c in consents.consent_state(rt.policies, customer)["cells"]
        if (c["recipient"], c["purpose"], c["category"]) == (recipient, purpose, category)
    ]
    return found


def test_state_matrix_shows_not_needed_not_asked_given_and_withdrawn(runtime: Runtime, li: CustomerPrincipal) -> None:
    assert cell(runtime, li, "dealer-sh-4s", "service_delivery", "vehicle.vin")["state"] == "not_needed"
    assert cell(runtime, li, "bright-marketing", "marketing", "contact.phone")["state"] == "not_asked"
    change = give(runtime, li, purposes=["marketing"], categories=["contact"], recipients=["org:bright-marketing"])
    phone = cell(runtime, li, "bright-marketing", "marketing", "contact.phone")
    assert phone["state"] == "given" and phone["record_id"] == change.record.record_id
    assert cell(runtime, li, "acme-crm", "marketing", "contact.phone")["state"] == "not_asked"  # another recipient
    consents.withdraw(runtime.policies, runtime.credentials, li, change.record.record_id)
    assert cell(runtime, li, "bright-marketing", "marketing", "contact.phone")["state"] == "withdrawn"


def test_every_given_cell_is_what_the_decision_engine_releases(runtime: Runtime, li: CustomerPrincipal) -> None:
    """The page never claims a consent the proxy would not honour, and never hides one it would."""
    give(runtime, li, purposes=["marketing", "joint_rnd"], categories=["contact", "vehicle"])
    give(
        runtime,
        li,
        purposes=["joint_rnd"],
        categories=["vehicle.mileage"],
        recipients=["org:stuttgart-rnd"],
        cross_border=True,
    )
    subject = SubjectContext(li.customer_id, li.customer_type, li.jurisdiction)
    for c in consents.consent_state(runtime.policies, li)["cells"]:
        decision = runtime.policies.engine.decide(
            c["recipient"], subject, [c["category"]], c["purpose"], mode=c["mode"]
        )
        assert decision.of(c["category"]).allowed == (c["state"] in ("given", "not_needed")), c
    rnd = cell(runtime, li, "stuttgart-rnd", "joint_rnd", "vehicle.fault_codes")
    assert rnd["state"] == "cross_border_consent_required"  # "any" never covers a recipient abroad
    assert cell(runtime, li, "stuttgart-rnd", "joint_rnd", "vehicle.mileage")["state"] == "given"


def test_grant_issues_a_receipt_that_verifies_and_withdrawal_revokes_it(
    runtime: Runtime, li: CustomerPrincipal
) -> None:
    change = give(runtime, li, purposes=["repair_prediction"], categories=["vehicle.fault_codes"])
    receipt = change.receipt
    assert receipt is not None
    customer = runtime.customers.get(li.customer_id)
    assert customer is not None and customer.did is not None and customer.did.startswith("did:key:")
    assert receipt["credentialSubject"]["id"] == customer.did
    consent = receipt["credentialSubject"]["consent"]
    assert consent["ledgerIndex"] == change.record.ledger_index
    assert consent["noticeHash"] == change.record.notice.sha256  # type: ignore[union-attr]
    assert runtime.credentials.verify_credential(receipt).verified
    assert [r.status for r in list_receipts(runtime.engine, runtime.credentials, li)] == ["valid"]

    withdrawn = consents.withdraw(runtime.policies, runtime.credentials, li, change.record.record_id)
    assert withdrawn.revoked_receipts == (receipt["id"],)
    result = runtime.credentials.verify_credential(get_receipt(runtime.engine, li, receipt["id"]))
    assert not result.verified and any("status" in e.rule or "revoked" in e.message for e in result.errors)
    (summary,) = list_receipts(runtime.engine, runtime.credentials, li)
    assert summary.status == "revoked" and summary.revoked_at is not None
    with pytest.raises(ConsentStateConflict):
        consents.withdraw(runtime.policies, runtime.credentials, li, change.record.record_id)


def test_giving_the_same_scope_again_reuses_the_record_and_issues_a_new_receipt(
    runtime: Runtime, li: CustomerPrincipal
) -> None:
    first = give(runtime, li, purposes=["joint_rnd"], categories=["vehicle.mileage"], recipients=["role:crm"])
    renewed = give(runtime, li, purposes=["joint_rnd"], categories=["vehicle.mileage"], recipients=["role:crm"])
    assert renewed.action == "renewed" and renewed.record.record_id == first.record.record_id
    consents.withdraw(runtime.policies, runtime.credentials, li, first.record.record_id)
    again = give(runtime, li, purposes=["joint_rnd"], categories=["vehicle.mileage"], recipients=["role:crm"])
    assert again.action == "given_again" and again.record.record_id == first.record.record_id
    statuses = [r.status for r in list_receipts(runtime.engine, runtime.credentials, li)]
    assert statuses == ["valid", "revoked", "revoked"]
    assert [e["status"] for e in consents.history(runtime.policies, li)] == ["given", "renewed", "withdrawn", "given"]


def test_sensitive_category_needs_a_separate_confirmation_naming_it(runtime: Runtime, li: CustomerPrincipal) -> None:
    with pytest.raises(SeparateConsentRequired) as refused:
        give(runtime, li, purposes=["joint_rnd"], categories=["location.precise", "vehicle.mileage"])
    assert refused.value.categories == ["location.precise"]
    with pytest.raises(SeparateConsentRequired):  # confirming the parent does not name the sensitive category
        give(runtime, li, purposes=["joint_rnd"], categories=["location.precise"], separate=["location"])
    assert consents.records(runtime.policies, li) == []
    rnd: dict[str, Any] = {"purposes": ["joint_rnd"], "recipients": ["org:stuttgart-rnd"], "cross_border": True}
    parent = give(runtime, li, categories=["location"], **rnd)  # the parent alone: not a separate consent
    assert not parent.record.separate
    assert cell(runtime, li, "stuttgart-rnd", "joint_rnd", "location.precise")["state"] == "separate_consent_required"
    change = give(runtime, li, categories=["location.precise"], separate=["location.precise"], **rnd)
    assert change.record.separate
    assert cell(runtime, li, "stuttgart-rnd", "joint_rnd", "location.precise")["state"] == "given"


def test_a_recipient_abroad_needs_the_cross_border_confirmation(runtime: Runtime, li: CustomerPrincipal) -> None:
    with pytest.raises(CrossBorderConsentRequired):
        give(runtime, li, purposes=["joint_rnd"], categories=["vehicle.mileage"], recipients=["org:stuttgart-rnd"])
    change = give(
        runtime,
        li,
        purposes=["joint_rnd"],
        categories=["vehicle.mileage"],
        recipients=["org:stuttgart-rnd"],
        cross_border=True,
    )
    assert change.record.cross_border


def test_a_stale_or_foreign_notice_and_unknown_names_are_refused(runtime: Runtime, li: CustomerPrincipal) -> None:
    with pytest.raises(NoticeChanged):
        consents.grant(
            runtime.policies,
            runtime.credentials,
            runtime.customers,
            li,
            purposes=["marketing"],
            categories=["contact"],
            notice_version="0.0",
            notice_sha256="00" * 32,
        )
    zh = consents.current_agreement(runtime.policies, "CN", "zh-CN")
    with pytest.raises(NoticeChanged):  # the Chinese text's hash cited as if the English one was shown
        consents.grant(
            runtime.policies,
            runtime.credentials,
            runtime.customers,
            li,
            purposes=["marketing"],
            categories=["contact"],
            notice_version=zh.version,
            notice_sha256=zh.sha256,
            lang="en",
        )
    with pytest.raises(InvalidConsentRequest, match="unknown purpose"):
        give(runtime, li, purposes=["astrology"], categories=["contact"])
    with pytest.raises(InvalidConsentRequest, match="recipient"):
        give(runtime, li, purposes=["marketing"], categories=["contact"], recipients=["org:nobody"])
    assert consents.records(runtime.policies, li) == []


def test_withdraw_all_marketing_in_one_call_leaves_other_consents(runtime: Runtime, li: CustomerPrincipal) -> None:
    marketing = give(runtime, li, purposes=["marketing"], categories=["contact"])
    finance = give(runtime, li, purposes=["financial_product_recommendation"], categories=["vehicle.vin"])
    repair = give(runtime, li, purposes=["repair_prediction"], categories=["vehicle"])
    result = consents.withdraw_all_marketing(runtime.policies, runtime.credentials, li)
    assert {c.record.record_id for c in result.withdrawn} == {marketing.record.record_id, finance.record.record_id}
    status = {r.record_id: r.status.value for r in consents.records(runtime.policies, li)}
    assert status[repair.record.record_id] == "given"
    assert consents.withdraw_all_marketing(runtime.policies, runtime.credentials, li).withdrawn == []


def test_a_customer_never_reaches_another_customers_records_or_receipts(
    runtime: Runtime, li: CustomerPrincipal, wang: CustomerPrincipal
) -> None:
    change = give(runtime, li, purposes=["marketing"], categories=["contact"])
    assert change.receipt is not None
    with pytest.raises(NotFoundError) as other:
        consents.withdraw(runtime.policies, runtime.credentials, wang, change.record.record_id)
    with pytest.raises(NotFoundError) as absent:
        consents.withdraw(runtime.policies, runtime.credentials, wang, "00000000-0000-0000-0000-000000000000")
    assert str(other.value) == str(absent.value)
    with pytest.raises(NotFoundError):
        get_receipt(runtime.engine, wang, change.receipt["id"])
    assert (
        list_receipts(runtime.engine, runtime.credentials, wang) == []
        and consents.history(runtime.policies, wang) == []
    )


SCOPES = (
    {"purposes": ["marketing"], "categories": ["contact"]},
    {"purposes": ["repair_prediction"], "categories": ["vehicle"]},
    {"purposes": ["marketing"], "categories": ["contact"], "recipients": ["org:bright-marketing"]},
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["give", "withdraw", "withdraw-marketing"]), st.integers(0, 2)), max_size=5
    )
)
def test_a_receipt_is_valid_exactly_while_its_consent_is_given(
    runtime: Runtime, li: CustomerPrincipal, steps: list[tuple[str, int]]
) -> None:
    """Whatever the order of grants and withdrawals, no receipt of a withdrawn consent looks valid and every
    live consent's latest receipt does."""
    for action, which in steps:
        if action == "give":
            give(runtime, li, **SCOPES[which])  # type: ignore[arg-type]
        elif action == "withdraw-marketing":
            consents.withdraw_all_marketing(runtime.policies, runtime.credentials, li)
        else:
            live = [r for r in consents.records(runtime.policies, li) if r.status.value in ("given", "renewed")]
            if live:
                consents.withdraw(runtime.policies, runtime.credentials, li, live[which % len(live)].record_id)
    status = {r.record_id: r.status.value for r in consents.records(runtime.policies, li)}
    latest: dict[str, str] = {}
    for receipt in list_receipts(runtime.engine, runtime.credentials, li):  # newest first
        live = status[receipt.record_id] in ("given", "renewed")
        if not live:
            assert receipt.status == "revoked"
        latest.setdefault(receipt.record_id, receipt.status)
    assert all(latest[r] == "valid" for r, s in status.items() if s in ("given", "renewed"))
