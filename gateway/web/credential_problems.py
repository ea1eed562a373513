"""Credential failures as RFC 9457 problems whose type names the broken rule.

`CredentialError.rule` and `Issue.rule` are stable, so the problem type
`https://consentry.dev/problems/credentials/<rule>` is too; clients switch on it. A refused issuance or status
change is a problem response. A verification that ran and failed is, as the VC API has it, a 200 with
`verified: false` and one `problemDetails` entry per failed rule; never a 401: the caller is not the one judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from credentials import CredentialError, Issue, LimitExceededError, VerificationResult
from gateway.web.problems import Problem, problem_type

KIND_PREFIX = "credentials/"


def rule_problem(
    rule: str,
    detail: str,
    *,
    status: int = 422,
    errors: Sequence[Issue] = (),
    checks: Sequence[str] = (),
) -> Problem:
    listed = list(errors) or [Issue(rule, detail)]
    return Problem(
        status,
        KIND_PREFIX + rule,
        detail,
        title="Credential check failed",
        rule=rule,
        errors=[{"rule": issue.rule, "message": issue.message} for issue in listed],
        checks=list(checks),
    )


def credential_problem(exc: CredentialError) -> Problem:
    """A library exception: its rule, its message; a canonicalization over the work caps is 413."""
    status = 413 if isinstance(exc, LimitExceededError) else 422
    return rule_problem(exc.rule, str(exc), status=status)


def verification_problem(result: VerificationResult, *, status: int = 422) -> Problem:
    """The first failed rule names the problem; every failure and every passed check are listed."""
    first = result.errors[0] if result.errors else Issue("unverified", "nothing could be checked")
    return rule_problem(
        first.rule,
        "; ".join(str(e) for e in result.errors) or first.message,
        status=413 if first.rule == LimitExceededError.rule else status,
        errors=result.errors,
        checks=result.checks,
    )


def problem_details(result: VerificationResult) -> list[dict[str, Any]]:
    """Each failed rule as an RFC 9457 entry, the VC API's `problemDetails` of a failed verification."""
    return [
        {
            "type": problem_type(KIND_PREFIX + issue.rule),
            "title": "Credential check failed",
            "detail": issue.message,
            "rule": issue.rule,
        }
        for issue in result.errors
    ]
