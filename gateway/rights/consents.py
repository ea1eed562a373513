"""The customer's consents as a service: what can be asked, what was given, and changing it.

Plain functions over the policies (`PolicyRuntime`, plus the credential service and customer store where a
receipt is issued or revoked) and the signed-in customer, shared by the REST routes (`/v1/me/...`) and the
portal, so both enforce the same rules: a consent cites the agreement text the customer actually saw (its version
and SHA-256), sensitive categories need a separate confirmation naming each of them (PIPL Art. 29), every given
or renewed consent yields a signed receipt and every withdrawal revokes it in the same ledger transaction.
The customer's id is the subject id in consent records and source systems; the ledger sees only its pseudonym.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from credentials import CredentialService
from gateway.auth.customers import CustomerStore
from gateway.auth.principals import CustomerPrincipal
from gateway.events.changes import CONSENT_WITHDRAWN, consent_effect
from gateway.rights.errors import (
    ConcurrentConsentChange,
    ConsentStateConflict,
    CrossBorderConsentRequired,
    GuardianConsentRequired,
    InvalidConsentRequest,
    NotFoundError,
    NoticeChanged,
    SeparateConsentRequired,
)
from gateway.rights.guardians import guardian_actor, is_minor, who_decides
from gateway.rights.receipts import ensure_customer_did, issuing_effect, revoking_effect
from gateway.rights.rfc3339 import rfc3339
from policies import (
    Agreement,
    CellState,
    ConsentError,
    ConsentRecord,
    ConsentStatus,
    DecisionMode,
    Flow,
    GivenBy,
    LegalBasis,
    PolicyRuntime,
    RecordKind,
    Split,
    Taxonomy,
    UnknownNameError,
    allowed_flows,
    cell_state,
    render_agreement,
    shown_cells,
    split,
)

T = TypeVar("T")
LANGUAGES = ("en", "zh-CN")
# DPV's marketing family; with purposes that sell or share data, what a customer means by "all marketing".
MARKETING_DPV = frozenset(
    {
        "https://w3id.org/dpv#Marketing",
        "https://w3id.org/dpv#DirectMarketing",
        "https://w3id.org/dpv#Advertising",
        "https://w3id.org/dpv#PersonalisedAdvertising",
        "https://w3id.org/dpv#TargetedAdvertising",
    }
)


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise InvalidConsentRequest(f"unsupported language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


# -- the catalog -------------------------------------------------------------------------------------------


# Flows and agreements are pure functions of (taxonomy, matrix version); the version is read from the database on
# every call, so a cached value is never served for a matrix it was not computed from.
_DERIVED: dict[tuple[Any, ...], Any] = {}
_DERIVED_MAX = 256


def _derived(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    if key not in _DERIVED:
        if len(_DERIVED) >= _DERIVED_MAX:
            _DERIVED.clear()
        _DERIVED[key] = compute()
    value: T = _DERIVED[key]
    return value


def matrix_flows(policies: PolicyRuntime) -> list[Flow]:
    """Every flow the current matrix allows."""
    version = policies.matrix.version()
    tax = policies.taxonomy
    return _derived(("flows", tax.digest, id(tax), version), lambda: allowed_flows(tax, policies.matrix.rules(version)))


def current_agreement(
    policies: PolicyRuntime, jurisdiction: str, lang: str, customer_type: str = "standard"
) -> Agreement:
    """The notice for this jurisdiction, language and customer type under the current matrix version."""
    version = policies.matrix.version()
    tax = policies.taxonomy
    _lang(lang)

    def render() -> Agreement:
        try:
            return render_agreement(
                tax,
                policies.matrix.rules(version),
                jurisdiction=jurisdiction,
                lang=lang,
                matrix_version=version,
                customer_type=customer_type,
            )
        except UnknownNameError as exc:
            raise InvalidConsentRequest(str(exc)) from exc

    return _derived(("agreement", tax.digest, id(tax), version, jurisdiction, lang, customer_type), render)


def is_marketing(taxonomy: Taxonomy, purpose: str) -> bool:
    p = taxonomy.purposes[purpose]
    return (p.dpv in MARKETING_DPV) or p.sale_or_share


def catalog(policies: PolicyRuntime, customer: CustomerPrincipal, *, lang: str = "en") -> dict[str, Any]:
    """Everything the customer may be asked for, in their language, with the agreement to cite when consenting."""
    tax = policies.taxonomy
    jur = tax.jurisdiction(customer.jurisdiction)
    agreement = current_agreement(policies, customer.jurisdiction, lang, customer.customer_type)
    purposes = []
    for p in tax.purposes.values():
        basis = tax.legal_basis(p.id, jur.id, customer.customer_type)
        purposes.append(
            {
                "id": p.id,
                "label": p.label.get(lang),
                "description": p.description.get(lang),
                "dpv": p.dpv,
                "legal_basis": basis.value if basis else None,
                "needs_consent": basis is LegalBasis.CONSENT,
                "marketing": is_marketing(tax, p.id),
                "retention_days": p.retention_days,
                "value_offer": {
                    "points_per_use": p.value_offer.points_per_use,
                    "terms": p.value_offer.description.get(lang),
                    "kinds": list(p.value_offer.kinds),
                }
                if p.value_offer
                else None,
            }
        )
    categories = [
        {
            "id": c.id,
            "label": c.label.get(lang),
            "parent": c.parent,
            "dpv": c.dpv,
            "sensitivity": c.sensitivity.value,
            "sensitive": c.sensitive,
            "needs_separate_consent": sensitive_for(tax, customer, c.id),
        }
        for c in tax.categories.values()
    ]
    recipients = [
        {
            "id": r.id,
            "name": r.name.get(lang),
            "role": r.role,
            "role_label": tax.roles[r.role].get(lang),
            "jurisdiction": r.jurisdiction,
            "cross_border": r.jurisdiction != jur.id,
            "needs_cross_border_consent": r.jurisdiction != jur.id and jur.separate_consent_for_cross_border,
        }
        for r in tax.recipients.values()
    ]
    return {
        "jurisdiction": jur.id,
        "law": jur.law,
        "lang": lang,
        "purposes": purposes,
        "categories": categories,
        "recipients": recipients,
        "agreement": {
            "id": agreement.notice.id,
            "version": agreement.version,
            "sha256": agreement.sha256,
            "text": agreement.text,
            "jurisdiction": agreement.jurisdiction,
            "lang": agreement.lang,
        },
    }


# -- the current state -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One category x purpose x recipient the matrix allows for this customer, and the consent answer for it."""

    recipient: str
    purpose: str
    category: str
    mode: str
    state: str  # a `policies.CellState`
    legal_basis: str | None
    record_id: str | None = None
    notice_version: str | None = None
    ledger_index: int | None = None
    sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _record_dict(record: ConsentRecord, *, now: datetime) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "kind": record.kind.value,
        "status": record.status_at(now).value,
        "purposes": list(record.purposes),
        "categories": list(record.categories),
        "recipients": list(record.recipients),
        "jurisdiction": record.jurisdiction,
        "legal_basis": record.legal_basis,
        "notice": dict(record.notice.__dict__) if record.notice else None,
        "separate": record.separate,
        "cross_border": record.cross_border,
        "given_by": record.given_by.value,
        "valid_from": rfc3339(record.valid_from),
        "valid_until": rfc3339(record.valid_until),
        "updated_at": rfc3339(record.event_time),
        "ledger_index": record.ledger_index,
    }


