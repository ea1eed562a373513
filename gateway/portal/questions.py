"""A zero-knowledge question as the customer reads it: "asked whether your age is at least 18 — answered yes".

The ledger keeps the machine form (attribute id, operator, operands); a customer should not have to read
`fault_code == P0420`. Each attribute has a phrase and each operator a condition in both catalogs; amounts kept
in cents and dates kept as day numbers are shown as the amount and the date. An attribute without a phrase
(added to the registry after these catalogs) is named by its id rather than hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from gateway.portal.i18n import Catalog

__all__ = ["asked_phrase", "question_sentence"]

_EPOCH = date(1970, 1, 1)


def _operand(catalog: Catalog, attribute: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    if attribute.endswith("_cents"):
        return f"{value / 100:,.2f}"
    if attribute.endswith("_day_number"):
        return catalog.date(_EPOCH + timedelta(days=value))
    return catalog.number(value)


def question_sentence(catalog: Catalog, asked: Mapping[str, Any]) -> str:
    """The whole sentence for one recorded question: what was asked, and the answer (or the refusal)."""
    attribute = str(asked.get("attribute") or "")
    recorded = asked.get("predicate")
    predicate: Mapping[str, Any] = recorded if isinstance(recorded, Mapping) else {}
    if asked.get("outcome") == "refused":
        answer = catalog.gettext("zk.answer.refused")
    else:
        answer = catalog.gettext("zk.answer.yes" if asked.get("holds") else "zk.answer.no")
    return catalog.gettext("zk.sentence", question=asked_phrase(catalog, attribute, predicate), answer=answer)


def asked_phrase(catalog: Catalog, attribute: str, predicate: Mapping[str, Any]) -> str:
    """What is asked, without an answer yet: "asked whether your age is at least 18"."""
    op = str(predicate.get("op", ""))
    operands = [_operand(catalog, attribute, v) for v in predicate.get("operands") or ()]
    key = f"zk.attribute.{attribute}"
    subject = catalog.gettext(key) if key in catalog.messages else attribute
    condition_key = f"zk.op.{op}"
    if condition_key in catalog.messages and operands:
        condition = catalog.gettext(condition_key, a=operands[0], b=operands[-1], values=catalog.join(operands))
    else:
        condition = f"{op} {catalog.join(operands)}".strip()
    return catalog.gettext("zk.asked", attribute=subject, condition=condition)
