"""The enterprise's data taxonomy: categories, purposes, jurisdictions, customer types and recipients.

Loaded from a YAML file the enterprise edits and validated whole: every problem is reported with its file and
line, and a file with any problem is refused (nothing half-loaded).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import rfc8785

from policies.errors import Problem, UnknownNameError, ValidationError
from policies.yamlfile import Located, load_file, load_text

T = TypeVar("T")

LANGUAGES = ("zh-CN", "en")
DEFAULT_TAXONOMY = Path(__file__).parent / "data" / "taxonomy.yaml"


class Sensitivity(StrEnum):
    """`sensitive` is PIPL Art. 28 sensitive personal information; `special` is a GDPR Art. 9 special category
    (every special category is also PIPL-sensitive, so `special` implies `sensitive`)."""

    NORMAL = "normal"
    SENSITIVE = "sensitive"
    SPECIAL = "special"


class LegalBasis(StrEnum):
    """Lawful bases across PIPL Art. 13, GDPR Art. 6 and CCPA (where processing rests on notice + opt-out)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTEREST = "vital_interest"
    PUBLIC_INTEREST = "public_interest"
    LEGITIMATE_INTEREST = "legitimate_interest"
    NOTICE = "notice"


@dataclass(frozen=True)
class Text:
    """A label or description in every supported language."""

    zh_cn: str
    en: str

    def get(self, lang: str) -> str:
        return self.zh_cn if lang == "zh-CN" else self.en


@dataclass(frozen=True)
class MinorRules:
    """Who decides for a child (PIPL Art. 31, GDPR Art. 8, CCPA 1798.120(c)): below `guardian_consent_below` a
    guardian gives or withdraws consent; below `sale_opt_in_below` selling or sharing needs an opt-in consent
    instead of resting on notice. GDPR lets each member state lower its age (to no less than 13):
    `member_states` maps ISO 3166-1 codes to their own ages."""

    guardian_consent_below: int
    sale_opt_in_below: int | None = None
    member_states: Mapping[str, int] = field(default_factory=dict)

    def guardian_age(self, member_state: str | None = None) -> int:
        """The age below which a guardian decides, in `member_state` where the law lets it choose."""
        if member_state is not None and member_state in self.member_states:
            return self.member_states[member_state]
        return self.guardian_consent_below


# ISO 3166-1 alpha-2 (`CN`), ISO 3166-2 subdivision (`US-CA`), or `EU` (a region whose law applies throughout).
JURISDICTION_CODE = r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?"


@dataclass(frozen=True)
class Jurisdiction:
    id: str
    law: str
    name: Text
    legal_bases: frozenset[LegalBasis]
    separate_consent_for_sensitive: bool
    separate_consent_for_cross_border: bool
    fresh_consent_on_change: bool
    minors_data_sensitive: bool
    objection_to: frozenset[LegalBasis]
    opt_out_of_sale: bool
    minors: MinorRules | None = None
    restriction_of_processing: bool = False  # GDPR Art. 18, PIPL Art. 44
    # Where a customer under this law may complain (GDPR Art. 13(2)(d), PIPL Art. 65): name and contact.
    complaint_authority: Text | None = None
    line: int = 0


@dataclass(frozen=True)
class Category:
    id: str
    label: Text
    sensitivity: Sensitivity
    dpv: str | None
    high_risk: bool
    line: int

    @property
    def parent(self) -> str | None:
        return self.id.rsplit(".", 1)[0] if "." in self.id else None

    @property
    def sensitive(self) -> bool:
        return self.sensitivity is not Sensitivity.NORMAL


@dataclass(frozen=True)
class ValueOffer:
    """What the customer receives in return for the use of their data ("value for data"): points per use
    (redeemable for catalogue items), priority access to new features, and/or a donation the enterprise
    matches per use to a named beneficiary (in the currency's minor units, e.g. fen or cents)."""

    points_per_use: int
    description: Text
    priority_access: Text | None = None
    donation_per_use: int = 0
    donation_currency: str = ""
    donation_beneficiary: Text | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The offer's kinds: points, priority_access, donation_match."""
        found = (
            ("points", self.points_per_use > 0),
            ("priority_access", self.priority_access is not None),
            ("donation_match", self.donation_per_use > 0),
        )
        return tuple(kind for kind, offered in found if offered)


