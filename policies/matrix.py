"""The enterprise authorization matrix: explicit allow and deny rules, parsed and validated against a taxonomy.

A rule names a recipient role, a customer type, a data category (a parent covers its children) and a purpose,
each possibly `*`, plus a mode: `release` (the raw value may leave), `predicate` (only a proven yes/no answer) or
`aggregate` (only differentially private statistics over many customers). An allow rule for aggregates carries the
privacy budget (ε per recipient organization and period) that its statistics draw on. The `questions:` section
declares the predicate questions recipients may ask (`policies.questions`), versioned with the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from policies.errors import Problem, ValidationError
from policies.questions import Questions, parse_questions
from policies.taxonomy import Taxonomy
from policies.yamlfile import Located, load_file, load_text

ANY = "*"
DEFAULT_MATRIX = Path(__file__).parent / "data" / "matrix.yaml"
_RULE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
RULE_FIELDS = ("id", "effect", "role", "customer_type", "category", "purpose", "mode", "budget")
BUDGET_PERIODS = ("day", "week", "month", "year")
MAX_BUDGET_EPSILON = 100.0


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class Mode(StrEnum):
    """`release` sends the value; `predicate` only proves a statement about it (zero-knowledge queries);
    `aggregate` lets the value count only towards differentially private statistics over many customers.

    Allowing `release` implies `predicate`, and nothing implies `aggregate`: a release is about one customer the
    recipient names, each access visible to that customer, while an aggregate reads every consenting customer at once
    and spends a privacy budget, so it is a processing of its own that a rule must allow (with its budget) by name.
    Denials go the other way: denying `aggregate` denies `predicate` and `release` too (whoever holds the values
    can compute any statistic), and denying `predicate` denies `release`.
    """

    RELEASE = "release"
    PREDICATE = "predicate"
    AGGREGATE = "aggregate"


@dataclass(frozen=True)
class PrivacyBudget:
    """The ε a recipient organization may spend on one purpose and one set of source attributes per calendar
    period (UTC); a statistic that would exceed what is left is refused."""

    epsilon: float
    period: str

    def as_dict(self) -> dict[str, float | str]:
        return {"epsilon": self.epsilon, "period": self.period}


@dataclass(frozen=True)
class MatrixRule:
    id: str
    effect: Effect
    role: str = ANY
    customer_type: str = ANY
    category: str = ANY
    purpose: str = ANY
    mode: str = Mode.RELEASE.value
    line: int = 0
    budget: PrivacyBudget | None = None

    @property
    def allows_aggregate(self) -> bool:
        return self.effect is Effect.ALLOW and self.mode in (Mode.AGGREGATE.value, ANY)

    @property
    def scope(self) -> tuple[str, str, str, str, str]:
        return (self.role, self.customer_type, self.category, self.purpose, self.mode)

    def casbin_row(self) -> list[str]:
        """The rule as a Casbin `p` row, in model.conf's order."""
        return [self.role, self.customer_type, self.category, self.purpose, self.mode, self.effect.value, self.id]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("line")
        data["effect"] = self.effect.value
        if self.budget is None:
            data.pop("budget")
        return data


@dataclass(frozen=True)
class Matrix:
    """A validated rule set and its questions; `version` is the file's own number (the database keeps its own
    version counter)."""

    version: int
    rules: tuple[MatrixRule, ...]
    source: str = "<memory>"
    questions: Questions = field(default_factory=Questions)

    def by_id(self) -> dict[str, MatrixRule]:
        return {r.id: r for r in self.rules}


def load_matrix(taxonomy: Taxonomy, path: Path | str = DEFAULT_MATRIX) -> Matrix:
    path = Path(path)
    return _parse(load_file(path), str(path), taxonomy)


def parse_matrix(taxonomy: Taxonomy, text: str, name: str = "<matrix>") -> Matrix:
    return _parse(load_text(text, name), name, taxonomy)


def matrix_from_document(taxonomy: Taxonomy, document: object, name: str = "<matrix>") -> Matrix:
    """A matrix from an already parsed document (a JSON request body): the same checks as a file, without lines."""
    if not isinstance(document, Mapping) or not all(isinstance(k, str) for k in document):
        raise ValidationError([Problem(name, 0, "the matrix must be an object of version, rules and questions")])
    root = Located(document)
    root.line, root.key_lines = 0, {}
    return _parse(root, name, taxonomy)


def validate_rules(taxonomy: Taxonomy, rules: Iterable[Mapping[str, Any]], file: str) -> tuple[MatrixRule, ...]:
    """Validate rule mappings (from a file, the CLI or the API) and return them; any problem rejects all."""
    problems: list[Problem] = []
    out: list[MatrixRule] = []
    for raw in rules:
        line = raw.line if isinstance(raw, Located) else 0
        rule = _rule(taxonomy, raw, file, line, problems)
        if rule is not None:
            out.append(rule)
    problems.extend(_conflicts(out, file))
    if problems:
        raise ValidationError(problems)
    return tuple(out)


