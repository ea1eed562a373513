"""Standing rules: what the wallet does, without asking, when a recipient asks a question template.

A rule names one recipient (the organization that asks, e.g. `org:dealer-4s`) and one question template
id, and says `answer` or `decline`. Nothing matches by pattern: a rule covers exactly what the customer
listed, and every question no rule covers goes to the person (`ask`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

RULES_VERSION = 1
MAX_RULES = 1000


class Action(StrEnum):
    ANSWER = "answer"
    DECLINE = "decline"
    ASK = "ask"


@dataclass(frozen=True)
class Rule:
    recipient: str
    template: str
    action: Action

    def __post_init__(self) -> None:
        if not self.recipient or not self.template:
            raise ValueError("a rule names a recipient and a template")
        if self.action is Action.ASK:
            raise ValueError("asking is what happens without a rule; a rule answers or declines")

    def to_json(self) -> dict[str, str]:
        return {"recipient": self.recipient, "template": self.template, "action": self.action.value}


@dataclass(frozen=True)
class StandingRules:
    rules: tuple[Rule, ...]

    def decide(self, recipient: str, template: str) -> Action:
        for rule in self.rules:
            if rule.recipient == recipient and rule.template == template:
                return rule.action
        return Action.ASK

    def with_rule(self, rule: Rule) -> StandingRules:
        """These rules with `rule` replacing any earlier one for the same recipient and template."""
        kept = [r for r in self.rules if (r.recipient, r.template) != (rule.recipient, rule.template)]
        if len(kept) >= MAX_RULES:
            raise ValueError(f"a wallet keeps at most {MAX_RULES} rules")
        return StandingRules((*kept, rule))

    def without(self, recipient: str, template: str) -> StandingRules:
        return StandingRules(tuple(r for r in self.rules if (r.recipient, r.template) != (recipient, template)))

    def to_json(self) -> dict[str, Any]:
        return {"version": RULES_VERSION, "rules": [rule.to_json() for rule in self.rules]}

    @classmethod
    def from_json(cls, data: object) -> StandingRules:
        if (
            not isinstance(data, Mapping)
            or data.get("version") != RULES_VERSION
            or not isinstance(data.get("rules"), list)
        ):
            raise ValueError(f"rules are an object with version {RULES_VERSION} and a list of rules")
        return cls(tuple(_rule(item) for item in _items(data["rules"])))


def _items(values: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for item in values:
        if not isinstance(item, Mapping) or set(item) != {"recipient", "template", "action"}:
            raise ValueError("a rule is an object with exactly recipient, template and action")
        yield item


def _rule(item: Mapping[str, Any]) -> Rule:
    try:
        action = Action(item["action"])
    except ValueError as exc:
        raise ValueError(f"unknown rule action {item['action']!r}") from exc
    if not isinstance(item["recipient"], str) or not isinstance(item["template"], str):
        raise ValueError("a rule's recipient and template are strings")
    return Rule(item["recipient"], item["template"], action)
