"""The statistics are OpenDP's: computed page by page they equal OpenDP's chain run on the whole vector, and over
many runs their noise has the scale OpenDP states and stays within the accuracy reported at 95% confidence.

The data comes from a fixed seed; the noise comes from OpenDP's own cryptographic sampler, which cannot be seeded,
so the tolerances are several standard errors wide (a false failure is rarer than one in ten thousand runs).
"""

from __future__ import annotations

import itertools
import math
import random
import statistics

import opendp.prelude as dp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.analytics.dp import CONFIDENCE, DpQuery, PrivateStatistic, Statistic, alpha_fraction, candidate_scores

dp.enable_features("contrib")
SPACE = (dp.vector_domain(dp.atom_domain(T="i64")), dp.symmetric_distance())
RUNS = 2000
# coverage is a binomial proportion: 4 standard errors around 95% over RUNS runs
COVERAGE_SLACK = 4 * math.sqrt(CONFIDENCE * (1 - CONFIDENCE) / RUNS)

values = st.lists(st.integers(min_value=-20, max_value=140), min_size=1, max_size=300)
pages = st.integers(min_value=1, max_value=50)


def paged(statistic: PrivateStatistic, data: list[int], size: int) -> PrivateStatistic:
    for start in range(0, len(data), size):
        statistic.add(0, data[start : start + size])
    return statistic


@given(values, pages)
def test_page_by_page_counts_and_clamped_sums_are_opendps_over_the_whole_vector(data: list[int], size: int) -> None:
    # at epsilon 100 the discrete Laplace noise on a sensitivity-1 count is 0 but with probability ~1e-43
    count = paged(PrivateStatistic(DpQuery(Statistic.COUNT, 0, 100), 100.0), data, size).release()
    assert count.groups[0].values["count"] == (SPACE >> dp.t.then_count(TO="i64"))(data)
    low, high = -1, 3  # a small range keeps the sum's noise at 0 too, and clamps most of the data
    total = paged(PrivateStatistic(DpQuery(Statistic.SUM, low, high), 100.0), data, size).release()
    assert total.groups[0].values["sum"] == (SPACE >> dp.t.then_clamp((low, high)) >> dp.t.then_sum())(data)


@given(values, pages)
def test_page_by_page_histograms_are_opendps_over_the_whole_vector(data: list[int], size: int) -> None:
    edges = (0, 25, 50, 100)
    histogram = paged(PrivateStatistic(DpQuery(Statistic.HISTOGRAM, 0, 100, edges=edges), 100.0), data, size)
    whole = (
        SPACE
        >> dp.t.then_clamp((0, 100))
        >> dp.t.then_find_bin(edges=list(edges[1:-1]))
        >> dp.t.then_count_by_categories(categories=[0, 1, 2], null_category=False, TOA="i64")
    )
    assert histogram.release().groups[0].values["counts"] == list(whole(data))


@given(values, pages, st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9]))
def test_quantile_scores_from_page_wise_rank_counts_are_opendps(data: list[int], size: int, alpha: float) -> None:
    candidates = tuple(range(-10, 131, 10))
    quantile = paged(
        PrivateStatistic(DpQuery(Statistic.QUANTILE, -20, 140, candidates=candidates, alpha=alpha), 1.0), data, size
    )
    numerator, denominator = alpha_fraction(alpha)
    mine = candidate_scores(quantile._below[0], quantile._equal[0], quantile._sizes[0], numerator, denominator)
    assert mine == list((SPACE >> dp.t.then_quantile_score_candidates(list(candidates), alpha=alpha))(data))


def test_the_epsilon_spent_is_what_the_opendp_chain_states() -> None:
    stat = PrivateStatistic(DpQuery(Statistic.SUM, 0, 1000), 0.5)
    release = paged(stat, [1, 2, 3], 2).release()
    chain = SPACE >> dp.t.then_clamp((0, 1000)) >> dp.t.then_sum() >> dp.m.then_laplace(release.scales["sum"])
    assert release.epsilon == chain.map(1) <= 0.5
    assert release.delta == 0


