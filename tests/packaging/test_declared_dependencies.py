"""Every third-party module the code imports comes from a distribution pyproject.toml declares: the runtime
packages from `dependencies`, the tests and benchmarks from those or the `dev` extra. A module that is only
there as somebody else's dependency can vanish with that dependency's next release."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.packaging.project import ROOT, dev_requirements, runtime_packages, runtime_requirements

DEV_TREES = ("tests", "benchmarks")


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _imports_under(trees: Iterable[str], root: Path) -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for tree in trees:
        for path in sorted((root / tree).rglob("*.py")):
            for name in _top_level_imports(path):
                found.setdefault(name, set()).add(path.relative_to(root))
    return found


@cache
def _distributions_of() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _undeclared(trees: Iterable[str], first_party: set[str], declared: set[str], root: Path = ROOT) -> list[str]:
    problems = []
    for module, files in sorted(_imports_under(trees, root).items()):
        if module in sys.stdlib_module_names or module in first_party or module == "__future__":
            continue
        distributions = {canonicalize_name(d) for d in _distributions_of().get(module, [])}
        where = ", ".join(sorted(map(str, files))[:3])
        if not distributions:
            problems.append(f"{module} (imported by {where}) comes from no installed distribution")
        elif not distributions & declared:
            problems.append(f"{module} (from {', '.join(sorted(distributions))}; imported by {where}) is not declared")
    return problems


def test_the_runtime_packages_import_only_declared_dependencies() -> None:
    packages = runtime_packages()
    declared = {canonicalize_name(r.name) for r in runtime_requirements()}
    assert not _undeclared(packages, set(packages), declared)


def test_the_tests_and_benchmarks_import_only_declared_dependencies() -> None:
    first_party = {*runtime_packages(), *DEV_TREES}
    declared = {canonicalize_name(r.name) for r in (*runtime_requirements(), *dev_requirements())}
    assert not _undeclared(DEV_TREES, first_party, declared)


def test_an_import_of_an_undeclared_distribution_is_reported(tmp_path: Path) -> None:
    """The check itself: a module imported only through someone else's dependency is named."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "module.py").write_text("import joserfc.jwk\nimport json\nfrom tree import module\n")
    assert _undeclared(["tree"], {"tree"}, {"authlib"}, root=tmp_path) == [
        "joserfc (from joserfc; imported by tree/module.py) is not declared"
    ]
    assert _undeclared(["tree"], {"tree"}, {"joserfc"}, root=tmp_path) == []