def records(policies: PolicyRuntime, customer: CustomerPrincipal) -> list[ConsentRecord]:
    return policies.consents.records(customer.customer_id)


_MODES: dict[str, DecisionMode] = {"release": "release", "predicate": "predicate", "aggregate": "aggregate"}


def consent_state(
    policies: PolicyRuntime, customer: CustomerPrincipal, *, at: datetime | None = None
) -> dict[str, Any]:
    """The matrix the portal shows: every flow the enterprise matrix allows for me, with my answer to it.

    Each cell's state is the decision engine's own answer (what the gateway would release right now), so the page
    can never claim a consent the proxy would not honour: `given`; `not_needed` (the purpose rests on another
    legal basis such as a contract); or why nothing is released (`policies.CellState`, derived from the decision's
    reasons by `policies.cell_state`, the one mapping the portal and the API share).
    """
    now = at or datetime.now(UTC)
    tax = policies.taxonomy
    jur = tax.jurisdiction(customer.jurisdiction)
    mine = records(policies, customer)
    parents = {c.parent for c in tax.categories.values() if c.parent is not None}
    groups: dict[tuple[str, str, str], list[str]] = {}
    seen: set[tuple[str, str, str]] = set()
    for flow in matrix_flows(policies):
        if flow.customer_type != customer.customer_type or flow.category in parents:
            continue
        if flow.purpose not in tax.purposes or tax.purposes[flow.purpose].legal_basis.get(jur.id) is None:
            continue
        for recipient in (r for r in tax.recipients.values() if r.role == flow.role):
            # one cell per recipient x purpose x category, in its widest mode (flows list release before aggregate)
            if (recipient.id, flow.purpose, flow.category) in seen:
                continue
            seen.add((recipient.id, flow.purpose, flow.category))
            groups.setdefault((recipient.id, flow.purpose, flow.mode), []).append(flow.category)
    subject = customer.subject_context
    cells = []
    for (recipient_id, purpose, mode), categories in groups.items():
        basis = tax.legal_basis(purpose, jur.id, customer.customer_type)
        assert basis is not None  # flows without a basis here were skipped above
        recipient = tax.recipients[recipient_id]
        decision = policies.engine.decide(
            recipient_id, subject, categories, purpose, mode=_MODES.get(mode, "release"), at=now
        )
        for category in categories:
            answer = decision.of(category)
            lineage = tax.lineage(category)
            covering = [
                r
                for r in mine
                if r.kind is RecordKind.CONSENT
                and purpose in r.purposes
                and r.covers_category(lineage)
                and r.covers_recipient(recipient.id, recipient.role)
            ]
            chosen = next((r for r in covering if answer.consent and r.record_id == answer.consent.record_id), None)
            if chosen is None and covering:
                chosen = max(covering, key=lambda r: r.event_time)
            cells.append(
                Cell(
                    recipient_id,
                    purpose,
                    category,
                    mode,
                    cell_state(answer, basis).value,
                    basis.value,
                    chosen.record_id if chosen else None,
                    chosen.notice.version if chosen and chosen.notice else None,
                    chosen.ledger_index if chosen else None,
                    sensitive_for(tax, customer, category),
                )
            )
    return {
        "jurisdiction": jur.id,
        "cells": [c.to_dict() for c in cells],
        "records": [_record_dict(r, now=now) for r in mine],
    }


