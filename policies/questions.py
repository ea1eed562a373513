"""The matrix's `questions:` section: the only yes/no questions a recipient may put to a customer's wallet.

The enterprise fixes each template's attribute, operator and operands; a recipient chooses a template by id, never
a threshold, so answers cannot be chained into a comparison oracle. `asked` says which templates each recipient role
may ask for which purpose, and `budget` how many distinct templates one recipient organization may ask about one
subject's attribute within one validity period of the source's statement (1: no second threshold, no bisection).

A template never widens the matrix: the rules must still allow `predicate` on the attribute's category. This module
checks what the policies know (shape, operators and their operand counts, roles, purposes, template ids); whether
an attribute exists and its operands suit its kind is checked by whoever knows the attribute registry (the gateway).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policies.errors import Problem
from policies.taxonomy import Taxonomy
from policies.yamlfile import Located

TEMPLATE_FIELDS = ("id", "attribute", "op", "operands")
ASKED_FIELDS = ("role", "purpose", "templates")
SECTION_FIELDS = ("budget", "templates", "asked")
DEFAULT_QUESTION_BUDGET = 1
MAX_QUESTION_BUDGET = 100
MAX_SET_OPERANDS = 64
_TEMPLATE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]{0,63}")
# The operators of a predicate (as the zkp library names them) and how many operands each takes.
SINGLE_OPERATORS = (">=", "<=", ">", "<", "==", "!=")
INTERVAL_OPERATORS = ("within", "outside")
SET_OPERATORS = ("in", "not in")
INTEGER_ONLY = (">=", "<=", ">", "<", *INTERVAL_OPERATORS)
OPERATORS = (*SINGLE_OPERATORS, *INTERVAL_OPERATORS, *SET_OPERATORS)

Operand = int | str


@dataclass(frozen=True)
class TemplateSpec:
    """One declared question: `attribute op operands`, e.g. `age >= 18`."""

    id: str
    attribute: str
    op: str
    operands: tuple[Operand, ...]
    line: int = field(default=0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "attribute": self.attribute, "op": self.op, "operands": list(self.operands)}


@dataclass(frozen=True)
class AskedRule:
    """Recipients of `role` may ask these templates for `purpose`."""

    role: str
    purpose: str
    templates: tuple[str, ...]
    line: int = field(default=0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "purpose": self.purpose, "templates": list(self.templates)}


@dataclass(frozen=True)
class Questions:
    """A validated `questions:` section; an absent section declares nothing, so nothing may be asked."""

    budget: int = DEFAULT_QUESTION_BUDGET
    templates: tuple[TemplateSpec, ...] = ()
    asked: tuple[AskedRule, ...] = ()

    def template(self, template_id: str) -> TemplateSpec | None:
        return next((t for t in self.templates if t.id == template_id), None)

    def allowed(self, role: str, purpose: str) -> frozenset[str]:
        """The template ids a recipient of `role` may ask for `purpose` (none when nothing is declared)."""
        return frozenset(i for a in self.asked if (a.role, a.purpose) == (role, purpose) for i in a.templates)

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "templates": [t.as_dict() for t in self.templates],
            "asked": [a.as_dict() for a in self.asked],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Questions:
        """A stored section (written by `as_dict` after validation): trusted, not validated again."""
        return cls(
            int(data["budget"]),
            tuple(TemplateSpec(t["id"], t["attribute"], t["op"], tuple(t["operands"])) for t in data["templates"]),
            tuple(AskedRule(a["role"], a["purpose"], tuple(a["templates"])) for a in data["asked"]),
        )


def diff_questions(before: Questions, after: Questions) -> dict[str, Any]:
    """What a change does to the questions (empty when nothing): templates by id, asked entries, the budget."""
    old = {t.id: t.as_dict() for t in before.templates}
    new = {t.id: t.as_dict() for t in after.templates}
    diff: dict[str, Any] = {}
    templates = {
        "added": [new[i] for i in new if i not in old],
        "removed": [old[i] for i in old if i not in new],
        "changed": [{"id": i, "before": old[i], "after": new[i]} for i in new if i in old and old[i] != new[i]],
    }
    if any(templates.values()):
        diff["templates"] = templates
    was = {(a.role, a.purpose, i) for a in before.asked for i in a.templates}
    now = {(a.role, a.purpose, i) for a in after.asked for i in a.templates}
    asked = {
        "added": [{"role": r, "purpose": p, "template": i} for r, p, i in sorted(now - was)],
        "removed": [{"role": r, "purpose": p, "template": i} for r, p, i in sorted(was - now)],
    }
    if any(asked.values()):
        diff["asked"] = asked
    if before.budget != after.budget:
        diff["budget"] = {"before": before.budget, "after": after.budget}
    return diff


def parse_questions(taxonomy: Taxonomy, raw: Any, file: str, line: int, problems: list[Problem]) -> Questions:
    """Validate a `questions:` mapping (from YAML, with lines, or from JSON), appending every problem found."""
    if raw is None:
        return Questions()
    if not isinstance(raw, Mapping):
        problems.append(Problem(file, line, "'questions' must be a mapping of budget, templates and asked"))
        return Questions()

    def at(key: str) -> int:
        return raw.line_of(key) if isinstance(raw, Located) else line

    for key in sorted(set(raw) - set(SECTION_FIELDS)):
        problems.append(Problem(file, at(key), f"questions: unknown field {key!r}"))
    budget = raw.get("budget", DEFAULT_QUESTION_BUDGET)
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= MAX_QUESTION_BUDGET:
        problems.append(
            Problem(file, at("budget"), f"questions: budget must be an integer from 1 to {MAX_QUESTION_BUDGET}")
        )
        budget = DEFAULT_QUESTION_BUDGET
    templates: dict[str, TemplateSpec] = {}
    broken: set[str] = set()  # ids of templates already reported: an `asked` entry naming one is not reported again
    for item in _entries(raw.get("templates", []), "templates", file, at("templates"), problems):
        template = _template(item, file, _line(item, at("templates")), problems)
        if template is None:
            if isinstance(item.get("id"), str):
                broken.add(item["id"])
            continue
        first = templates.get(template.id)
        if first is not None:
            problems.append(
                Problem(file, template.line, f"duplicate question template id {template.id!r} (line {first.line})")
            )
            continue
        templates[template.id] = template
    asked: list[AskedRule] = []
    seen: dict[tuple[str, str], AskedRule] = {}
    for item in _entries(raw.get("asked", []), "asked", file, at("asked"), problems):
        rule = _asked(taxonomy, item, templates, broken, file, _line(item, at("asked")), problems)
        if rule is None:
            continue
        first_rule = seen.get((rule.role, rule.purpose))
        if first_rule is not None:
            problems.append(
                Problem(
                    file,
                    rule.line,
                    f"questions: role {rule.role!r} and purpose {rule.purpose!r} are already listed "
                    f"(line {first_rule.line}); list their templates once",
                )
            )
            continue
        seen[(rule.role, rule.purpose)] = rule
        asked.append(rule)
    return Questions(budget, tuple(templates.values()), tuple(asked))


def _line(item: object, default: int) -> int:
    return item.line if isinstance(item, Located) else default


def _entries(value: Any, name: str, file: str, line: int, problems: list[Problem]) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        problems.append(Problem(file, line, f"questions: {name!r} must be a list"))
        return []
    out = []
    for item in value:
        if isinstance(item, Mapping):
            out.append(item)
        else:
            problems.append(Problem(file, line, f"questions: every entry of {name!r} must be a mapping, got {item!r}"))
    return out


def _template(raw: Mapping[str, Any], file: str, line: int, problems: list[Problem]) -> TemplateSpec | None:
    before = len(problems)
    tid = raw.get("id")
    name = f"question template {tid!r}" if isinstance(tid, str) else "a question template"
    missing = [k for k in TEMPLATE_FIELDS if k not in raw]
    extra = sorted(set(raw) - set(TEMPLATE_FIELDS))
    if missing or extra:
        problems.append(
            Problem(
                file,
                line,
                f"{name} has exactly id, attribute, op and operands"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(repr(k) for k in extra)}" if extra else ""),
            )
        )
        return None
    if not isinstance(tid, str) or not _TEMPLATE_ID.fullmatch(tid):
        problems.append(Problem(file, line, f"{name}: the id is 1-128 letters, digits and - _ . :"))
    attribute = raw["attribute"]
    if not isinstance(attribute, str) or not _ATTRIBUTE.fullmatch(attribute):
        problems.append(Problem(file, line, f"{name}: attribute must be an attribute id (lower case, digits, _)"))
    op, operands = raw["op"], raw["operands"]
    if not isinstance(op, str) or op not in OPERATORS:
        problems.append(Problem(file, line, f"{name}: unknown operator {op!r} (one of {', '.join(OPERATORS)})"))
    elif not isinstance(operands, list):
        problems.append(Problem(file, line, f"{name}: operands must be a list"))
    else:
        message = _operand_problem(op, operands)
        if message is not None:
            problems.append(Problem(file, line, f"{name}: {message}"))
    if len(problems) > before or not isinstance(tid, str):
        return None
    return TemplateSpec(tid, attribute, op, tuple(operands), line)


def _operand_problem(op: str, operands: list[Any]) -> str | None:
    """Why `operands` cannot go with `op`, whatever the attribute (its kind is checked against the registry)."""
    if not all(isinstance(o, int | str) and not isinstance(o, bool) for o in operands):
        return "operands are integers or strings"
    if op in INTEGER_ONLY and not all(isinstance(o, int) for o in operands):
        return f"operator {op!r} compares integers"
    if len({type(o) for o in operands}) > 1:
        return "operands are all integers or all strings"
    if op in SINGLE_OPERATORS and len(operands) != 1:
        return f"operator {op!r} takes exactly one operand"
    if op in INTERVAL_OPERATORS and (len(operands) != 2 or operands[0] > operands[1]):
        return f"operator {op!r} takes two operands [low, high] with low <= high"
    if op in SET_OPERATORS:
        if not 1 <= len(operands) <= MAX_SET_OPERANDS:
            return f"operator {op!r} takes 1 to {MAX_SET_OPERANDS} values"
        if len(set(operands)) != len(operands):
            return f"operator {op!r} takes distinct values"
    return None


def _asked(
    taxonomy: Taxonomy,
    raw: Mapping[str, Any],
    templates: Mapping[str, TemplateSpec],
    broken: set[str],
    file: str,
    line: int,
    problems: list[Problem],
) -> AskedRule | None:
    before = len(problems)
    if set(raw) != set(ASKED_FIELDS):
        problems.append(Problem(file, line, "questions: an 'asked' entry has exactly role, purpose and templates"))
        return None
    role, purpose, ids = raw["role"], raw["purpose"], raw["templates"]
    if not isinstance(role, str) or role not in taxonomy.roles:
        problems.append(Problem(file, line, f"questions: asked: unknown role {role!r}"))
    if not isinstance(purpose, str) or purpose not in taxonomy.purposes:
        problems.append(Problem(file, line, f"questions: asked: unknown purpose {purpose!r}"))
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        problems.append(Problem(file, line, "questions: asked: templates must be a non-empty list of template ids"))
        return None
    for i in ids:
        if i in broken:
            return None
        if i not in templates:
            problems.append(Problem(file, line, f"questions: asked: unknown question template {i!r}"))
    if len(set(ids)) != len(ids):
        problems.append(Problem(file, line, "questions: asked: a template is listed twice"))
    if len(problems) > before:
        return None
    return AskedRule(role, purpose, tuple(ids), line)
