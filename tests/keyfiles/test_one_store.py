"""One key-file store: outside `keyfiles`, no runtime module seals with AES-GCM or judges a key file's permissions,
so every key and secret on disk gets the same 0600 files, atomic writes and refusal of readable files."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.packaging.project import ROOT, runtime_packages

STORE = "keyfiles"
# What only the store may touch: the AEAD that seals secrets at rest, and the mode bits of a file it reads.
RESERVED = {"AESGCM", "ChaCha20Poly1305", "S_IMODE"}


def _names(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.name.split(".")[-1])
    return found


def test_only_the_store_seals_or_checks_key_file_modes() -> None:
    assert STORE in runtime_packages()
    offenders = {
        str(path.relative_to(ROOT)): sorted(_names(path) & RESERVED)
        for package in runtime_packages()
        if package != STORE
        for path in sorted((ROOT / package).rglob("*.py"))
        if _names(path) & RESERVED
    }
    assert not offenders, f"keep keys and sealed secrets in {STORE}: {offenders}"


def test_the_store_imports_no_web_framework_and_no_database() -> None:
    """A wallet or a verifier can keep its keys with it: it depends on cryptography and the standard library."""
    imported = set()
    for path in (ROOT / STORE).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != STORE}
    assert third_party == {"cryptography"}
