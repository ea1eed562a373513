"""`consentry bench proxy` measures what it says: the same record read directly, through a bare forwarding hop and
through a real gateway, every read a 200 (so the figures are of released reads, not of fast refusals), with the
CPU each party spent per request."""

from __future__ import annotations

import pytest

from benchmarks import proxy
from benchmarks._stubbed_gateway import PARTS


def test_the_proxy_benchmark_compares_direct_forwarded_and_gateway_reads_in_one_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(proxy, "CONCURRENCIES", (1, 16))
    monkeypatch.setattr(proxy, "WORKERS", (1, 2))
    results = proxy.run(quick=True)
    for points in (results, results["workers_2"]):
        for level in ("c1", "c16"):
            point = points[level]
            assert point["direct"]["errors"] == point["gateway"]["errors"] == 0
            assert set(point["gateway"]["statuses"]) == {"200"}
            assert point["gateway"]["requests"] > 0 and point["direct"]["requests"] > 0
            ratio = point["gateway"]["requests_per_s"] / point["direct"]["requests_per_s"]
            assert point["throughput_ratio"] == pytest.approx(ratio, abs=0.001)
    for level in ("c1", "c16"):
        point = results[level]
        hop = point["forwarder"]
        assert hop["errors"] == 0 and set(hop["statuses"]) == {"200"}
        assert point["forwarder_throughput_ratio"] == pytest.approx(
            hop["requests_per_s"] / point["direct"]["requests_per_s"], abs=0.001
        )
        assert point["gateway_to_forwarder_ratio"] == pytest.approx(
            point["gateway"]["requests_per_s"] / hop["requests_per_s"], abs=0.001
        )
        parties = {"direct": {"loadgen", "upstream"}, "forwarder": {"loadgen", "upstream", "forwarder"}}
        parties["gateway"] = {"loadgen", "upstream", "gateway"}
        for peer, names in parties.items():
            cpu = point[peer]["cpu_ms_per_request"]
            assert set(cpu) == names
            assert all(isinstance(cpu[name], float) and cpu[name] > 0 for name in names), cpu
        profile = point["profile"]
        assert profile["errors"] == 0 and set(profile["statuses"]) == {"200"}
        cpu = profile["cpu_ms_per_request"]
        assert set(cpu) == {"loadgen", "upstream", "billing", "insurer", "gateway"}
        assert all(isinstance(cpu[name], float) and cpu[name] > 0 for name in cpu), cpu
    assert "forwarder" not in results["workers_2"]["c16"]  # the bare hop is the one-process peer only
    assert results["workers_2"]["c16"]["gateway"]["cpu_ms_per_request"]["gateway"] > 0  # workers counted
    assert set(results["cpu_breakdown_c16"]["in_place_us"]) == set(PARTS)
    assert set(results["targets_c16"]) == {"throughput_ratio_at_least_0.5", "added_p99_at_most_5ms"}


def test_the_cpu_breakdown_measures_a_gateway_with_each_part_stubbed_against_an_unmodified_one() -> None:
    """Every stubbed gateway released every read (else the breakdown raises); the figures are per part, per round,
    and what no part explains is the rest."""
    breakdown = proxy.cpu_breakdown(duration=0.5, rounds=2)
    assert set(PARTS) == {"ledger", "upstream", "decision", "request_context", "token"}
    assert set(breakdown["in_place_us"]) == set(PARTS)
    assert set(breakdown["cpu_us_per_read"]) == {"base", *PARTS}
    for name, rounds in breakdown["cpu_us_per_read"].items():
        assert len(rounds) == 2 and all(isinstance(v, float) and v > 0 for v in rounds), name
    explained = sum(breakdown["in_place_us"].values())
    assert breakdown["rest_us"] == pytest.approx(breakdown["base_us"] - explained, abs=0.2)
