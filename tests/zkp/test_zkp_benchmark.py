"""The `zk` benchmark measures what it claims: every case answers as expected and AnonCreds really verifies."""

from __future__ import annotations

from benchmarks import zk


def test_every_benchmark_case_answers_and_reports_sizes() -> None:
    results = zk._ours(1)
    assert set(results) == set(zk.CASES)
    for name, figures in results.items():
        assert figures["answer"] is ("false" not in name), name
        assert figures["proof_bytes"] > 0 and figures["prove_ms_median"] > 0
    assert results["age within [18, 65] false (8-bit, proves outside)"]["proven_operator"] == "outside"
    assert results["day number >= 18000 (32-bit)"]["proof_bytes"] <= 700


def test_anoncreds_peer_creates_and_verifies_an_age_predicate_presentation() -> None:
    peer = zk._anoncreds(1)
    assert peer["version"].startswith("0.2")
    assert peer["presentation_json_bytes"] > 4 * 1000
    assert peer["prove_ms_median"] > 0 and peer["verify_ms_median"] > 0
