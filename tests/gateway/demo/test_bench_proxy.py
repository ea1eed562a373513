"""`consentry bench proxy` measures what it says: the same record read directly and through a real gateway,
every gateway read a 200 (so the figures are of released reads, not of fast refusals)."""

from __future__ import annotations

import pytest

from benchmarks import proxy


def test_the_proxy_benchmark_compares_direct_and_gateway_reads_in_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
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
    assert set(results["targets_c16"]) == {"throughput_ratio_at_least_0.5", "added_p99_at_most_5ms"}
