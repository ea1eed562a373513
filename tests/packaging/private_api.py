"""Finds where a module reaches into a third-party library's private API (names with one leading underscore)."""

from __future__ import annotations

import ast
from pathlib import Path


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def private_uses(path: Path, library: str) -> list[str]:
    """In a module importing `library`: private attributes read off anything but `self`/`cls`, and private methods
    defined in subclasses of the library's classes (overrides of its internals)."""
    tree = ast.parse(path.read_text(), str(path))
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == library)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == library:
            bound.update(a.asname or a.name for a in node.names)
    if not bound:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and _root(node.value) not in ("self", "cls"):
            found.append(f"{path.name}:{node.lineno} .{node.attr}")
        if isinstance(node, ast.ClassDef) and any(_root(base) in bound for base in node.bases):
            found.extend(
                f"{path.name}:{item.lineno} {node.name}.{item.name} overrides a private method"
                for item in node.body
                if isinstance(item, ast.FunctionDef) and _is_private(item.name)
            )
    return found