def _agreement_at(policies: PolicyRuntime, customer: CustomerPrincipal, version: str, lang: str) -> Agreement | None:
    """The agreement of an earlier version (`<taxonomy version>.<matrix version>`), rendered again from the stored
    matrix of that version; None when it cannot be (another taxonomy, an unknown version)."""
    tax = policies.taxonomy
    taxonomy_version, _, matrix_version = version.rpartition(".")
    if taxonomy_version != str(tax.version) or not matrix_version.isdigit():
        return None
    number = int(matrix_version)
    if not 0 < number <= policies.matrix.version():
        return None
    return _derived(
        ("agreement", tax.digest, id(tax), number, customer.jurisdiction, lang, customer.customer_type),
        lambda: render_agreement(
            tax,
            policies.matrix.rules(number),
            jurisdiction=customer.jurisdiction,
            lang=lang,
            matrix_version=number,
            customer_type=customer.customer_type,
        ),
    )


def awaiting_decision(
    policies: PolicyRuntime, customer: CustomerPrincipal, state: dict[str, Any], *, lang: str = "en"
) -> list[dict[str, Any]]:
    """Cells the matrix widened into since the customer accepted an agreement, grouped by the version accepted,
    with the difference between that agreement's text and the current one (unified diff lines; empty when the
    old text cannot be rendered again)."""
    waiting = [c for c in state["cells"] if c["state"] == CellState.AWAITING_DECISION.value]
    current = current_agreement(policies, customer.jurisdiction, lang, customer.customer_type)
    groups: dict[str, list[dict[str, Any]]] = {}
    for cell in waiting:
        groups.setdefault(cell["notice_version"] or "", []).append(cell)
    out = []
    for accepted, cells in groups.items():
        before = _agreement_at(policies, customer, accepted, lang) if accepted else None
        diff = (
            list(
                difflib.unified_diff(
                    before.text.splitlines(),
                    current.text.splitlines(),
                    f"{before.version}",
                    f"{current.version}",
                    lineterm="",
                )
            )
            if before is not None
            else []
        )
        out.append(
            {"accepted_version": accepted or None, "current_version": current.version, "cells": cells, "diff": diff}
        )
    return out


