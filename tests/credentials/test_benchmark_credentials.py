"""The credentials benchmark runs end to end and reports both suites, didkit, and the ratios."""

from __future__ import annotations

from benchmarks import credentials as bench


def test_a_tiny_run_reports_rates_and_ratios_against_didkit() -> None:
    figures = bench._measure(count=3, rounds=1, cpu=None)
    for key in ("eddsa_rdfc", "eddsa_jcs", "didkit_ed25519signature2018"):
        assert figures[f"{key}_issuances_per_s"] > 0
        assert figures[f"{key}_verifications_per_s"] > 0
    assert figures["eddsa_rdfc_issuance_ratio_vs_didkit"] == round(
        figures["eddsa_rdfc_issuances_per_s"] / figures["didkit_ed25519signature2018_issuances_per_s"], 2
    )
