"""Auditing a running gateway from outside: signed checkpoints plus consistency proofs, remembered across runs.

An auditor cannot trust the operator's database, only what it can check: every checkpoint must carry a
valid signature by the key the auditor pinned on first use (trust on first use, or a key given out of band),
and every checkpoint the auditor ever saw must be a prefix of the latest one (RFC 9162 consistency proof).
The state file keeps those checkpoints, so a log rewritten between two audits — even one that grew past
the old size — fails the next audit. Verification uses the pure `ledger` verifiers; HTTP only fetches,
through the `httpx.Client` the caller opens (base URL, timeouts, bearer token), so importing this module
loads no HTTP stack.

A valid signature and consistent checkpoints do not show that the entries served are the ones signed: the
stored tree nodes could be intact while an entry was edited. So every entry appended since the last audit
(all of them on the first run) is fetched and re-hashed here, and the root replayed from those leaves must
be the signed one; the first entry whose data does not belong to the signed tree is named by index. For a
log too long to fetch, `sample` checks that many random entries each by its own inclusion proof instead.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.audit import check_entry
from ledger.b64 import Base64Error, b64decode, b64encode
from ledger.checkpoint import Checkpoint, verify_checkpoint
from ledger.errors import LedgerError, TamperError
from ledger.rfc9162 import ProofError, leaf_hash, verify_consistency, verify_inclusion
from ledger.tree import Frontier

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
    # The prefix of the log whose every entry was fetched and re-hashed: its size and right edge (base64).
    entries_audited: int = 0
    frontier: list[str] = field(default_factory=list)

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
                entries_audited=int(data.get("entries_audited", 0)),
                frontier=[str(h) for h in data.get("frontier", [])],
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
            "entries_audited": self.entries_audited,
            "frontier": self.frontier,
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
    entries_checked: int = 0  # entries fetched and re-hashed in this run
    sampled: bool = False


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


def _fetch_entries(http: httpx.Client, start: int, end: int) -> list[bytes]:
    """Entries [start, end) as served, page by page; the server's own leaf hashes are not trusted."""
    found: list[bytes] = []
    while start + len(found) < end:
        page = _get(http, "/v1/ledger/entries", start=start + len(found), end=end)
        entries = page.get("entries", [])
        if not isinstance(entries, list) or not entries:
            raise AuditFailure(f"the gateway serves no entry at index {start + len(found)} below size {end}")
        for entry in entries:
            index = start + len(found)
            if not isinstance(entry, dict) or entry.get("index") != index:
                raise AuditFailure(f"the gateway served entries out of order at index {index}")
            found.append(_b64decode(str(entry.get("data", "")), f"entry {index}"))
            if start + len(found) == end:
                break
    return found


def _check_envelope(index: int, data: bytes) -> None:
    try:
        check_entry(index, data)
    except TamperError as exc:
        raise AuditFailure(f"entry {index} is not a canonical ledger entry: {exc.reason}") from None


def _first_bad_entry(http: httpx.Client, base: Frontier, leaves: list[bytes], checkpoint: Checkpoint) -> int:
    """The smallest index whose prefix is not a prefix of the signed tree (binary search over consistency proofs).

    Prefixes up to `base.size` were audited before; a prefix that holds has consistent successors only if
    every leaf in it is the signed one, so "the prefix of size m holds" is monotone in m.
    """

    def holds(size: int) -> bool:
        frontier = base.copy()
        for leaf in leaves[: size - base.size]:
            frontier.append(leaf)
        if size == checkpoint.size:
            return frontier.root() == checkpoint.root
        body = _get(http, "/v1/ledger/proofs/consistency", first=size, second=checkpoint.size)
        proof = [_b64decode(str(h), "a consistency proof hash") for h in body.get("proof", [])]
        try:
            verify_consistency(size, checkpoint.size, proof, frontier.root(), checkpoint.root)
        except (ProofError, ValueError):
            return False
        return True

    low, high = base.size, checkpoint.size  # holds(low); not holds(high)
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            low = middle
        else:
            high = middle
    return high - 1


def _rehash_new_entries(http: httpx.Client, state: AuditState, checkpoint: Checkpoint) -> int:
    """Fetch and re-hash every entry past the audited prefix; the replayed root must be the signed one."""
    try:
        base = Frontier(state.entries_audited, [_b64decode(h, "a kept frontier hash") for h in state.frontier])
    except ValueError as exc:
        raise AuditUsageError(f"the state file's audited prefix is unusable: {exc}") from None
    if base.size > checkpoint.size:
        raise AuditFailure(f"the log shrank below the {base.size} entries audited before")
    frontier = base.copy()
    leaves: list[bytes] = []
    for offset, data in enumerate(_fetch_entries(http, base.size, checkpoint.size)):
        _check_envelope(base.size + offset, data)
        leaf = leaf_hash(data)
        leaves.append(leaf)
        frontier.append(leaf)
    if frontier.root() != checkpoint.root:
        index = _first_bad_entry(http, base, leaves, checkpoint)
        raise AuditFailure(
            f"entry {index}: the data served does not hash to the leaf the signed checkpoint of size "
            f"{checkpoint.size} commits to (the entry was altered)"
        )
    state.entries_audited = frontier.size
    state.frontier = [b64encode(h) for _, h in frontier.stack]
    return len(leaves)


def _rehash_sample(http: httpx.Client, checkpoint: Checkpoint, count: int) -> int:
    """Re-hash `count` random entries, each checked against the signed root by its own inclusion proof."""
    picks = sorted({secrets.randbelow(checkpoint.size) for _ in range(count)}) if checkpoint.size else []
    for index in picks:
        (data,) = _fetch_entries(http, index, index + 1)
        _check_envelope(index, data)
        body = _get(http, "/v1/ledger/proofs/inclusion", index=index, tree_size=checkpoint.size)
        path = [_b64decode(str(h), "an inclusion proof hash") for h in body.get("audit_path", [])]
        try:
            verify_inclusion(leaf_hash(data), index, checkpoint.size, path, checkpoint.root)
        except (ProofError, ValueError):
            raise AuditFailure(
                f"entry {index}: the data served does not hash to the leaf the signed checkpoint of size "
                f"{checkpoint.size} commits to (the entry was altered)"
            ) from None
    return len(picks)


def remote_audit(
    http: httpx.Client, state: AuditState, *, log_keys: list[str] | None = None, sample: int | None = None
) -> RemoteAuditReport:
    """Verify the latest checkpoint, its consistency with every kept one and the entries it covers; record it
    in `state`. Entries are all re-hashed since the last audit, or with `sample` that many random ones.

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
    if sample is None:
        checked = _rehash_new_entries(http, state, checkpoint)
    else:
        checked = _rehash_sample(http, checkpoint, sample)
    root_b64 = b64encode(checkpoint.root)
    if pinned_now:
        state.verifier_keys = keys
    state.origin = checkpoint.origin
    if not any(int(c["size"]) == checkpoint.size for c in state.checkpoints):
        state.checkpoints.append({"size": checkpoint.size, "root": root_b64, "note": str(latest["note"])})
        state.checkpoints.sort(key=lambda c: int(c["size"]))
    return RemoteAuditReport(
        checkpoint.origin, checkpoint.size, root_b64, proven, pinned_now, checked, sample is not None
    )
