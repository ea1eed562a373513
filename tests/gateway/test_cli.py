"""`consentry db|client|customer|keys|openapi`: JSON on stdout, precise errors on stderr with exit 2."""

from __future__ import annotations

import importlib
import json
import stat
from pathlib import Path

import pytest
from fastapi import FastAPI
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from gateway import app as app_module
from gateway.app import worker_app
from gateway.cli import app

serve_command = importlib.import_module("gateway.cli.serve")  # the package exports the function under this name


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CONSENTRY_DATABASE_URL", raising=False)
    return CliRunner()


def test_db_upgrade_creates_keys_and_the_gateway_tables(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "gateway" in result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'consentry.db'}")
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"alembic_version_gateway", "gw_oauth_clients", "gw_customers", "gw_customer_sessions"} <= tables
    for name in ("token.json", "credential-issuer.json", "checkpoint.json"):
        assert stat.S_IMODE((tmp_path / "data" / "keys" / name).stat().st_mode) == 0o600
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0  # idempotent


def test_client_add_prints_the_secret_once(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(
        app,
        [
            "client",
            "add",
            "--name",
            "Dealer",
            "--organization",
            "dealer-sh-4s",
            "--role",
            "crm",
            "--scope",
            "proxy",
            "--purpose",
            "service_delivery",
            "--jurisdiction",
            "CN",
            "--client-id",
            "dealer",
        ],
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["client_id"] == "dealer"
    assert len(created["client_secret"]) >= 40
    listed = json.loads(cli.invoke(app, ["client", "list"]).stdout)
    assert listed[0]["client_id"] == "dealer"
    assert "client_secret" not in listed[0]
    assert created["client_secret"] not in cli.invoke(app, ["client", "list"]).stdout
    database = (tmp_path / "data" / "consentry.db").read_bytes()
    assert created["client_secret"].encode() not in database  # only its SHA-256 is stored


def test_client_add_with_a_jwks_registers_a_private_key_jwt_client(cli: CliRunner, tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    result = cli.invoke(
        app,
        [
            "client",
            "add",
            "--name",
            "A",
            "--organization",
            "B",
            "--role",
            "auditor",
            "--scope",
            "ledger:read",
            "--jurisdiction",
            "DE",
            "--jwks",
            str(jwks),
        ],
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    assert created["client_secret"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "crm", "--scope", "admin"], "scope 'admin' needs one of the roles: admin"),
        (["--role", "boss", "--scope", "proxy"], "roles must be a non-empty subset"),
        (["--role", "crm", "--scope", "everything"], "scopes must be a non-empty subset"),
    ],
)
def test_client_add_refuses_inconsistent_registrations(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(app, ["client", "add", "--name", "x", "--organization", "y", "--jurisdiction", "CN", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_a_private_jwk_is_refused_as_client_jwks(cli: CliRunner, tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}))
    result = cli.invoke(
        app,
        [
            "client",
            "add",
            "--name",
            "x",
            "--organization",
            "y",
            "--role",
            "crm",
            "--scope",
            "proxy",
            "--jurisdiction",
            "CN",
            "--jwks",
            str(jwks),
        ],
    )
    assert result.exit_code == 2
    assert "public keys only" in result.stderr


def test_customer_add_hashes_the_password_and_refuses_duplicates(cli: CliRunner, tmp_path: Path) -> None:
    args = ["customer", "add", "--username", "li.wei", "--jurisdiction", "CN", "--password", "correct horse battery"]
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["username"] == "li.wei"
    database = (tmp_path / "data" / "consentry.db").read_bytes()
    assert b"correct horse battery" not in database
    assert b"$argon2id$" in database
    again = cli.invoke(app, args)
    assert again.exit_code == 2
    assert "taken" in again.stderr


def test_customer_add_refuses_a_short_password(cli: CliRunner) -> None:
    result = cli.invoke(app, ["customer", "add", "--username", "li.wei", "--jurisdiction", "CN", "--password", "short"])
    assert result.exit_code == 2
    assert "at least 10 characters" in result.stderr


def test_keys_rotate_and_list(cli: CliRunner) -> None:
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0  # the gateway's data directory, set up
    before = json.loads(cli.invoke(app, ["keys", "list"]).stdout)
    rotated = cli.invoke(app, ["keys", "rotate", "token"])
    assert rotated.exit_code == 0, rotated.output
    after = json.loads(cli.invoke(app, ["keys", "list"]).stdout)
    assert after["token"]["current"] == json.loads(rotated.stdout)["kid"] != before["token"]["current"]
    assert len(after["token"]["keys"]) == 2
    assert all("d" not in key for key in after["token"]["keys"])
    unknown = cli.invoke(app, ["keys", "rotate", "nope"])
    assert unknown.exit_code == 2
    assert "unknown key ring" in unknown.stderr


def test_keys_rotate_issuer_goes_through_the_credential_keyring_and_keeps_old_keys(cli: CliRunner) -> None:
    """The issuer has one home (credentials.IssuerKeyring): rotation appends a Multikey to the did:web document."""
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    before = json.loads(cli.invoke(app, ["keys", "list"]).stdout)["issuer"]
    rotated = cli.invoke(app, ["keys", "rotate", "issuer"])
    assert rotated.exit_code == 0, rotated.output
    after = json.loads(cli.invoke(app, ["keys", "list"]).stdout)["issuer"]
    assert [m["id"] for m in after["verificationMethod"]][:1] == before["assertionMethod"]
    assert after["assertionMethod"][-1] == json.loads(rotated.stdout)["kid"]
    assert after["authentication"] == [json.loads(rotated.stdout)["kid"]]
    assert "privateKeyMultibase" not in json.dumps(after)


def test_bad_configuration_is_a_message_not_a_traceback(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTRY_ISSUER", "not a url")
    result = cli.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "CONSENTRY_ISSUER" in result.stderr


def test_openapi_prints_the_document(cli: CliRunner) -> None:
    document = json.loads(cli.invoke(app, ["openapi"]).stdout)
    assert document["info"]["title"] == "Consentry gateway"
    assert "/oauth/token" in document["paths"]


def test_serve_refuses_to_start_with_a_key_file_others_can_read(cli: CliRunner, tmp_path: Path) -> None:
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    (tmp_path / "data" / "keys" / "token.json").chmod(0o644)
    result = cli.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "chmod 600" in result.stderr
    assert "Traceback" not in result.output


def test_serve_refuses_a_database_that_is_not_a_ledger(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTRY_DATABASE_URL", "mysql://nobody@127.0.0.1/nothing")
    result = cli.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "unsupported database" in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_an_app_that_freezes_its_startup_heap(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Both ways of serving (one process, or uvicorn workers built by `worker_app`) freeze the startup heap."""
    served: list[FastAPI] = []

    def run(target: FastAPI | str, host: str, port: int, **options: object) -> None:
        served.append(worker_app() if target == "gateway.app:worker_app" else target)  # type: ignore[arg-type]

    monkeypatch.setattr(serve_command, "_run", run)
    frozen: list[bool] = []
    real_create_app = serve_command.create_app

    def spy(*args: object, freeze_startup_heap: bool = False, **kwargs: object) -> FastAPI:
        frozen.append(freeze_startup_heap)
        return real_create_app(*args, freeze_startup_heap=freeze_startup_heap, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(serve_command, "create_app", spy)
    monkeypatch.setattr(app_module, "create_app", spy)
    result = cli.invoke(app, ["serve", "--port", "1", "--workers", str(workers)])
    assert result.exit_code == 0, result.output
    assert len(served) == 1 and frozen == [True]


def test_serve_gives_workers_time_to_start_before_uvicorn_counts_them_hung(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's default (5 s to answer the supervisor's first ping) killed workers still starting on a busy
    machine, and each replacement started as slowly; `serve` allows a minute."""
    options: dict[str, object] = {}
    monkeypatch.setattr(serve_command.uvicorn, "run", lambda app, **given: options.update(given))
    serve_command._run("gateway.app:worker_app", "127.0.0.1", 1, factory=True, workers=2)
    assert options["workers"] == 2
    assert options["timeout_worker_healthcheck"] == serve_command.WORKER_HEALTHCHECK_TIMEOUT_S >= 30


def test_customer_add_names_the_source_subject_and_customer_type(cli: CliRunner) -> None:
    args = ["customer", "add", "--username", "li.wei", "--jurisdiction", "CN", "--password", "correct horse battery"]
    result = cli.invoke(app, [*args, "--customer-type", "vip", "--source-subject", "cust-1001"])
    assert result.exit_code == 0, result.output
    account = json.loads(result.stdout)
    assert account["customer_type"] == "vip" and account["source_subject"] == "cust-1001"
    bad = cli.invoke(app, [*args[:3], "other", *args[4:], "--source-subject", "a/b"])
    assert bad.exit_code == 2 and "source_subject" in bad.stderr