# -- changing consent -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentChange:
    """A consent event's outcome: the record's new state, the receipt issued and the receipts revoked."""

    record: ConsentRecord
    receipt: dict[str, Any] | None = None
    revoked_receipts: tuple[str, ...] = ()
    action: str = "given"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "record": _record_dict(self.record, now=datetime.now(UTC)),
            "receipt_id": self.receipt["id"] if self.receipt else None,
            "revoked_receipts": list(self.revoked_receipts),
        }


def _own(policies: PolicyRuntime, customer: CustomerPrincipal, record_id: str) -> ConsentRecord:
    try:
        record = policies.consents.get(record_id)
    except ConsentError:
        raise NotFoundError("consent record") from None
    if record.subject_id != customer.customer_id:
        raise NotFoundError("consent record")
    return record


def sensitive_for(tax: Taxonomy, customer: CustomerPrincipal, category: str) -> bool:
    """Whether a category needs a separate confirmation for this customer: a sensitive category, or any category
    of a minor where the law counts a minor's data as sensitive (PIPL Art. 28), as the decision engine does."""
    if tax.categories[category].sensitive:
        return True
    jur = tax.jurisdictions.get(customer.jurisdiction)
    return jur is not None and jur.minors_data_sensitive and is_minor(tax, customer)


def _check_sensitive(
    tax: Taxonomy, customer: CustomerPrincipal, categories: Sequence[str], confirmed: Sequence[str]
) -> bool:
    """True when the grant names sensitive categories; raises unless each was confirmed by its exact name.

    Like the decision engine, a separate consent counts only for a sensitive category it names itself: consenting
    to a parent (`location`) never covers a sensitive child (`location.precise`).
    """
    sensitive = [c for c in dict.fromkeys(categories) if sensitive_for(tax, customer, c)]
    missing = [c for c in sensitive if c not in confirmed]
    if missing:
        raise SeparateConsentRequired(missing)
    return bool(sensitive)


def _check_cross_border(tax: Taxonomy, jurisdiction: str, recipients: Sequence[str], confirmed: bool) -> bool:
    """PIPL Art. 39: a transfer abroad needs a separate consent naming the foreign organization (`org:<id>`).

    Roles and `any` never cover a recipient abroad (the engine refuses them), so only named organizations count.
    """
    jur = tax.jurisdiction(jurisdiction)
    abroad = sorted(
        name
        for kind, _, name in (r.partition(":") for r in recipients)
        if kind == "org" and name in tax.recipients and tax.recipients[name].jurisdiction != jur.id
    )
    if abroad and jur.separate_consent_for_cross_border and not confirmed:
        raise CrossBorderConsentRequired(
            "These recipients are abroad and need a separate consent to the cross-border transfer (set "
            f"`cross_border`): {', '.join(abroad)}."
        )
    return bool(abroad) and confirmed


# A customer's consent changes are made one at a time in this process. A grant decides between renewing, giving
# again and creating from what it reads, and a record's events must follow each other in time, so two concurrent
# grants of one scope would otherwise create duplicates or reject each other. Striped: bounded memory for any
# number of customers; hash() is stable within the process, which is all a lock needs.
_CHANGE_LOCKS = tuple(threading.Lock() for _ in range(64))


def _one_change_at_a_time(customer_id: str) -> threading.Lock:
    return _CHANGE_LOCKS[hash(customer_id) % len(_CHANGE_LOCKS)]


