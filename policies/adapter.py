"""A Casbin adapter over the policies tables, so a stock Casbin enforcer can load any stored matrix version."""

from __future__ import annotations

from typing import Any

from casbin import persist
from sqlalchemy import Engine, select

from policies import schema
from policies.matrix import Effect, MatrixRule, PrivacyBudget


class SqlAlchemyAdapter(persist.Adapter):  # type: ignore[misc]
    """Read-only: the matrix changes only through `PolicyStore` (versioned, ledgered), never through Casbin's
    management API, so the save/add/remove hooks are left to the base class (which ignores them)."""

    def __init__(self, engine: Engine, version: int | None = None) -> None:
        self._engine = engine
        self._version = version

    def load_policy(self, model: Any) -> None:
        for rule in load_rules(self._engine, self._version):
            persist.load_policy_line("p, " + ", ".join(rule.casbin_row()), model)


def load_rules(engine: Engine, version: int | None = None) -> list[MatrixRule]:
    """The rules of `version` (default: the current head), in their stored order."""
    t = schema.matrix_rules
    with engine.connect() as conn:
        if version is None:
            version = int(
                conn.execute(
                    select(schema.head.c.matrix_version).where(schema.head.c.id == schema.HEAD_ID)
                ).scalar_one()
            )
        rows = conn.execute(
            select(
                t.c.rule_id,
                t.c.effect,
                t.c.role,
                t.c.customer_type,
                t.c.category,
                t.c.purpose,
                t.c.mode,
                t.c.budget_epsilon,
                t.c.budget_period,
            )
            .where(t.c.version == version)
            .order_by(t.c.position)
        ).all()
    return [
        MatrixRule(
            r[0],
            Effect(r[1]),
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            budget=PrivacyBudget(float(r[7]), r[8]) if r[7] is not None and r[8] is not None else None,
        )
        for r in rows
    ]
