"""Issue 17, point 11: the ledger's origin names the log, not the URL it is served from.

The same data restarted on another port (a new public URL) keeps its origin and verifier key, and every auditor
route still answers with checkpoints that verify against the key pinned before the move.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from gateway.cli import app
from ledger import Event, verify_checkpoint
from ledger.store import Ledger
from tests.e2e.conftest import Gateway, _stop


def auditor_views(gateway: Gateway) -> dict[str, dict[str, object]]:
    headers = {"Authorization": f"Bearer {gateway.token('auditor')}"}
    views = {}
    with gateway.client(headers=headers) as http:
        for name, path, params in (
            ("keys", "/v1/ledger/keys", {}),
            ("checkpoint", "/v1/ledger/checkpoint", {}),
            ("inclusion", "/v1/ledger/proofs/inclusion", {"index": 1}),
            ("consistency", "/v1/ledger/proofs/consistency", {"first": 1}),
        ):
            response = http.get(path, params=params)
            assert response.status_code == 200, (name, response.text)
            views[name] = response.json()
    return views


def test_restarting_on_another_port_keeps_origin_key_and_every_auditor_route(
    start_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gateway = start_gateway()
    gateway.register("auditor", ["auditor"], ["ledger:read"])
    with Ledger.open(gateway.database_url, create=False) as ledger:
        ledger.append_many([Event("test.event", "test:before", None, {"n": n}) for n in range(3)])
    before = auditor_views(gateway)
    origin = before["keys"]["origin"]
    assert origin == f"{gateway.base_url.removeprefix('http://')}/ledger"

    _stop(gateway)
    moved = start_gateway(data_dir=gateway.data_dir)  # a new free port: CONSENTRY_ISSUER changes with it
    assert moved.base_url != gateway.base_url
    moved.secrets.update(gateway.secrets)
    with Ledger.open(moved.database_url, create=False) as ledger:
        ledger.append(Event("test.event", "test:after", None, {"n": 3}))
    after = auditor_views(moved)

    assert after["keys"] == before["keys"]
    pinned = [str(key) for key in before["keys"]["verifier_keys"]]  # type: ignore[union-attr]
    grown = verify_checkpoint(str(after["checkpoint"]["note"]), pinned, origin)
    assert grown.size > verify_checkpoint(str(before["checkpoint"]["note"]), pinned, origin).size
    for proof in ("inclusion", "consistency"):
        checkpoint = after[proof]["checkpoint"]
        assert isinstance(checkpoint, dict) and verify_checkpoint(str(checkpoint["note"]), pinned, origin)
    result = CliRunner().invoke(
        app,
        [
            "ledger",
            "verify",
            "--url",
            moved.base_url,
            "--state",
            str(tmp_path / "state.json"),
            "--client-id",
            "auditor",
            "--client-secret",
            moved.secrets["auditor"],
            *(arg for key in pinned for arg in ("--log-key", key)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"checkpoint of {origin} verifies" in result.stdout
