"""The wallet's directory: the DID key, the statements and openings sources delivered, the standing rules,
and a journal of what was answered. Only its owner may read it.

Layout (the directory 0700, every file 0600):
    did-key.json            {"did": ..., "private_key_multibase": ...}
    statements/<hex>.json   one `zkp.HeldStatement` each, named by the statement's digest
    rules.json              the standing rules (`wallet.rules`)
    journal.jsonl           one line per question answered or declined (what, to whom, when; never a value)

Every write goes to a fresh temporary file that is synced and then renamed over the old one, so a crash
leaves the old file or the new one, never half of either. A key or opening file that group or others could
read is refused rather than used: whoever reads an opening can prove anything true about the value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from credentials import CredentialError
from keyfiles import KeyDirectory, KeyFileError
from wallet.identity import DidKey
from wallet.rules import StandingRules
from zkp import HeldStatement, ZkpError

KEY_FILE = "did-key.json"
STATEMENTS = "statements"
RULES_FILE = "rules.json"
JOURNAL_FILE = "journal.jsonl"


class WalletStoreError(Exception):
    """The wallet directory is missing, unreadable, too widely readable, or holds a malformed file."""


def _write_private(path: Path, data: bytes) -> None:
    KeyDirectory(path.parent).replace(path.name, data)


def _read_private(path: Path) -> Any:
    try:
        data = KeyDirectory(path.parent).read(path.name)
    except KeyFileError as exc:
        raise WalletStoreError(str(exc)) from exc
    if data is None:
        raise WalletStoreError(f"{path} does not exist")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WalletStoreError(f"{path} is not readable JSON: {exc}") from exc


def _json(document: Any) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True).encode("utf-8")


class WalletStore:
    """One wallet directory; create it with `init`, open an existing one with the constructor."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        if not (directory / KEY_FILE).exists():
            raise WalletStoreError(f"{directory} is not a wallet (no {KEY_FILE}): run `wallet init` first")
        try:
            KeyDirectory(directory).check_private()
        except KeyFileError as exc:
            raise WalletStoreError(str(exc)) from exc

    @classmethod
    def init(cls, directory: Path) -> WalletStore:
        """Create a wallet with a fresh did:key; refuses a directory that already holds one."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        if (directory / KEY_FILE).exists():
            raise WalletStoreError(f"{directory} already holds a wallet; its key is never replaced")
        (directory / STATEMENTS).mkdir(mode=0o700, exist_ok=True)
        key = DidKey.generate()
        _write_private(
            directory / KEY_FILE, _json({"did": key.did, "private_key_multibase": key.private_key_multibase})
        )
        return cls(directory)

    @property
    def key(self) -> DidKey:
        document = _read_private(self.directory / KEY_FILE)
        if not isinstance(document, dict) or not isinstance(document.get("private_key_multibase"), str):
            raise WalletStoreError(f"{KEY_FILE} has no private_key_multibase")
        try:
            key = DidKey.from_private(document["private_key_multibase"])
        except CredentialError as exc:
            raise WalletStoreError(f"{KEY_FILE}: {exc}") from exc
        if document.get("did") != key.did:
            raise WalletStoreError(f"{KEY_FILE}: the DID does not match the key")
        return key

    # -- statements and openings ---------------------------------------------------------------

    def add_statement(self, held: HeldStatement) -> bool:
        """Keep a delivered statement; False when it was already held."""
        folder = self.directory / STATEMENTS
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / f"{held.statement.digest().hex()}.json"
        if path.exists():
            return False
        _write_private(path, _json(held.to_json()))
        return True

    def statements(self) -> Iterator[HeldStatement]:
        folder = self.directory / STATEMENTS
        for path in sorted(folder.glob("*.json")) if folder.exists() else []:
            try:
                yield HeldStatement.from_json(_read_private(path))
            except ZkpError as exc:
                raise WalletStoreError(f"{path}: {exc}") from exc

    # -- standing rules and the journal ----------------------------------------------------------

    def rules(self) -> StandingRules:
        path = self.directory / RULES_FILE
        if not path.exists():
            return StandingRules(())
        try:
            return StandingRules.from_json(_read_private(path))
        except ValueError as exc:
            raise WalletStoreError(f"{path}: {exc}") from exc

    def save_rules(self, rules: StandingRules) -> None:
        _write_private(self.directory / RULES_FILE, _json(rules.to_json()))

    def record(self, entry: dict[str, Any]) -> None:
        """Append one line to the journal (opened 0600, synced before returning)."""
        path = self.directory / JOURNAL_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def journal(self) -> list[dict[str, Any]]:
        path = self.directory / JOURNAL_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
