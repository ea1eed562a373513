"""The ledger benchmark reports what it claims: a real fsync rate, the group-commit size it saw,
and a preemption-aware tail that never hides a call."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from benchmarks import ledger as bench


def test_fsync_probe_measures_the_directory_and_leaves_nothing_behind(tmp_path: Path) -> None:
    assert bench.fsync_rate(tmp_path, 0.05) > 0
    assert list(tmp_path.iterdir()) == []


def test_appends_report_group_size_consistent_with_commits(tmp_path: Path) -> None:
    figures = bench._sqlite_appends(tmp_path, 4, 0.4)
    assert figures["appends_per_s"] > 0
    assert 1 <= figures["entries_per_commit"] <= 4, "one outstanding append each: a commit holds at most 4"
    assert figures["appends_per_s"] == pytest.approx(figures["commits_per_s"] * figures["entries_per_commit"], rel=0.02)
    assert figures["ceiling_per_s"] == round(4 * figures["fsync_per_s"], 1)


def test_unpreempted_tail_accounts_for_every_call() -> None:
    figures = bench._time_each_unpreempted([lambda: time.sleep(0.001)] * 20)
    assert figures["p50_ms"] >= 1.0
    assert 0.0 <= figures["preempted_share"] <= 1.0
    assert figures["p99_unpreempted_ms"] <= figures["p99_ms"]


def test_a_full_collection_inside_a_call_is_counted() -> None:
    figures = bench._time_each_unpreempted([lambda: gc.collect(2)] * 3 + [lambda: None])
    assert figures["full_gc_share"] == 0.75


def test_one_thread_batches_commit_the_batch_they_are_given(tmp_path: Path) -> None:
    figures = bench.one_thread_batches(f"sqlite:///{tmp_path / 'floor.db'}", 4, 0.3)
    assert figures["appends_per_s"] > 0 and figures["cpu_us_per_append"] > 0
    assert figures["entries_per_commit"] == 4, "each append_many is one transaction of the whole batch"
