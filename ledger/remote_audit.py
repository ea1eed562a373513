"""Auditing a running gateway from outside: signed checkpoints plus consistency proofs, remembered across runs.

An auditor cannot trust the operator's database, only what it can check: every checkpoint must carry a
valid signature by the key the auditor pinned on first use (trust on first use, or a key given out of band),
and every checkpoint the auditor ever saw must be a prefix of the latest one (RFC 9162 consistency proof).
The state file keeps those checkpoints, so a log rewritten between two audits — even one that grew past
the old size — fails the next audit. Verification uses the pure `ledger` verifiers; HTTP only fetches,
through the `httpx.Client` the caller opens (base URL, timeouts, bearer token), so importing this module
loads no HTTP stack.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.b64 import Base64Error, b64decode, b64encode
from ledger.checkpoint import verify_checkpoint
from ledger.errors import LedgerError
from ledger.rfc9162 import ProofError, verify_consistency

if TYPE_CHECKING:
    import httpx

STATE_VERSION = 1


class AuditFailure(Exception):
    """The gateway's log failed the audit (bad signature, rewritten or shrunk log); the message says which."""


class AuditUsageError(ValueError):
    """The audit could not be run (unreachable gateway, refused credentials, unreadable state file)."""


@dataclass
class AuditState:
    """What an auditor remembers about one log: its pinned verifier keys and every checkpoint seen."""

    url: str
    origin: str | None = None
    verifier_keys: list[str] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)  # {"size", "root", "note"}

    @classmethod
    def load(cls, path: Path, url: str) -> AuditState:
        if not path.exists():
            return cls(url=url)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            state = cls(
                url=str(data["url"]),
                origin=data.get("origin"),
                verifier_keys=[str(k) for k in data.get("verifier_keys", [])],
                checkpoints=[dict(c) for c in data.get("checkpoints", [])],
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuditUsageError(f"state file {path} is not readable audit state: {exc}") from None
        if state.url != url:
            raise AuditUsageError(f"state file {path} belongs to {state.url}, not {url}")
        return state

    def save(self, path: Path) -> None:
        """Atomically replace the state file (write, fsync, rename), readable by its owner only."""
        body = {
            "version": STATE_VERSION,
            "url": self.url,
            "origin": self.origin,
            "verifier_keys": self.verifier_keys,
            "checkpoints": self.checkpoints,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class RemoteAuditReport:
    origin: str
    size: int
    root: str
    proven: list[int]  # sizes of earlier checkpoints proven to be prefixes of this one
    pinned_now: bool


def _b64decode(value: str, what: str) -> bytes:
    try:
        return b64decode(value, canonical=False)
    except Base64Error:
        raise AuditFailure(f"{what} is not base64") from None


def fetch_token(http: httpx.Client, client_id: str, client_secret: str) -> str:
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "ledger:read"},
        auth=(client_id, client_secret),
    )
    if response.status_code != 200:
        raise AuditUsageError(f"the gateway refused the client credentials (HTTP {response.status_code})")
    return str(response.json()["access_token"])


def _get(http: httpx.Client, path: str, **params: int) -> dict[str, Any]:
    response = http.get(path, params=params)
    if response.status_code in (401, 403):
        raise AuditUsageError(f"GET {path}: HTTP {response.status_code}; the token needs scope ledger:read")
    if response.status_code != 200:
        raise AuditFailure(f"GET {path} answered HTTP {response.status_code}: {response.text[:200]}")
    body = response.json()
    if not isinstance(body, dict):
        raise AuditFailure(f"GET {path} did not answer a JSON object")
    return body


def remote_audit(http: httpx.Client, state: AuditState, *, log_keys: list[str] | None = None) -> RemoteAuditReport:
    """Verify the latest checkpoint and its consistency with every kept one; record it in `state`.

    Raises `AuditFailure` naming what is wrong; `state` is only updated when everything verified.
    """
    pinned_now = False
    if log_keys:
        keys = list(log_keys)
    elif state.verifier_keys:
        keys = state.verifier_keys
    else:
        published = _get(http, "/v1/ledger/keys")
        keys = [str(k) for k in published.get("verifier_keys", [])]
        if not keys:
            raise AuditFailure("the gateway publishes no checkpoint verifier key")
        pinned_now = True
    latest = _get(http, "/v1/ledger/checkpoint")
    try:
        checkpoint = verify_checkpoint(str(latest.get("note", "")), keys, origin=state.origin)
    except (LedgerError, ValueError) as exc:
        raise AuditFailure(f"the latest checkpoint does not verify against the pinned key(s): {exc}") from None
    proven: list[int] = []
    for kept in state.checkpoints:
        size, root = int(kept["size"]), _b64decode(str(kept["root"]), "a kept root")
        if size > checkpoint.size:
            raise AuditFailure(
                f"the log shrank: a checkpoint of size {size} was seen before, the gateway now signs size "
                f"{checkpoint.size}"
            )
        if size == checkpoint.size:
            if root != checkpoint.root:
                raise AuditFailure(f"the log was rewritten: two different signed roots for size {size}")
            proven.append(size)
            continue
        if size == 0:
            proven.append(size)
            continue
        body = _get(http, "/v1/ledger/proofs/consistency", first=size, second=checkpoint.size)
        proof = [_b64decode(str(h), "a consistency proof hash") for h in body.get("proof", [])]
        try:
            verify_consistency(size, checkpoint.size, proof, root, checkpoint.root)
        except (ProofError, ValueError) as exc:
            raise AuditFailure(
                f"the log was rewritten: the checkpoint of size {size} seen earlier is not a prefix of the "
                f"current log of size {checkpoint.size} ({exc})"
            ) from None
        proven.append(size)
    root_b64 = b64encode(checkpoint.root)
    if pinned_now:
        state.verifier_keys = keys
    state.origin = checkpoint.origin
    if not any(int(c["size"]) == checkpoint.size for c in state.checkpoints):
        state.checkpoints.append({"size": checkpoint.size, "root": root_b64, "note": str(latest["note"])})
        state.checkpoints.sort(key=lambda c: int(c["size"]))
    return RemoteAuditReport(checkpoint.origin, checkpoint.size, root_b64, proven, pinned_now)
