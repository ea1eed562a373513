"""The agreements carry the legal minimum of a notice (issue 16, point 3): one row per article, and the sentence
of the rendered agreement that satisfies it, for every demo customer's jurisdiction and both languages. What
each sentence must contain comes from the taxonomy (the controller's contact, each recipient's legal name), so
a recipient added to the taxonomy is checked without touching this table. A taxonomy missing an item fails
`policy check --strict` at the line where the item belongs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.demo.seed import DEMO_PEOPLE
from policies import DEFAULT_MATRIX, DEFAULT_TAXONOMY, load_matrix, load_taxonomy, render_agreement
from policies.flows import allowed_flows
from policies.taxonomy import Jurisdiction, Recipient, Taxonomy

TAX = load_taxonomy()
MATRIX = load_matrix(TAX)
TRANSFER_LAWS = {"GDPR", "PIPL"}


@dataclass(frozen=True)
class Case:
    tax: Taxonomy
    jur: Jurisdiction
    lang: str
    customer_type: str

    def recipients(self) -> list[Recipient]:
        """Recipients the agreement names: those the matrix lets receive something under this law."""
        roles = {
            f.role
            for f in allowed_flows(self.tax, MATRIX.rules)
            if self.jur.id in self.tax.purposes[f.purpose].legal_basis and f.customer_type == self.customer_type
        }
        return [r for r in self.tax.recipients.values() if r.role in roles]

    def abroad(self) -> list[Recipient]:
        return [
            r
            for r in self.recipients()
            if self.tax.jurisdictions[r.jurisdiction].law != self.jur.law and self.jur.law in TRANSFER_LAWS
        ]


Sentences = Callable[[Case], list[str]]

# (law or "*", article, what it requires, the sentences of the agreement that satisfy it)
ARTICLES: list[tuple[str, str, str, Sentences]] = [
    (
        "*",
        "GDPR 13(1)(a), PIPL 17(1)",
        "controller's identity and contact",
        lambda c: [c.tax.controller_name.get(c.lang), c.tax.controller_contact.get(c.lang)],
    ),  # type: ignore[union-attr]
    ("*", "GDPR 13(1)(b), PIPL 52", "DPO / personal information protection officer", lambda c: [c.tax.dpo.get(c.lang)]),  # type: ignore[union-attr]
    (
        "*",
        "PIPL 23, GDPR 13(1)(e)",
        "each recipient's legal name and contact",
        lambda c: (
            [
                f"{r.legal_name.get(c.lang)} (" if c.lang == "en" else f"{r.legal_name.get(c.lang)}（"
                for r in c.recipients()
            ]
            + [r.contact for r in c.recipients()]
        ),
    ),  # type: ignore[union-attr]
    (
        "*",
        "PIPL 39",
        "each recipient's country",
        lambda c: [("country: " if c.lang == "en" else "所在国家：") + r.country for r in c.recipients()],
    ),
    (
        "GDPR",
        "GDPR 13(1)(f)",
        "third-country transfers and their safeguard",
        lambda c: [r.transfer_safeguard.get(c.lang) for r in c.abroad()],
    ),  # type: ignore[union-attr]
    (
        "PIPL",
        "PIPL 39",
        "how to exercise rights against an overseas recipient",
        lambda c: [
            f"{r.contact} 或我们向该境外接收方行使您的权利" if c.lang == "zh-CN" else f"writing to {r.contact} or to us"
            for r in c.abroad()
        ],
    ),
    (
        "PIPL",
        "PIPL 30",
        "necessity and impact of processing sensitive data",
        lambda c: [
            "所必需的；一旦泄露或被非法使用"
            if c.lang == "zh-CN"
            else "its misuse could harm your dignity, safety or property"
        ],
    ),
    ("*", "GDPR 13(2)(d), PIPL 65", "the complaint authority", lambda c: [c.jur.complaint_authority.get(c.lang)]),  # type: ignore[union-attr]
    (
        "GDPR",
        "GDPR 13(2)(b)",
        "the right to restriction",
        lambda c: ["要求我们限制处理" if c.lang == "zh-CN" else "ask us to restrict processing"],
    ),
    (
        "GDPR",
        "GDPR 13(2)(f)",
        "automated decisions and profiling",
        lambda c: [
            "自动化处理（包括画像）" if c.lang == "zh-CN" else "solely on automated processing, including profiling"
        ],
    ),
    (
        "CCPA/CPRA",
        "CCPA 1798.100(b)",
        "notice at collection",
        lambda c: ["收集时告知" if c.lang == "zh-CN" else "Notice at collection"],
    ),
    (
        "CCPA/CPRA",
        "CCPA 1798.120, 1798.135",
        "the opt-out method",
        lambda c: ["全球隐私控制（GPC）" if c.lang == "zh-CN" else "Global Privacy Control"],
    ),
    (
        "CCPA/CPRA",
        "CCPA 1798.125(b), regs 7016",
        "notice of financial incentive for the points offer",
        lambda c: [
            ("经济激励告知（" if c.lang == "zh-CN" else "Notice of financial incentive (") + p.label.get(c.lang)
            for p in c.tax.purposes.values()
            if p.value_offer
        ],
    ),
]

# Each article against each demo customer whose jurisdiction's law it belongs to (or every one, for "*").
CASES = [
    pytest.param(
        jurisdiction,
        customer_type,
        law,
        article,
        requirement,
        sentences,
        id=f"{article} {requirement}-{jurisdiction}-{customer_type}",
    )
    for jurisdiction, customer_type in sorted({(p.jurisdiction, p.customer_type) for p in DEMO_PEOPLE})
    for law, article, requirement, sentences in ARTICLES
    if law in ("*", TAX.jurisdiction(jurisdiction).law)
]


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize(("jurisdiction", "customer_type", "law", "article", "requirement", "sentences"), CASES)
def test_each_demo_customers_agreement_satisfies_the_article(
    jurisdiction: str, customer_type: str, lang: str, law: str, article: str, requirement: str, sentences: Sentences
) -> None:
    jur = TAX.jurisdiction(jurisdiction)
    agreement = render_agreement(
        TAX, MATRIX.rules, jurisdiction=jurisdiction, lang=lang, matrix_version=1, customer_type=customer_type
    )
    case = Case(TAX, jur, lang, customer_type)
    wanted = sentences(case)
    assert wanted, f"{article}: nothing to look for"
    for sentence in wanted:
        assert sentence and sentence in agreement.text, f"{article} ({requirement}): {sentence!r} missing"


def test_a_taxonomy_missing_a_required_item_fails_strict_check_at_its_line(tmp_path: Path) -> None:
    text = DEFAULT_TAXONOMY.read_text(encoding="utf-8")
    lines = text.splitlines()
    dpo = next(i for i, line in enumerate(lines) if line.strip().startswith("dpo:"))
    controller = next(i for i, line in enumerate(lines) if line.startswith("controller:"))
    (tmp_path / "taxonomy.yaml").write_text("\n".join(lines[:dpo] + lines[dpo + 1 :]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["policy", "check", "--strict", "--taxonomy", str(tmp_path / "taxonomy.yaml"), "--matrix", str(DEFAULT_MATRIX)],
    )
    assert result.exit_code == 1
    assert "notice_missing_item: controller: no 'dpo'" in result.stdout
    assert f"taxonomy.yaml:{controller + 2})" in result.stdout