def grant(
    policies: PolicyRuntime,
    credentials: CredentialService,
    customers: CustomerStore,
    customer: CustomerPrincipal,
    *,
    purposes: Sequence[str],
    categories: Sequence[str],
    notice_version: str,
    notice_sha256: str,
    lang: str = "en",
    recipients: Sequence[str] = ("any",),
    separate: Sequence[str] = (),
    cross_border: bool = False,
    valid_until: datetime | None = None,
    method: str = "portal",
    guardian: CustomerPrincipal | None = None,
) -> ConsentChange:
    """Give consent (or give it again / renew it when a record of exactly this scope exists) and issue a receipt.

    `notice_version`/`notice_sha256` must be the current agreement's for the customer's jurisdiction and `lang`:
    a consent to a text the customer did not see would be void. `separate` lists the sensitive categories the
    customer confirmed one by one. A minor's consent is given by a `guardian` linked to them (checked by the
    caller, `rights.guardians.ward`), never by the minor.
    """
    tax = policies.taxonomy
    if is_minor(tax, customer) and guardian is None:
        decides = who_decides(policies, customers, customer)
        raise GuardianConsentRequired(
            f"Under {decides.law} a guardian gives consent for a customer under {decides.age or 'the age of consent'}"
            ": your guardian signs in with their own account and decides on your behalf"
            + (f" ({', '.join(decides.guardians)})." if decides.guardians else "; none is linked yet.")
        )
    actor = guardian_actor(policies, guardian) if guardian is not None else customer.actor
    given_by = GivenBy.GUARDIAN if guardian is not None else GivenBy.SUBJECT
    agreement = current_agreement(policies, customer.jurisdiction, lang, customer.customer_type)
    if (notice_version, notice_sha256) != (agreement.version, agreement.sha256):
        raise NoticeChanged(
            f"The agreement changed since it was shown (now version {agreement.version}); show it again and "
            "consent to the current text."
        )
    for name, values, table in (("purpose", purposes, tax.purposes), ("category", categories, tax.categories)):
        if not values:
            raise InvalidConsentRequest(f"name at least one {name}")
        unknown = [v for v in values if v not in table]
        if unknown:
            raise InvalidConsentRequest(f"unknown {name}(s): {', '.join(unknown)}")
    is_separate = _check_sensitive(tax, customer, categories, separate)
    is_cross_border = _check_cross_border(tax, customer.jurisdiction, recipients, cross_border)
    subject_did = ensure_customer_did(customers, customer)
    issued: list[dict[str, Any]] = []
    effect = issuing_effect(credentials, policies.taxonomy, customer.customer_id, subject_did, issued)
    with _one_change_at_a_time(customer.customer_id):
        store = policies.consents
        scope = (set(purposes), set(categories), set(recipients))
        same = [
            r
            for r in store.records(customer.customer_id)
            if r.kind is RecordKind.CONSENT
            and (set(r.purposes), set(r.categories), set(r.recipients)) == scope
            and r.separate == is_separate
            and r.cross_border == is_cross_border
            and r.status is not ConsentStatus.INVALIDATED
        ]
        try:
            if same:
                existing = max(same, key=lambda r: r.event_time)
                if (
                    existing.status in (ConsentStatus.GIVEN, ConsentStatus.RENEWED)
                    and existing.notice == agreement.notice
                ):
                    record = store.renew(existing.record_id, actor=actor, valid_until=valid_until, effects=effect)
                    return ConsentChange(record, issued[0], action="renewed")
                if existing.status not in (ConsentStatus.GIVEN, ConsentStatus.RENEWED):
                    record = store.give_again(
                        existing.record_id,
                        actor=actor,
                        given_by=given_by,
                        notice=agreement.notice,
                        valid_until=valid_until,
                        effects=effect,
                    )
                    return ConsentChange(record, issued[0], action="given_again")
            record = store.grant(
                subject_id=customer.customer_id,
                purposes=purposes,
                categories=categories,
                jurisdiction=customer.jurisdiction,
                actor=actor,
                recipients=recipients,
                method=method,
                given_by=given_by,
                separate=is_separate,
                cross_border=is_cross_border,
                notice=agreement.notice,
                valid_until=valid_until,
                effects=effect,
            )
        except ConsentError as exc:
            if exc.field == "time":
                raise ConcurrentConsentChange() from exc
            raise InvalidConsentRequest(str(exc)) from exc
        return ConsentChange(record, issued[0], action="given")


