"""A started runtime (SQLite) with two enrolled customers, and helpers to consent as the portal would."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth.principals import CustomerPrincipal
from gateway.rights import consents
from gateway.runtime import Runtime


@pytest.fixture
def li(runtime: Runtime) -> CustomerPrincipal:
    return runtime.customers.create(
        username="li.wei", password="pw-li-wei-123", display_name="Li Wei", jurisdiction="CN"
    )


@pytest.fixture
def wang(runtime: Runtime) -> CustomerPrincipal:
    return runtime.customers.create(
        username="wang.fang", password="pw-wang-fang-123", display_name="Wang Fang", jurisdiction="CN"
    )


def give(rt: Runtime, customer: CustomerPrincipal, **kwargs: Any) -> consents.ConsentChange:
    """Consent citing the agreement currently shown in English."""
    agreement = consents.current_agreement(rt.policies, customer.jurisdiction, "en")
    fresh = rt.customers.get(customer.customer_id)
    assert fresh is not None
    return consents.grant(
        rt.policies,
        rt.credentials,
        rt.customers,
        fresh,
        notice_version=agreement.version,
        notice_sha256=agreement.sha256,
        lang="en",
        **kwargs,
    )
