"""The same gateway on PostgreSQL (`CONSENTRY_DATABASE_URL`): migrations at start, tokens, admin writes,
customer sessions and revocation all work against a real server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from gateway.store.migrate import alembic_config
from tests.e2e.conftest import Gateway


@pytest.mark.postgres
def test_gateway_runs_on_postgresql(start_gateway: Callable[..., Gateway], postgres_url: str) -> None:
    gateway = start_gateway(database_url=postgres_url)
    gateway.register("pg-admin", ["admin"], ["admin"])
    token = gateway.token("pg-admin")
    with gateway.client(headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "pg-1"}) as http:
        body = {"username": "pg.customer", "password": "a long enough password", "jurisdiction": "CN"}
        created = http.post("/v1/admin/customers", json=body)
        replay = http.post("/v1/admin/customers", json=body)
        assert created.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert http.get("/readyz").json()["checks"]["database"] == "ok"
    session = gateway.customer_session("pg.customer", "a long enough password")
    assert session.get("/v1/me").json()["username"] == "pg.customer"
    session.close()
    with gateway.client() as http:
        assert (
            http.post(
                "/oauth/revoke", data={"token": token}, auth=("pg-admin", gateway.secrets["pg-admin"])
            ).status_code
            == 200
        )
    with gateway.client(headers={"Authorization": f"Bearer {token}"}) as http:
        assert http.get("/v1/admin/clients").status_code == 401

    engine = create_engine(postgres_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            versions = set(conn.execute(text("SELECT version_num FROM alembic_version_gateway")).scalars())
        heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    finally:
        engine.dispose()
    assert {"gw_oauth_clients", "gw_customers", "gw_idempotency_keys", "alembic_version_gateway"} <= tables
    assert versions == heads
    assert not (gateway.data_dir / "consentry.db").exists()