def test_a_statistic_is_released_once() -> None:
    stat = paged(PrivateStatistic(DpQuery(Statistic.COUNT, 0, 10), 1.0), [1, 2], 1)
    stat.release()
    with pytest.raises(RuntimeError):
        stat.release()
    with pytest.raises(RuntimeError):
        stat.add(0, [3])


def discrete_laplace_variance(scale: float) -> float:
    q = math.exp(-1 / scale)
    return 2 * q / (1 - q) ** 2


@pytest.mark.parametrize("epsilon", [0.5, 2.0])
def test_count_noise_has_the_scale_and_accuracy_opendp_states(epsilon: float) -> None:
    data = [random.Random(21).randint(0, 100) for _ in range(500)]
    errors, stated = [], set()
    for _ in range(RUNS):
        release = paged(PrivateStatistic(DpQuery(Statistic.COUNT, 0, 100), epsilon), data, 64).release()
        errors.append(release.groups[0].values["count"] - len(data))
        stated.add((release.scales["count"], release.groups[0].accuracy["count"]))
    ((scale, accuracy),) = stated
    assert scale == pytest.approx(1 / epsilon, rel=1e-6)  # a count's sensitivity is 1
    assert accuracy == dp.discrete_laplacian_scale_to_accuracy(scale, 1 - CONFIDENCE)
    assert abs(statistics.fmean(errors)) < 4 * math.sqrt(discrete_laplace_variance(scale) / RUNS)
    # the variance of a Laplace-like estimate has a relative standard error of about sqrt(5 / RUNS) ~ 4%
    assert statistics.pvariance(errors) == pytest.approx(discrete_laplace_variance(scale), rel=0.2)
    covered = sum(abs(e) <= accuracy for e in errors) / RUNS
    assert covered >= CONFIDENCE - COVERAGE_SLACK


def test_mean_and_histogram_answers_stay_within_their_stated_accuracy() -> None:
    rng = random.Random(7)
    data = [rng.randint(0, 1000) for _ in range(2000)]
    exact_mean = statistics.fmean(data)
    edges = (0, 250, 500, 750, 1000)
    exact_bins = [sum(lo <= v < hi for v in data) for lo, hi in itertools.pairwise(edges)]
    exact_bins[-1] += sum(v == 1000 for v in data)
    mean_hits = bin_hits = 0
    runs = RUNS // 3
    for _ in range(runs):
        mean = paged(PrivateStatistic(DpQuery(Statistic.MEAN, 0, 1000), 1.0), data, 300).release().groups[0]
        mean_hits += abs(mean.values["mean"] - exact_mean) <= mean.accuracy["mean"]
        hist = paged(PrivateStatistic(DpQuery(Statistic.HISTOGRAM, 0, 1000, edges=edges), 1.0), data, 300)
        group = hist.release().groups[0]
        bin_hits += abs(group.values["counts"][0] - exact_bins[0]) <= group.accuracy["counts"]
    slack = 4 * math.sqrt(CONFIDENCE * (1 - CONFIDENCE) / runs)
    assert mean_hits / runs >= CONFIDENCE - slack
    assert bin_hits / runs >= CONFIDENCE - slack


def test_a_quantile_lands_within_its_stated_rank_distance() -> None:
    rng = random.Random(11)
    data = sorted(rng.randint(0, 1000) for _ in range(1000))
    candidates = tuple(range(0, 1001, 10))
    hits, runs = 0, RUNS // 3
    for _ in range(runs):
        release = paged(
            PrivateStatistic(DpQuery(Statistic.QUANTILE, 0, 1000, candidates=candidates, alpha=0.5), 1.0), data, 128
        ).release()
        value, rank = release.groups[0].values["value"], release.groups[0].accuracy["rank"]
        below = sum(v < value for v in data)
        at_most = sum(v <= value for v in data)
        # the answer's rank interval must come within the stated distance of the median's rank
        target = 0.5 * len(data)
        hits += below - rank <= target <= at_most + rank
    assert hits / runs >= CONFIDENCE - 4 * math.sqrt(CONFIDENCE * (1 - CONFIDENCE) / runs)