def withdraw(
    policies: PolicyRuntime,
    credentials: CredentialService,
    customer: CustomerPrincipal,
    record_id: str,
    *,
    guardian: CustomerPrincipal | None = None,
) -> ConsentChange:
    """GDPR Art. 7(3): withdraw one consent; its receipts are revoked in the withdrawal's ledger transaction.

    A minor may withdraw on their own (a withdrawal only ever narrows what is released); a `guardian` withdraws
    on the minor's behalf, under their pseudonym."""
    with _one_change_at_a_time(customer.customer_id):
        record = _own(policies, customer, record_id)
        actor = guardian_actor(policies, guardian) if guardian is not None else customer.actor
        return _withdraw(policies, credentials, record, actor)


def withdraw_as_operator(
    policies: PolicyRuntime, credentials: CredentialService, record_id: str, *, actor: str
) -> ConsentChange:
    """An operator's withdrawal of any subject's consent (`consentry consent withdraw`), recorded under the
    operator's `actor`: the customer's withdrawal in every other respect, so the receipts are revoked and the
    recipients told just the same."""
    try:
        record = policies.consents.get(record_id)
    except ConsentError:
        raise NotFoundError("consent record") from None
    with _one_change_at_a_time(record.subject_id):
        return _withdraw(policies, credentials, record, actor)


def _withdraw(
    policies: PolicyRuntime, credentials: CredentialService, record: ConsentRecord, actor: str
) -> ConsentChange:
    """The one withdrawal every path takes, whoever asks."""
    if record.status not in (ConsentStatus.GIVEN, ConsentStatus.RENEWED):
        raise ConsentStateConflict(f"This consent is {record.status.value}; only a given consent can be withdrawn.")
    revoked: list[str] = []
    try:
        # The receipts are revoked and the recipients' change events queued in the withdrawal's transaction.
        effect = consent_effect(policies.taxonomy, CONSENT_WITHDRAWN, revoking_effect(credentials, revoked))
        updated = policies.consents.withdraw(record.record_id, actor=actor, effects=effect)
    except ConsentError as exc:
        if exc.field == "time":
            raise ConcurrentConsentChange() from exc
        raise ConsentStateConflict(str(exc)) from exc
    return ConsentChange(updated, None, tuple(revoked), action="withdrawn")


