"""Starting a gateway for the wallet tests, and enrolling li.wei as the holder of a wallet's DID.

Four e2e modules (wallet, matrix questions, supersession, PostgreSQL) set the same scene: a source signing statements
for a gateway on a port it must know in advance (`serve_on`), and li.wei enrolled by the operator with her wallet's
DID and her consents.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from gateway.auth.customers import CustomerStore
from gateway.cli import app
from gateway.demo import BackgroundServer, create_vehicle_cloud_app
from gateway.demo.registry import DEMO_UPSTREAMS_PATH
from gateway.demo.statements import StatementSource
from gateway.store.database import create_db_engine
from tests.e2e.conftest import _free_port

__all__ = ["enrol_holder", "grant", "statement_cloud"]


def statement_cloud(tmp: Path, gateway_port: int) -> tuple[StatementSource, BackgroundServer, Path]:
    """The demo vehicle cloud, signing statements for the gateway to come on `gateway_port`, started; with the
    upstream registry that points the gateway at it."""
    source = StatementSource.generate(gateway_url=f"http://127.0.0.1:{gateway_port}")
    cloud = BackgroundServer(create_vehicle_cloud_app(source=source), port=_free_port()).start()
    registry = yaml.safe_load(DEMO_UPSTREAMS_PATH.read_text())
    registry["upstreams"][0]["base_url"] = cloud.url
    upstreams = tmp / "upstreams.yaml"
    upstreams.write_text(yaml.safe_dump(registry))
    return source, cloud, upstreams


def enrol_holder(database_url: str, subject: str, did: str) -> str:
    """The operator enrols li.wei, known to the vehicle cloud as `subject`, with her wallet's DID; her customer id."""
    engine = create_db_engine(database_url)
    try:
        customer = CustomerStore(engine).create(
            username="li.wei", password=None, display_name="Li Wei", jurisdiction="CN", source_subject=subject, did=did
        )
    finally:
        engine.dispose()
    return customer.customer_id


def grant(environment: dict[str, str], customer_id: str, recipient: str, purpose: str, *categories: str) -> None:
    """A separate consent for `categories` to one recipient organization, recorded through the CLI."""
    env = {k: v for k, v in environment.items() if k.startswith("CONSENTRY_")}
    args = ["consent", "grant", "--subject", customer_id, "--purpose", purpose, "--separate", "--json"]
    args += ["--recipient", f"org:{recipient}", "--jurisdiction", "CN", "--actor", "admin:test"]
    for category in categories:
        args += ["--category", category]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
