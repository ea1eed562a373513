"""The verifier context shared by the zkp tests."""

from __future__ import annotations

import pytest

from zkp import Context


@pytest.fixture
def context() -> Context:
    return Context(nonce="n-7Qx2", client_id="crm-dealer-01", purpose="marketing", expires_at="2030-01-01T00:00:00Z")