@dataclass(frozen=True)
class CellWithdrawal:
    """An exact withdrawal: the record withdrawn (its receipts revoked) and the record continuing the rest (with its
    own receipt), both ledger entries; `remainder` is None when nothing was left."""

    withdrawn: ConsentChange
    remainder: ConsentChange | None
    cells: tuple[tuple[str, str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "withdrawn": self.withdrawn.to_dict(),
            "remainder": self.remainder.to_dict() if self.remainder else None,
            "cells": [{"category": c, "purpose": p, "recipient": r} for c, p, r in self.cells],
        }


def withdraw_cells(
    policies: PolicyRuntime,
    credentials: CredentialService,
    customers: CustomerStore,
    customer: CustomerPrincipal,
    cells: Sequence[tuple[str, str, str]],
    *,
    guardian: CustomerPrincipal | None = None,
) -> list[CellWithdrawal]:
    """Withdraw exactly these (category, purpose, recipient) cells, from every live consent that covers them,
    leaving the rest of each given (a `guardian` acts for the minor `customer`, under their pseudonym).

    A record's scope is fixed, so each record is split: a new record continues the rest under the agreement the
    customer accepted (same notice, same cells minus the withdrawn ones, its own receipt), then the record is
    withdrawn and its receipts revoked. The rest is written first, so nothing still consented is ever refused.
    """
    tax = policies.taxonomy
    for category, purpose, recipient in cells:
        if category not in tax.categories or purpose not in tax.purposes or recipient not in tax.recipients:
            raise InvalidConsentRequest(f"unknown cell {category} x {purpose} x {recipient}")
    asked = tuple(dict.fromkeys(cells))
    done = []
    for record in records(policies, customer):
        if record.kind is not RecordKind.CONSENT or record.status not in (ConsentStatus.GIVEN, ConsentStatus.RENEWED):
            continue
        covered = record.cells
        if covered is None:  # a record from before issue 14: today's agreement's cells, never more than it names
            covered = shown_cells(
                tax,
                matrix_flows(policies),
                purposes=record.purposes,
                categories=record.categories,
                recipients=record.recipients,
            )
        parts = split(tax, record, covered, asked)
        if parts.withdrawn:
            done.append(_split(policies, credentials, customers, customer, guardian, record, parts, asked))
    if not done:
        raise ConsentStateConflict("No given consent covers these cells.")
    return done


def _split(
    policies: PolicyRuntime,
    credentials: CredentialService,
    customers: CustomerStore,
    customer: CustomerPrincipal,
    guardian: CustomerPrincipal | None,
    record: ConsentRecord,
    parts: Split,
    asked: tuple[tuple[str, str, str], ...],
) -> CellWithdrawal:
    if not parts.remainder:
        ended = withdraw(policies, credentials, customer, record.record_id, guardian=guardian)
        return CellWithdrawal(ended, None, asked)
    issued: list[dict[str, Any]] = []
    effect = (
        issuing_effect(
            credentials, policies.taxonomy, customer.customer_id, ensure_customer_did(customers, customer), issued
        )
        if record.notice is not None
        else None
    )
    try:
        rest = policies.consents.grant(
            subject_id=customer.customer_id,
            purposes=parts.purposes,
            categories=parts.categories,
            recipients=parts.recipients,
            jurisdiction=record.jurisdiction,
            actor=guardian_actor(policies, guardian) if guardian is not None else customer.actor,
            method=record.method,
            given_by=record.given_by,
            separate=record.separate,
            cross_border=record.cross_border,
            notice=record.notice,
            valid_until=record.valid_until,
            cells=parts.remainder,
            effects=effect,
        )
    except ConsentError as exc:
        raise InvalidConsentRequest(str(exc)) from exc
    remainder = ConsentChange(rest, issued[0] if issued else None, action="given")
    ended = withdraw(policies, credentials, customer, record.record_id, guardian=guardian)
    return CellWithdrawal(ended, remainder, asked)


@dataclass(frozen=True)
class BulkWithdrawal:
    withdrawn: list[ConsentChange] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"withdrawn": [c.to_dict() for c in self.withdrawn], "count": len(self.withdrawn)}


def withdraw_all_marketing(
    policies: PolicyRuntime,
    credentials: CredentialService,
    customer: CustomerPrincipal,
    *,
    guardian: CustomerPrincipal | None = None,
) -> BulkWithdrawal:
    """One click: withdraw every live consent that covers a marketing purpose (each its own ledger event).

    A record that covers marketing together with other purposes is withdrawn whole: a record's scope is fixed,
    so the other purposes must be consented to again on their own.
    """
    tax = policies.taxonomy
    changes = []
    for record in records(policies, customer):
        if record.status in (ConsentStatus.GIVEN, ConsentStatus.RENEWED) and any(
            is_marketing(tax, p) for p in record.purposes
        ):
            changes.append(withdraw(policies, credentials, customer, record.record_id, guardian=guardian))
    return BulkWithdrawal(changes)


def history(policies: PolicyRuntime, customer: CustomerPrincipal) -> list[dict[str, Any]]:
    """Every consent event of the customer, oldest first, with the scope of its record."""
    scope = {r.record_id: r for r in records(policies, customer)}
    entries = []
    for event in policies.consents.history(customer.customer_id):
        record = scope[event.record_id]
        notice = event.changes.get("notice")
        entries.append(
            {
                "record_id": event.record_id,
                "seq": event.seq,
                "status": event.status.value,
                "time": rfc3339(event.time),
                "actor": event.actor,
                "ledger_index": event.ledger_index,
                "purposes": list(record.purposes),
                "categories": list(record.categories),
                "recipients": list(record.recipients),
                "notice_version": notice.get("version") if isinstance(notice, dict) else None,
            }
        )
    return entries
