"""Named exceptions: every refusal says which file and line, or which field, is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class PolicyError(Exception):
    """Base of every error the policies package raises on bad input."""


@dataclass(frozen=True)
class Problem:
    """One defect in a taxonomy or matrix file, located so an editor can jump to it."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ValidationError(PolicyError):
    """A taxonomy or matrix file (or a proposed change) is malformed or contradictory; nothing was applied."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnchangedMatrixError(ValidationError):
    """A proposed matrix equals the version in force: nothing to record. `consentry policy apply` refuses it as a
    mistake; an HTTP `PUT` of the same document is idempotent and answers with the version in force."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__([Problem("<change>", 0, "the change leaves the matrix as it is")])


class UnknownNameError(PolicyError):
    """A request named a recipient, purpose, customer type, jurisdiction or category the taxonomy lacks."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"unknown {kind} {name!r}")


class ConsentError(PolicyError):
    """A consent event is invalid (bad field, unknown record, impossible transition); nothing was recorded."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class StateUnavailableError(PolicyError):
    """The consent and matrix state could not be read: the caller must fail closed (release nothing)."""
