"""The question templates recipients may ask, per recipient role × purpose (`questions.yaml`).

A recipient names a template; the gateway checks that the template the question carries is exactly the one
declared (so no threshold can be slipped in) and that its role may ask it for the purpose. The budget of
distinct templates per (recipient organization, subject, attribute, validity period) is declared here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zkp import Predicate, QuestionTemplate, ZkpError

DEFAULT_QUESTIONS = Path(__file__).with_name("questions.yaml")


class TemplateBookError(ValueError):
    """The question template file is malformed; the message names the entry and the rule."""


@dataclass(frozen=True)
class TemplateBook:
    templates: Mapping[str, QuestionTemplate]
    asked: Mapping[tuple[str, str], frozenset[str]]
    budget: int

    def get(self, template_id: str) -> QuestionTemplate | None:
        return self.templates.get(template_id)

    def allowed(self, role: str, purpose: str) -> frozenset[str]:
        """The template ids a recipient of `role` may ask for `purpose` (none when nothing is declared)."""
        return self.asked.get((role, purpose), frozenset())

    @classmethod
    def load(cls, path: Path | str = DEFAULT_QUESTIONS, attributes: frozenset[str] | None = None) -> TemplateBook:
        try:
            document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise TemplateBookError(f"{path}: {exc}") from exc
        return cls.parse(document, attributes)

    @classmethod
    def parse(cls, document: object, attributes: frozenset[str] | None = None) -> TemplateBook:
        if not isinstance(document, dict) or set(document) != {"version", "budget", "templates", "asked"}:
            raise TemplateBookError("the file is a mapping with exactly version, budget, templates and asked")
        budget = document["budget"]
        if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= 100:
            raise TemplateBookError("budget is an integer from 1 to 100")
        templates: dict[str, QuestionTemplate] = {}
        for position, entry in enumerate(_list(document["templates"], "templates")):
            template = _template(entry, position)
            if template.id in templates:
                raise TemplateBookError(f"template {template.id!r} is declared twice")
            if attributes is not None and template.attribute not in attributes:
                raise TemplateBookError(f"template {template.id!r}: unknown attribute {template.attribute!r}")
            templates[template.id] = template
        asked: dict[tuple[str, str], frozenset[str]] = {}
        for position, entry in enumerate(_list(document["asked"], "asked")):
            if not isinstance(entry, dict) or set(entry) != {"role", "purpose", "templates"}:
                raise TemplateBookError(f"asked[{position}] has exactly role, purpose and templates")
            ids = entry["templates"]
            if not isinstance(ids, list) or not all(isinstance(i, str) and i in templates for i in ids):
                raise TemplateBookError(f"asked[{position}]: templates is a list of declared template ids")
            key = (str(entry["role"]), str(entry["purpose"]))
            asked[key] = asked.get(key, frozenset()) | frozenset(ids)
        return cls(templates, asked, budget)


def _list(value: object, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise TemplateBookError(f"{name} is a list")
    return value


def _template(entry: object, position: int) -> QuestionTemplate:
    if not isinstance(entry, dict) or set(entry) != {"id", "attribute", "op", "operands"}:
        raise TemplateBookError(f"templates[{position}] has exactly id, attribute, op and operands")
    try:
        predicate = Predicate.from_json({"op": entry["op"], "operands": entry["operands"]})
        return QuestionTemplate(str(entry["id"]), str(entry["attribute"]), predicate)
    except ZkpError as exc:
        raise TemplateBookError(f"templates[{position}]: {exc}") from exc
