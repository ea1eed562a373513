"""One-click agreement: the consent notice a customer sees, rendered from the taxonomy and the matrix.

The text lists exactly the flows the matrix allows (so the notice cannot promise less than the gateway releases),
is versioned by taxonomy and matrix version, and is hash-recorded: a consent cites the notice's SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from policies.compliance import TRANSFER_LAWS
from policies.consent import Notice
from policies.errors import UnknownNameError
from policies.flows import allowed_flows
from policies.matrix import MatrixRule
from policies.taxonomy import LANGUAGES, LegalBasis, Taxonomy

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 - plain text, never HTML
)

_BASIS = {
    "en": {
        LegalBasis.CONSENT: "your consent",
        LegalBasis.CONTRACT: "performance of our contract with you",
        LegalBasis.LEGAL_OBLIGATION: "a legal obligation",
        LegalBasis.VITAL_INTEREST: "protection of life, health or property",
        LegalBasis.PUBLIC_INTEREST: "the public interest",
        LegalBasis.LEGITIMATE_INTEREST: "our legitimate interest",
        LegalBasis.NOTICE: "notice at collection",
    },
    "zh-CN": {
        LegalBasis.CONSENT: "您的同意",
        LegalBasis.CONTRACT: "订立、履行与您的合同所必需",
        LegalBasis.LEGAL_OBLIGATION: "履行法定义务所必需",
        LegalBasis.VITAL_INTEREST: "保护生命健康和财产安全所必需",
        LegalBasis.PUBLIC_INTEREST: "公共利益",
        LegalBasis.LEGITIMATE_INTEREST: "我们的正当利益",
        LegalBasis.NOTICE: "收集时的告知",
    },
}
_DAYS = {"en": "{n} days, then deleted or anonymised", "zh-CN": "{n} 天，期满后删除或匿名化"}
_NO_RETENTION = {"en": "as long as the purpose requires", "zh-CN": "实现处理目的所必要的最短时间"}


@dataclass(frozen=True)
class Agreement:
    jurisdiction: str
    lang: str
    version: str
    text: str
    sha256: str
    rules: tuple[str, ...]

    @property
    def notice(self) -> Notice:
        """What a consent record cites: which notice, which version, and the hash of the exact text."""
        return Notice(id=f"notice-{self.jurisdiction}-{self.lang}", version=self.version, sha256=self.sha256)


def render_agreement(
    taxonomy: Taxonomy,
    rules: Sequence[MatrixRule],
    *,
    jurisdiction: str,
    lang: str,
    matrix_version: int,
    customer_type: str = "standard",
) -> Agreement:
    if lang not in LANGUAGES:
        raise UnknownNameError("language", lang)
    jur = taxonomy.jurisdiction(jurisdiction)
    taxonomy.customer_type(customer_type)
    flows = [f for f in allowed_flows(taxonomy, rules) if f.customer_type == customer_type]
    implied: set[str] = set()
    parents = {c.parent for c in taxonomy.categories.values() if c.parent is not None}
    purposes: list[dict[str, Any]] = []
    for purpose in taxonomy.purposes.values():
        basis = purpose.legal_basis.get(jur.id)
        mine = [f for f in flows if f.purpose == purpose.id]
        if basis is None or not mine:
            continue
        recipients = []
        for rec in taxonomy.recipients.values():
            theirs = [f for f in mine if f.role == rec.role]
            if not theirs:
                continue
            implied.update(f.rule for f in theirs)
            leaves = [f for f in theirs if f.category not in parents]
            # A recipient under another law receives a transfer the notice must name with its safeguard where the
            # customer's law regulates transfers abroad (GDPR Art. 13(1)(f), 44 ff.; PIPL Art. 38-39).
            abroad = taxonomy.jurisdictions[rec.jurisdiction].law != jur.law and jur.law in TRANSFER_LAWS
            recipients.append(
                {
                    "name": rec.name.get(lang),
                    "legal_name": rec.legal_name.get(lang) if rec.legal_name else rec.name.get(lang),
                    "contact": rec.contact,
                    "country": rec.country or rec.jurisdiction,
                    "abroad": abroad,
                    "safeguard": rec.transfer_safeguard.get(lang) if abroad and rec.transfer_safeguard else None,
                    "role": taxonomy.roles[rec.role].get(lang),
                    "jurisdiction": taxonomy.jurisdictions[rec.jurisdiction].name.get(lang),
                    "release": [taxonomy.categories[f.category].label.get(lang) for f in leaves if f.mode == "release"],
                    "predicate": [
                        taxonomy.categories[f.category].label.get(lang) for f in leaves if f.mode == "predicate"
                    ],
                    "aggregate": [
                        taxonomy.categories[f.category].label.get(lang) for f in leaves if f.mode == "aggregate"
                    ],
                    "cross_border": rec.jurisdiction != jur.id and jur.separate_consent_for_cross_border,
                }
            )
        sensitive = sorted(
            {
                taxonomy.categories[f.category].label.get(lang)
                for f in mine
                if taxonomy.categories[f.category].sensitive and f.category not in parents
            }
        )
        purposes.append(
            {
                "label": purpose.label.get(lang),
                "description": purpose.description.get(lang),
                "basis": _BASIS[lang][basis],
                "retention": _DAYS[lang].format(n=purpose.retention_days)
                if purpose.retention_days
                else _NO_RETENTION[lang],
                "recipients": recipients,
                "sensitive": sensitive,
                "value_offer": purpose.value_offer.description.get(lang) if purpose.value_offer else None,
                "objection": basis in jur.objection_to,
                "opt_out": purpose.sale_or_share and jur.opt_out_of_sale,
            }
        )
    version = f"{taxonomy.version}.{matrix_version}"
    text = _TEMPLATES.get_template(f"agreement.{lang}.txt").render(
        controller=taxonomy.controller_name.get(lang),
        controller_contact=taxonomy.controller_contact.get(lang) if taxonomy.controller_contact else None,
        dpo=taxonomy.dpo.get(lang) if taxonomy.dpo else None,
        complaint_authority=jur.complaint_authority.get(lang) if jur.complaint_authority else None,
        gdpr=jur.law == "GDPR",
        ccpa=jur.opt_out_of_sale,
        incentives=[p for p in purposes if p["value_offer"]],
        law=jur.law,
        jurisdiction_name=jur.name.get(lang),
        version=version,
        purposes=purposes,
        consent_based=any(p["basis"] == _BASIS[lang][LegalBasis.CONSENT] for p in purposes),
        separate_sensitive=jur.separate_consent_for_sensitive,
    )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Agreement(jur.id, lang, version, text, digest, tuple(sorted(implied)))
