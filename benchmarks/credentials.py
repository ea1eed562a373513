"""Consent receipt issuance and verification rates: our Data Integrity suites against didkit.

One core: this process, and the child process that runs didkit, are pinned to the same single CPU
(didkit's runtime would otherwise spread over several). Each figure is the median of several timed
rounds over a small consent receipt; didkit signs the VC 1.1 form of the same receipt.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from credentials import (
    ConsentReceiptClaims,
    DidResolver,
    IssuerKey,
    generate_key_pair,
    issue_consent_receipt,
    receipt_v11,
    status_entry,
    verify_proof,
)
from credentials.didkit_interop import didkit_benchmark


def _claims(subject: str) -> ConsentReceiptClaims:
    return ConsentReceiptClaims(
        record_id="0190f3a2-0000-7000-8000-000000000001",
        subject_did=subject,
        controller="https://consentry.example/org/acme-motors",
        purposes=["https://w3id.org/dpv#ServiceProvision"],
        data_categories=["https://w3id.org/dpv/pd#EmailAddress"],
        recipients=["urn:consentry:org:dealer-42"],
        jurisdiction="CN",
        legal_basis="https://w3id.org/dpv#Consent",
        notice_version="2026-03",
        notice_hash="sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        given_at="2026-01-01T08:00:00Z",
        ledger_index=41,
        valid_until="2036-01-01T08:00:00Z",
    )


def _rate(operation: Callable[[int], Any], count: int, rounds: int) -> float:
    operation(0)
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(count):
            operation(i)
        rates.append(count / (time.perf_counter() - started))
    return round(statistics.median(rates), 1)


def run(*, quick: bool) -> dict[str, Any]:
    count, rounds = (100, 3) if quick else (400, 5)
    if not hasattr(os, "sched_setaffinity"):
        return _measure(count, rounds, None)
    previous = os.sched_getaffinity(0)
    cpu = min(previous)
    os.sched_setaffinity(0, {cpu})
    try:
        return _measure(count, rounds, cpu)
    finally:
        os.sched_setaffinity(0, previous)


def _measure(count: int, rounds: int, cpu: int | None) -> dict[str, Any]:
    issuer = IssuerKey.did_key(generate_key_pair().private_key_multibase)
    subject = IssuerKey.did_key(generate_key_pair().private_key_multibase).did
    claims = _claims(subject)
    status = status_entry("https://consentry.example/credentials/status/1", 94_567)
    resolver = DidResolver()
    figures: dict[str, Any] = {"receipt_count_per_round": count, "rounds": rounds, "cores": 1}

    for suite in ("eddsa-rdfc-2022", "eddsa-jcs-2022"):
        receipts: list[dict[str, Any]] = []

        def issue(i: int, suite: str = suite, receipts: list[dict[str, Any]] = receipts) -> None:
            receipts.append(
                issue_consent_receipt(
                    claims,
                    issuer_key=issuer,
                    credential_status=status,
                    cryptosuite=suite,
                    credential_id=f"urn:uuid:{i:032x}",
                )
            )

        def verify(i: int, receipts: list[dict[str, Any]] = receipts) -> None:
            if not verify_proof(receipts[i % len(receipts)], resolver=resolver).verified:
                raise AssertionError("benchmark receipt failed to verify")

        key = suite.removesuffix("-2022").replace("-", "_")
        figures[f"{key}_issuances_per_s"] = _rate(issue, count, rounds)
        figures[f"{key}_verifications_per_s"] = _rate(verify, count, rounds)

    v11 = receipt_v11(claims, issuer=issuer.did, credential_id="urn:uuid:0", issuance_date=claims.given_at)
    peer = didkit_benchmark(
        v11,
        private_key_multibase=issuer.private_key_multibase,
        verification_method=issuer.verification_method,
        count=count,
        rounds=rounds,
        cpu=cpu,
    )
    figures["didkit_ed25519signature2018_issuances_per_s"] = peer["issuances_per_s"]
    figures["didkit_ed25519signature2018_verifications_per_s"] = peer["verifications_per_s"]

    peer_issue = figures["didkit_ed25519signature2018_issuances_per_s"]
    peer_verify = figures["didkit_ed25519signature2018_verifications_per_s"]
    for key in ("eddsa_rdfc", "eddsa_jcs"):
        figures[f"{key}_issuance_ratio_vs_didkit"] = round(figures[f"{key}_issuances_per_s"] / peer_issue, 2)
        figures[f"{key}_verification_ratio_vs_didkit"] = round(figures[f"{key}_verifications_per_s"] / peer_verify, 2)
    return figures