@dataclass(frozen=True)
class CatalogueItem:
    """Something points can be redeemed for (a maintenance voucher, an accessory), at a price in points."""

    id: str
    label: Text
    points: int


class RetentionAction(StrEnum):
    """What happens to a record kind at the end of its period (GDPR Art. 5(1)(e), PIPL Art. 19 and 47)."""

    LAPSE = "lapse"  # the consent expires unless renewed
    ERASE_PAYLOAD = "erase_payload"  # the ledger payload (or stored receipt) is deleted; leaves and proofs stay
    DELETE_AT_SOURCE = "delete_at_source"  # categories no live purpose covers any more are deleted upstream


# Every record kind a purpose keeps, and the actions each may take at its end; the first is the default.
RETENTION_KINDS: Mapping[str, tuple[RetentionAction, ...]] = {
    "consent": (RetentionAction.LAPSE, RetentionAction.DELETE_AT_SOURCE),
    "access_log": (RetentionAction.ERASE_PAYLOAD,),
    "zk_answers": (RetentionAction.ERASE_PAYLOAD,),
    "receipts": (RetentionAction.ERASE_PAYLOAD,),
    "exports": (RetentionAction.ERASE_PAYLOAD,),
}


@dataclass(frozen=True)
class RetentionRule:
    """How long one record kind of a purpose is kept, and what happens when that time is up."""

    kind: str
    days: int
    actions: tuple[RetentionAction, ...]


@dataclass(frozen=True)
class Purpose:
    id: str
    label: Text
    description: Text
    dpv: str | None
    revision: int
    legal_basis: Mapping[str, LegalBasis]
    retention_days: int | None
    sale_or_share: bool
    value_offer: ValueOffer | None
    line: int
    retention: Mapping[str, RetentionRule] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerType:
    id: str
    label: Text
    minor: bool


