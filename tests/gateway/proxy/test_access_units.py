"""The proxy's building blocks in process: customers named by source systems, the subject cache, points
accrued only inside a ledger append, and the reason codes a client is told."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.auth.customers import CustomerExistsError, InvalidCustomerError
from gateway.proxy.access import public_reasons
from gateway.rights.points import accrual_effect, points_balance, points_history
from gateway.runtime import Runtime
from ledger import Event
from policies import Reason

PASSWORD = "correct horse battery staple"


def enrol(runtime: Runtime, username: str, **fields: str) -> str:
    customer = runtime.customers.create(
        username=username, password=PASSWORD, display_name=username, jurisdiction="CN", **fields
    )
    return customer.customer_id


def test_a_customer_is_found_by_the_number_source_systems_use(runtime: Runtime) -> None:
    customer_id = enrol(runtime, "li.wei", customer_type="vip", source_subject="cust-1001")
    found = runtime.customers.by_source_subject("cust-1001")
    assert found is not None and found.customer_id == customer_id and found.customer_type == "vip"
    assert runtime.customers.by_source_subject("cust-1002") is None
    assert enrol(runtime, "anna") and runtime.customers.by_source_subject("anna") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"customer_type": "VIP!"}, "customer_type"), ({"source_subject": "a/b"}, "source_subject")],
)
def test_customer_type_and_source_subject_are_validated(runtime: Runtime, fields: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidCustomerError, match=message):
        enrol(runtime, "someone", **fields)


def test_a_source_subject_names_one_customer(runtime: Runtime) -> None:
    enrol(runtime, "li.wei", source_subject="cust-1001")
    with pytest.raises(CustomerExistsError, match="cust-1001"):
        enrol(runtime, "impostor", source_subject="cust-1001")


def test_the_subject_cache_answers_only_within_its_age(runtime: Runtime) -> None:
    customers = runtime.customers
    assert customers.remember_source_subject("cust-1001") is None
    assert customers.recent_by_source_subject("cust-1001", 60) is None  # misses are not remembered
    enrol(runtime, "li.wei", source_subject="cust-1001")
    remembered = customers.remember_source_subject("cust-1001")
    assert customers.recent_by_source_subject("cust-1001", 60) == remembered
    assert customers.recent_by_source_subject("cust-1001", 0) is None


def test_points_exist_exactly_for_appended_accesses(runtime: Runtime) -> None:
    customer_id = enrol(runtime, "li.wei")
    assert points_balance(runtime.engine, customer_id) == 0
    event = Event("access", "client:rnd", "subject", {"purpose": "joint_rnd", "points": 5})
    first = runtime.ledger.append(event, effects=accrual_effect(customer_id, "joint_rnd", "stuttgart-rnd", 5, _now()))
    second = runtime.ledger.append(event, effects=accrual_effect(customer_id, "joint_rnd", "stuttgart-rnd", 5, _now()))

    def failing(conn: object, index: int) -> None:
        accrual_effect(customer_id, "joint_rnd", "stuttgart-rnd", 5, _now())(conn, index)  # type: ignore[arg-type]
        raise RuntimeError("the access entry fails after the points were written")

    size = runtime.ledger.size()
    with pytest.raises(RuntimeError):
        runtime.ledger.append(event, effects=failing)
    assert runtime.ledger.size() == size
    assert points_balance(runtime.engine, customer_id) == 10
    history = points_history(runtime.engine, customer_id)
    assert [entry.ledger_index for entry in history] == [second, first]
    assert history[0].recipient == "stuttgart-rnd" and history[0].points == 5


def test_clients_see_why_a_category_is_withheld_but_not_the_positive_steps() -> None:
    assert public_reasons([Reason.MATRIX_ALLOW, Reason.CONSENT_WITHDRAWN]) == ["consent_withdrawn"]
    assert public_reasons([Reason.MATRIX_DENY]) == ["matrix_deny"]
    assert public_reasons([Reason.MATRIX_ALLOW, Reason.CONSENT]) == ["matrix_allow", "consent"]


def _now() -> datetime:
    return datetime.now(UTC)