def _parse(root: Located, file: str, taxonomy: Taxonomy) -> Matrix:
    problems = [
        Problem(file, root.line_of(k), f"unknown field {k!r}")
        for k in sorted(set(root) - {"version", "rules", "questions"})
    ]
    version = root.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(Problem(file, root.line_of("version"), "'version' must be an integer >= 1"))
    raw_rules = root.get("rules")
    if not isinstance(raw_rules, list):
        problems.append(Problem(file, root.line_of("rules"), "'rules' must be a list"))
        raw_rules = []
    mappings: list[Mapping[str, Any]] = []
    for item in raw_rules:
        if isinstance(item, Mapping):
            mappings.append(item)
        else:
            problems.append(Problem(file, root.line_of("rules"), f"every rule must be a mapping, got {item!r}"))
    try:
        rules = validate_rules(taxonomy, mappings, file)
    except ValidationError as exc:
        problems.extend(exc.problems)
        rules = ()
    questions = parse_questions(taxonomy, root.get("questions"), file, root.line_of("questions"), problems)
    if problems:
        raise ValidationError(sorted(problems, key=lambda p: p.line))
    assert isinstance(version, int)
    return Matrix(version, rules, file, questions)


def _rule(
    taxonomy: Taxonomy, raw: Mapping[str, Any], file: str, line: int, problems: list[Problem]
) -> MatrixRule | None:
    def at(key: str) -> int:
        return raw.line_of(key) if isinstance(raw, Located) else line

    before = len(problems)
    for key in sorted(set(raw) - set(RULE_FIELDS)):
        problems.append(Problem(file, at(key), f"unknown field {key!r}"))
    values: dict[str, str] = {}
    for key in RULE_FIELDS:
        if key == "budget":
            continue
        value = raw.get(key, ANY if key in ("role", "customer_type", "category", "purpose") else None)
        if key == "mode" and value is None:
            value = Mode.RELEASE.value
        if not isinstance(value, str) or not value:
            problems.append(Problem(file, at(key), f"rule field {key!r} must be a non-empty string"))
            continue
        values[key] = value
    if len(problems) > before:
        return None
    rid = values["id"]
    if not _RULE_ID.fullmatch(rid):
        problems.append(Problem(file, at("id"), f"rule id {rid!r} may hold only letters, digits and - _ . :"))
    checks = (
        ("effect", {e.value for e in Effect}, "effect"),
        ("mode", {m.value for m in Mode} | {ANY}, "mode"),
        ("role", set(taxonomy.roles) | {ANY}, "role"),
        ("customer_type", set(taxonomy.customer_types) | {ANY}, "customer type"),
        ("category", set(taxonomy.categories) | {ANY}, "category"),
        ("purpose", set(taxonomy.purposes) | {ANY}, "purpose"),
    )
    for key, allowed, kind in checks:
        if values[key] not in allowed:
            problems.append(Problem(file, at(key), f"rule {rid!r}: unknown {kind} {values[key]!r}"))
    if len(problems) > before:
        return None
    budget = _budget(raw.get("budget"), rid, values, file, at("budget"), problems)
    if len(problems) > before:
        return None
    return MatrixRule(
        id=rid,
        effect=Effect(values["effect"]),
        role=values["role"],
        customer_type=values["customer_type"],
        category=values["category"],
        purpose=values["purpose"],
        mode=values["mode"],
        line=line,
        budget=budget,
    )


def _budget(
    raw: Any, rid: str, values: Mapping[str, str], file: str, line: int, problems: list[Problem]
) -> PrivacyBudget | None:
    """An allow rule for aggregates must say how much ε they may spend; one for every mode (`*`) may (without one,
    aggregates find no budget and are refused); no other rule may carry a budget."""
    aggregate = values["effect"] == Effect.ALLOW.value and values["mode"] in (Mode.AGGREGATE.value, ANY)
    if raw is None:
        if aggregate and values["mode"] == Mode.AGGREGATE.value:
            problems.append(
                Problem(file, line, f"rule {rid!r} allows aggregates and needs a budget: {{epsilon, period}}")
            )
        return None
    if not aggregate:
        problems.append(Problem(file, line, f"rule {rid!r}: only an allow rule for aggregates carries a budget"))
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"epsilon", "period"}:
        problems.append(Problem(file, line, f"rule {rid!r}: budget must be a mapping of exactly epsilon and period"))
        return None
    epsilon, period = raw["epsilon"], raw["period"]
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0 < epsilon <= MAX_BUDGET_EPSILON:
        problems.append(
            Problem(file, line, f"rule {rid!r}: budget epsilon must be a number in (0, {MAX_BUDGET_EPSILON:g}]")
        )
        return None
    if period not in BUDGET_PERIODS:
        problems.append(Problem(file, line, f"rule {rid!r}: budget period must be one of {', '.join(BUDGET_PERIODS)}"))
        return None
    return PrivacyBudget(float(epsilon), str(period))


def _conflicts(rules: Sequence[MatrixRule], file: str) -> list[Problem]:
    problems: list[Problem] = []
    ids: dict[str, MatrixRule] = {}
    scopes: dict[tuple[str, ...], MatrixRule] = {}
    for rule in rules:
        if rule.id in ids:
            problems.append(Problem(file, rule.line, f"duplicate rule id {rule.id!r} (line {ids[rule.id].line})"))
        ids.setdefault(rule.id, rule)
        first = scopes.get(rule.scope)
        if first is None:
            scopes[rule.scope] = rule
        elif first.effect is rule.effect:
            problems.append(Problem(file, rule.line, f"rule {rule.id!r} repeats rule {first.id!r} (line {first.line})"))
        else:
            problems.append(
                Problem(file, rule.line, f"rule {rule.id!r} contradicts rule {first.id!r} (line {first.line})")
            )
    return problems