@dataclass(frozen=True)
class Recipient:
    id: str
    name: Text
    role: str
    jurisdiction: str
    # The organization's departments a read may be declared for (the customer sees which one read their data).
    departments: Mapping[str, Text] = field(default_factory=dict)
    # What a notice must say of a recipient (PIPL Art. 23, 39; GDPR Art. 13(1)(e, f)): its legal name, how to
    # reach it, its country, and the safeguard under which data reaches it from another law's territory.
    legal_name: Text | None = None
    contact: str = ""
    country: str = ""
    transfer_safeguard: Text | None = None
    line: int = 0


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy; lookups raise `UnknownNameError` naming what was unknown."""

    version: int
    controller: str
    controller_name: Text
    controller_jurisdiction: str
    jurisdictions: Mapping[str, Jurisdiction]
    categories: Mapping[str, Category]
    purposes: Mapping[str, Purpose]
    customer_types: Mapping[str, CustomerType]
    roles: Mapping[str, Text]
    recipients: Mapping[str, Recipient]
    source: str = "<memory>"
    digest: str = field(default="", compare=False)
    # The controller's contact and its data protection officer / personal information protection officer
    # (GDPR Art. 13(1)(a, b), PIPL Art. 17, 52), for every notice.
    controller_contact: Text | None = None
    dpo: Text | None = None
    controller_line: int = 0
    # What value-for-data points can be redeemed for.
    catalogue: Mapping[str, CatalogueItem] = field(default_factory=dict)

    def category(self, name: str) -> Category:
        return _lookup(self.categories, "category", name)

    def purpose(self, name: str) -> Purpose:
        return _lookup(self.purposes, "purpose", name)

    def customer_type(self, name: str) -> CustomerType:
        return _lookup(self.customer_types, "customer type", name)

    def recipient(self, name: str) -> Recipient:
        return _lookup(self.recipients, "recipient", name)

    def jurisdiction(self, name: str) -> Jurisdiction:
        return _lookup(self.jurisdictions, "jurisdiction", name)

    def legal_basis(self, purpose: str, jurisdiction: str, customer_type: str) -> LegalBasis | None:
        """The basis a purpose rests on for this customer: the purpose's basis in the jurisdiction, except that
        selling or sharing a minor's data where the law demands an opt-in (CCPA 1798.120(c)) needs consent."""
        pur = self.purpose(purpose)
        jur = self.jurisdiction(jurisdiction)
        basis = pur.legal_basis.get(jur.id)
        if (
            basis is not None
            and basis is not LegalBasis.CONSENT
            and pur.sale_or_share
            and jur.minors is not None
            and jur.minors.sale_opt_in_below is not None
            and self.customer_type(customer_type).minor
        ):
            return LegalBasis.CONSENT
        return basis

    def lineage(self, category: str) -> tuple[str, ...]:
        """The category and its ancestors, nearest first: a consent or rule on any of them covers it."""
        return self._lineages[category]

    def descendants(self, category: str) -> Iterator[Category]:
        prefix = category + "."
        for c in self.categories.values():
            if c.id == category or c.id.startswith(prefix):
                yield c

    @cached_property
    def _lineages(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for cid in self.categories:
            parts = cid.split(".")
            out[cid] = tuple(".".join(parts[:i]) for i in range(len(parts), 0, -1))
        return out


def _lookup(table: Mapping[str, T], kind: str, name: str) -> T:
    try:
        return table[name]
    except KeyError:
        raise UnknownNameError(kind, name) from None


def load_taxonomy(path: Path | str = DEFAULT_TAXONOMY) -> Taxonomy:
    """Load and validate a taxonomy file; raise `ValidationError` listing every file:line problem."""
    path = Path(path)
    return _parse(load_file(path), str(path))


def parse_taxonomy(text: str, name: str = "<taxonomy>") -> Taxonomy:
    return _parse(load_text(text, name), name)


class _Checker:
    """Collects problems so one run reports all of them, not just the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def mapping(self, node: Any, where: Located, key: str) -> Located | None:
        if not isinstance(node, Located):
            self.add(where.line_of(key), f"{key!r} must be a mapping")
            return None
        return node

    def string(self, node: Located, key: str, *, required: bool = True) -> str | None:
        value = node.get(key)
        if value is None:
            if required:
                self.add(node.line, f"missing {key!r}")
            return None
        if not isinstance(value, str) or not value:
            self.add(node.line_of(key), f"{key!r} must be a non-empty string")
            return None
        return value

    def boolean(self, node: Located, key: str, default: bool = False) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            self.add(node.line_of(key), f"{key!r} must be true or false")
            return default
        return value

    def integer(self, node: Located, key: str, *, minimum: int = 0) -> int | None:
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.add(node.line_of(key), f"{key!r} must be an integer >= {minimum}")
            return None
        return value

    def text(self, node: Located, key: str) -> Text:
        value = node.get(key)
        if not isinstance(value, Located):
            self.add(node.line_of(key), f"{key!r} must map each language ({', '.join(LANGUAGES)}) to text")
            return Text("", "")
        missing = [lang for lang in LANGUAGES if not isinstance(value.get(lang), str) or not value.get(lang)]
        if missing:
            self.add(value.line, f"{key!r} lacks text for {', '.join(missing)}")
        extra = sorted(set(value) - set(LANGUAGES))
        if extra:
            self.add(value.line, f"{key!r} has unsupported language(s) {', '.join(extra)}")
        return Text(str(value.get("zh-CN", "")), str(value.get("en", "")))

    def items(self, root: Located, key: str) -> list[Located]:
        value = root.get(key)
        if not isinstance(value, list) or not value:
            self.add(root.line_of(key), f"{key!r} must be a non-empty list")
            return []
        out = []
        for item in value:
            if isinstance(item, Located):
                out.append(item)
            else:
                self.add(root.line_of(key), f"every entry of {key!r} must be a mapping, got {item!r}")
        return out

    def unknown_keys(self, node: Located, allowed: set[str]) -> None:
        for key in sorted(set(node) - allowed):
            self.add(node.line_of(key), f"unknown field {key!r}")

    def unique(self, seen: dict[str, int], name: str, line: int, kind: str) -> bool:
        if name in seen:
            self.add(line, f"duplicate {kind} {name!r} (first defined at line {seen[name]})")
            return False
        seen[name] = line
        return True


def _basis(ck: _Checker, node: Located, key: str, value: Any) -> LegalBasis | None:
    try:
        return LegalBasis(value)
    except ValueError:
        ck.add(node.line_of(key), f"unknown legal basis {value!r} (one of {', '.join(b.value for b in LegalBasis)})")
        return None


def _minors(ck: _Checker, body: Located) -> MinorRules | None:
    node = body.get("minors")
    if node is None:
        return None
    if not isinstance(node, Located):
        ck.add(body.line_of("minors"), "'minors' must be a mapping")
        return None
    ck.unknown_keys(node, {"guardian_consent_below", "sale_opt_in_below", "member_states"})
    below = ck.integer(node, "guardian_consent_below", minimum=1)
    if below is None:
        ck.add(node.line, "'minors' needs guardian_consent_below (an age >= 1)")
    states: dict[str, int] = {}
    snode = node.get("member_states")
    if snode is not None:
        if not isinstance(snode, Located):
            ck.add(node.line_of("member_states"), "'member_states' must map ISO 3166-1 codes to ages")
        else:
            for code in snode:
                age = ck.integer(snode, code, minimum=1)
                if not re.fullmatch(r"[A-Z]{2}", code):
                    ck.add(snode.line_of(code), f"member state {code!r} must be an ISO 3166-1 alpha-2 code")
                elif age is not None:
                    states[code] = age
    return MinorRules(below or 1, ck.integer(node, "sale_opt_in_below", minimum=1), states)


def _retention(ck: _Checker, node: Located, pid: str, retention_days: int | None) -> dict[str, RetentionRule]:
    """The purpose's retention plan: `retention` per record kind, each kind not named kept `retention_days`
    with its default action. No kind may outlive the purpose's own period: that is the limit the notice states."""
    plan: dict[str, RetentionRule] = {}
    rnode = node.get("retention")
    if rnode is not None and (not isinstance(rnode, Located) or not rnode):
        ck.add(node.line_of("retention"), f"purpose {pid!r}: 'retention' must map record kinds to {{days, then}}")
        rnode = None
    named = dict(rnode or {})
    for kind in sorted(set(named) - set(RETENTION_KINDS)):
        assert rnode is not None
        ck.add(
            rnode.line_of(kind), f"purpose {pid!r}: unknown record kind {kind!r} (one of {', '.join(RETENTION_KINDS)})"
        )
    for kind, allowed in RETENTION_KINDS.items():
        body = named.get(kind)
        if body is None:
            if retention_days is not None:
                plan[kind] = RetentionRule(kind, retention_days, allowed[:1])
            continue
        assert rnode is not None
        if not isinstance(body, Located):
            ck.add(rnode.line_of(kind), f"purpose {pid!r}: retention of {kind!r} must be a mapping {{days, then}}")
            continue
        ck.unknown_keys(body, {"days", "then"})
        days = ck.integer(body, "days", minimum=1)
        if days is None and "days" not in body:
            ck.add(body.line, f"purpose {pid!r}: retention of {kind!r} needs 'days'")
        if days is not None and retention_days is not None and days > retention_days:
            ck.add(
                body.line_of("days"),
                f"purpose {pid!r} keeps {kind} {days} days, beyond its retention_days ({retention_days})",
            )
        actions = _actions(ck, body, pid, kind, allowed)
        if days is not None and actions is not None:
            plan[kind] = RetentionRule(kind, days, actions)
    return plan


def _actions(
    ck: _Checker, body: Located, pid: str, kind: str, allowed: tuple[RetentionAction, ...]
) -> tuple[RetentionAction, ...] | None:
    raw = body.get("then", [allowed[0].value])
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values:
        ck.add(body.line_of("then"), f"purpose {pid!r}: 'then' of {kind!r} must name at least one action")
        return None
    actions: list[RetentionAction] = []
    for value in values:
        if value not in {a.value for a in allowed}:
            ck.add(
                body.line_of("then"),
                f"purpose {pid!r}: {value!r} cannot end {kind!r} (allowed: {', '.join(a.value for a in allowed)})",
            )
            return None
        actions.append(RetentionAction(value))
    if allowed[0] not in actions:
        ck.add(body.line_of("then"), f"purpose {pid!r}: the end of {kind!r} must include {allowed[0].value!r}")
        return None
    return tuple(dict.fromkeys(actions))


def _parse(root: Located, file: str) -> Taxonomy:
    ck = _Checker(file)
    ck.unknown_keys(
        root,
        {"version", "controller", "jurisdictions", "categories", "purposes", "customer_types", "roles", "recipients"}
        | {"catalogue"},
    )
    version = ck.integer(root, "version", minimum=1)
    if version is None and "version" not in root:
        ck.add(root.line, "missing 'version'")

    jurisdictions: dict[str, Jurisdiction] = {}
    jnode = ck.mapping(root.get("jurisdictions"), root, "jurisdictions")
    for jid, body in (jnode or {}).items():
        assert jnode is not None
        if not isinstance(body, Located):
            ck.add(jnode.line_of(jid), f"jurisdiction {jid!r} must be a mapping")
            continue
        ck.unknown_keys(
            body,
            {
                "law",
                "name",
                "legal_bases",
                "separate_consent_for_sensitive",
                "separate_consent_for_cross_border",
                "fresh_consent_on_change",
                "minors_data_sensitive",
                "objection_to",
                "opt_out_of_sale",
                "minors",
                "restriction_of_processing",
                "complaint_authority",
            },
        )
        if not re.fullmatch(JURISDICTION_CODE, jid):
            ck.add(jnode.line_of(jid), f"jurisdiction {jid!r} must be an ISO 3166-1 or 3166-2 code such as CN or US-CA")
        allowed = [_basis(ck, body, "legal_bases", b) for b in body.get("legal_bases") or []]
        objection = [_basis(ck, body, "objection_to", b) for b in body.get("objection_to") or []]
        if not allowed:
            ck.add(body.line, f"jurisdiction {jid!r} lists no legal_bases")
        jurisdictions[jid] = Jurisdiction(
            id=jid,
            law=ck.string(body, "law") or "",
            name=ck.text(body, "name"),
            legal_bases=frozenset(b for b in allowed if b is not None),
            separate_consent_for_sensitive=ck.boolean(body, "separate_consent_for_sensitive"),
            separate_consent_for_cross_border=ck.boolean(body, "separate_consent_for_cross_border"),
            fresh_consent_on_change=ck.boolean(body, "fresh_consent_on_change"),
            minors_data_sensitive=ck.boolean(body, "minors_data_sensitive"),
            objection_to=frozenset(b for b in objection if b is not None),
            opt_out_of_sale=ck.boolean(body, "opt_out_of_sale"),
            minors=_minors(ck, body),
            restriction_of_processing=ck.boolean(body, "restriction_of_processing"),
            complaint_authority=ck.text(body, "complaint_authority") if "complaint_authority" in body else None,
            line=jnode.line_of(jid),
        )

    controller = ck.mapping(root.get("controller"), root, "controller")
    controller_id = controller_jur = ""
    controller_name = Text("", "")
    controller_contact = dpo = None
    if controller is not None:
        ck.unknown_keys(controller, {"id", "name", "jurisdiction", "contact", "dpo"})
        controller_contact = ck.text(controller, "contact") if "contact" in controller else None
        dpo = ck.text(controller, "dpo") if "dpo" in controller else None
        controller_id = ck.string(controller, "id") or ""
        controller_name = ck.text(controller, "name")
        controller_jur = ck.string(controller, "jurisdiction") or ""
        if controller_jur and controller_jur not in jurisdictions:
            ck.add(controller.line_of("jurisdiction"), f"unknown jurisdiction {controller_jur!r}")

    categories: dict[str, Category] = {}
    seen: dict[str, int] = {}
    for node in ck.items(root, "categories"):
        ck.unknown_keys(node, {"id", "label", "sensitivity", "dpv", "high_risk"})
        cid = ck.string(node, "id")
        if cid is None or not ck.unique(seen, cid, node.line, "category"):
            continue
        if not all(part.isidentifier() for part in cid.split(".")):
            ck.add(node.line_of("id"), f"category id {cid!r} must be dot-separated identifiers")
        raw = node.get("sensitivity", "normal")
        try:
            sensitivity = Sensitivity(raw)
        except ValueError:
            ck.add(node.line_of("sensitivity"), f"sensitivity must be normal, sensitive or special, got {raw!r}")
            sensitivity = Sensitivity.NORMAL
        categories[cid] = Category(
            id=cid,
            label=ck.text(node, "label"),
            sensitivity=sensitivity,
            dpv=ck.string(node, "dpv", required=False),
            high_risk=ck.boolean(node, "high_risk"),
            line=node.line,
        )
    for cat in categories.values():
        if cat.parent is not None and cat.parent not in categories:
            ck.add(cat.line, f"category {cat.id!r} has no parent category {cat.parent!r}")

    purposes: dict[str, Purpose] = {}
    seen = {}
    for node in ck.items(root, "purposes"):
        ck.unknown_keys(
            node,
            {
                "id",
                "label",
                "description",
                "dpv",
                "revision",
                "legal_basis",
                "retention_days",
                "sale_or_share",
                "value_offer",
                "retention",
            },
        )
        pid = ck.string(node, "id")
        if pid is None or not ck.unique(seen, pid, node.line, "purpose"):
            continue
        bases: dict[str, LegalBasis] = {}
        bnode = node.get("legal_basis")
        if not isinstance(bnode, Located) or not bnode:
            ck.add(node.line_of("legal_basis"), f"purpose {pid!r} needs a legal_basis per jurisdiction")
        else:
            for jid, raw_basis in bnode.items():
                basis = _basis(ck, bnode, jid, raw_basis)
                if jid not in jurisdictions:
                    ck.add(bnode.line_of(jid), f"unknown jurisdiction {jid!r}")
                elif basis is not None and basis not in jurisdictions[jid].legal_bases:
                    ck.add(bnode.line_of(jid), f"{basis.value!r} is not a legal basis under {jurisdictions[jid].law}")
                if basis is not None:
                    bases[jid] = basis
        offer = None
        onode = node.get("value_offer")
        if onode is not None:
            if not isinstance(onode, Located):
                ck.add(node.line_of("value_offer"), "'value_offer' must be a mapping")
            else:
                ck.unknown_keys(onode, {"points_per_use", "description", "priority_access", "donation"})
                points = ck.integer(onode, "points_per_use", minimum=1) if "points_per_use" in onode else None
                priority = ck.text(onode, "priority_access") if "priority_access" in onode else None
                donation = onode.get("donation")
                amount, currency, beneficiary = 0, "", None
                if isinstance(donation, Located):
                    ck.unknown_keys(donation, {"per_use", "currency", "beneficiary"})
                    amount = ck.integer(donation, "per_use", minimum=1) or 0
                    currency = ck.string(donation, "currency") or ""
                    beneficiary = ck.text(donation, "beneficiary")
                elif donation is not None:
                    ck.add(onode.line_of("donation"), "'donation' must be a mapping (per_use, currency, beneficiary)")
                if points is None and priority is None and not amount:
                    ck.add(onode.line, "'value_offer' needs points_per_use, priority_access or donation")
                offer = ValueOffer(points or 0, ck.text(onode, "description"), priority, amount, currency, beneficiary)
        revision = ck.integer(node, "revision", minimum=1)
        retention_days = ck.integer(node, "retention_days", minimum=1)
        purposes[pid] = Purpose(
            id=pid,
            label=ck.text(node, "label"),
            description=ck.text(node, "description"),
            dpv=ck.string(node, "dpv", required=False),
            revision=revision or 1,
            legal_basis=bases,
            retention_days=retention_days,
            sale_or_share=ck.boolean(node, "sale_or_share"),
            value_offer=offer,
            line=node.line,
            retention=_retention(ck, node, pid, retention_days),
        )

    customer_types: dict[str, CustomerType] = {}
    seen = {}
    for node in ck.items(root, "customer_types"):
        ck.unknown_keys(node, {"id", "label", "minor"})
        tid = ck.string(node, "id")
        if tid is None or not ck.unique(seen, tid, node.line, "customer type"):
            continue
        customer_types[tid] = CustomerType(tid, ck.text(node, "label"), ck.boolean(node, "minor"))

    roles: dict[str, Text] = {}
    seen = {}
    for node in ck.items(root, "roles"):
        ck.unknown_keys(node, {"id", "label"})
        rid = ck.string(node, "id")
        if rid is None or not ck.unique(seen, rid, node.line, "role"):
            continue
        roles[rid] = ck.text(node, "label")

    recipients: dict[str, Recipient] = {}
    seen = {}
    for node in ck.items(root, "recipients"):
        ck.unknown_keys(
            node,
            {
                "id",
                "name",
                "role",
                "jurisdiction",
                "departments",
                "legal_name",
                "contact",
                "country",
                "transfer_safeguard",
            },
        )
        rid = ck.string(node, "id")
        if rid is None or not ck.unique(seen, rid, node.line, "recipient"):
            continue
        departments: dict[str, Text] = {}
        for dept in node.get("departments") or []:
            if not isinstance(dept, Located):
                ck.add(node.line_of("departments"), f"recipient {rid!r}: a department is a mapping (id, label)")
                continue
            ck.unknown_keys(dept, {"id", "label"})
            did = ck.string(dept, "id")
            if did is not None and re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", did) is None:
                ck.add(dept.line_of("id"), f"department id {did!r} must be a lowercase identifier")
            elif did is not None:
                departments[did] = ck.text(dept, "label")
        role = ck.string(node, "role") or ""
        jur = ck.string(node, "jurisdiction") or ""
        if role and role not in roles:
            ck.add(node.line_of("role"), f"unknown role {role!r}")
        if jur and jur not in jurisdictions:
            ck.add(node.line_of("jurisdiction"), f"unknown jurisdiction {jur!r}")
        recipients[rid] = Recipient(
            rid,
            ck.text(node, "name"),
            role,
            jur,
            departments,
            legal_name=ck.text(node, "legal_name") if "legal_name" in node else None,
            contact=ck.string(node, "contact", required=False) or "",
            country=ck.string(node, "country", required=False) or "",
            transfer_safeguard=ck.text(node, "transfer_safeguard") if "transfer_safeguard" in node else None,
            line=node.line,
        )

    catalogue: dict[str, CatalogueItem] = {}
    for node in root.get("catalogue") or []:
        if not isinstance(node, Located):
            ck.add(root.line_of("catalogue"), "each catalogue item is a mapping (id, label, points)")
            continue
        ck.unknown_keys(node, {"id", "label", "points"})
        iid = ck.string(node, "id")
        price = ck.integer(node, "points", minimum=1)
        if iid is not None and price is not None:
            catalogue[iid] = CatalogueItem(iid, ck.text(node, "label"), price)

    for name in ("*", "any"):
        for table, kind in ((categories, "category"), (purposes, "purpose"), (roles, "role")):
            if name in table:
                ck.add(root.line, f"{name!r} is reserved and cannot name a {kind}")

    if ck.problems:
        raise ValidationError(ck.problems)
    taxonomy = Taxonomy(
        version=version or 1,
        controller=controller_id,
        controller_name=controller_name,
        controller_jurisdiction=controller_jur,
        jurisdictions=jurisdictions,
        categories=categories,
        purposes=purposes,
        customer_types=customer_types,
        roles=roles,
        recipients=recipients,
        source=file,
        controller_contact=controller_contact,
        dpo=dpo,
        catalogue=catalogue,
        controller_line=controller.line if controller is not None else 0,
    )
    object.__setattr__(taxonomy, "digest", _digest(root))
    return taxonomy


def _digest(root: Located) -> str:
    """SHA-256 of the file's canonical JSON: a notice or policy version can cite exactly what it was built from."""
    return hashlib.sha256(rfc8785.dumps(_plain(root))).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
