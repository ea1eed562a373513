"""The matrix's question templates meet the attribute registry: what only the gateway can check, and where."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.zk.attributes import DEFAULT_ATTRIBUTES, AttributeRegistry
from gateway.zk.templates import TemplateBooks, attribute_problems
from policies import (
    DEFAULT_MATRIX,
    DEFAULT_TAXONOMY,
    PolicyRuntime,
    load_matrix,
    load_taxonomy,
    matrix_from_document,
    open_policies,
)

TAXONOMY = load_taxonomy(DEFAULT_TAXONOMY)
REGISTRY = AttributeRegistry.load(DEFAULT_ATTRIBUTES, frozenset(TAXONOMY.categories))
KEY = base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("=")
ADULT = '    - {id: adult, attribute: age, op: ">=", operands: [18]}\n'


def matrix_file(tmp_path: Path, adult: str) -> Path:
    text = DEFAULT_MATRIX.read_text(encoding="utf-8")
    assert ADULT in text
    path = tmp_path / "matrix.yaml"
    path.write_text(text.replace(ADULT, adult))
    return path


def test_the_bundled_matrix_names_only_registered_attributes_with_fitting_operands() -> None:
    assert attribute_problems(load_matrix(TAXONOMY).questions, REGISTRY, "m") == []


@pytest.mark.parametrize(
    ("adult", "message"),
    [
        (
            '    - {id: adult, attribute: shoe_size, op: ">=", operands: [18]}\n',
            ":20: question template 'adult': unknown attribute 'shoe_size' (registered: age, ",
        ),
        ('    - {id: adult, attribute: fault_code, op: "==", operands: [18]}\n', ":20: question template 'adult': "),
        ('    - {id: adult, attribute: age, op: ">=", operands: [100000]}\n', ":20: question template 'adult': "),
    ],
    ids=["unknown-attribute", "integer-for-a-code", "wider-than-the-attribute"],
)
def test_policy_check_and_apply_name_file_and_line_of_an_attribute_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adult: str, message: str
) -> None:
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONSENTRY_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("CONSENTRY_PSEUDONYM_KEY", KEY)
    path = matrix_file(tmp_path, adult)
    checked = CliRunner().invoke(app, ["policy", "check", "--matrix", str(path)])
    assert checked.exit_code == 2
    assert f"{path}{message}" in checked.stderr, checked.stderr
    applied = CliRunner().invoke(app, ["policy", "apply", str(path), "--actor", "admin:alice"])
    assert applied.exit_code == 2 and f"{path}{message}" in applied.stderr


def test_policy_check_counts_the_question_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENTRY_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["policy", "check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matrix"]["question_templates"] == 5


@pytest.fixture
def runtime(sqlite_url: str) -> Iterator[PolicyRuntime]:
    rt = open_policies(sqlite_url, pseudonym_key=b"p" * 32)
    yield rt
    rt.close()


def test_a_book_follows_the_version_in_force_and_keeps_each_version(runtime: PolicyRuntime) -> None:
    books = TemplateBooks(REGISTRY)
    first = books.current(runtime.matrix)
    adult = first.get("adult")
    assert adult is not None and first.allows("finance", adult, "financial_product_recommendation")
    assert not first.allows("dealer", adult, "service_delivery")
    bundled = load_matrix(TAXONOMY)
    section = bundled.questions.as_dict()
    section["asked"] = [a for a in section["asked"] if a["role"] != "finance"]
    change = runtime.matrix.apply(
        matrix_from_document(
            TAXONOMY, {"version": 2, "rules": [r.as_dict() for r in bundled.rules], "questions": section}
        ),
        actor="admin:test",
    )
    now = books.current(runtime.matrix)
    assert now.version == change.version and not now.allows("finance", adult, "financial_product_recommendation")
    assert books.at(runtime.matrix, first.version).allows("finance", adult, "financial_product_recommendation")


def test_a_template_the_registry_no_longer_admits_cannot_be_asked(
    runtime: PolicyRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    without_age = AttributeRegistry({a.id: a for a in REGISTRY if a.id != "age"})
    book = TemplateBooks(without_age).current(runtime.matrix)
    assert book.get("adult") is None and book.get("income-band") is not None
    assert "question template 'adult' cannot be asked" in caplog.text
