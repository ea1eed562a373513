"""Differentially private statistics with OpenDP, computed a page at a time so memory does not grow with the cohort.

Every statistic is an OpenDP measurement on a vector of 64-bit integers (a value in whole steps of its attribute's
resolution), built as a transformation (clamp, sum, count, bin, score) chained to a noise mechanism. That chain is
what calibrates the noise and states ε: its privacy map, evaluated at one customer added or removed (symmetric
distance 1), is the ε the query spends, and the noise scale is the smallest for which that map meets the ε asked
(`binary_search_param`). Nothing here samples noise itself.

The chain is evaluated in two steps with the same result as evaluating it whole. The transformation's output is a
sum over customers (counts, clamped sums, per-bin counts, per-candidate rank counts), and sums of integers are
associative: running OpenDP's transformation on each page and adding the page results exactly (Python integers)
gives the very number OpenDP would compute over the whole vector, never more than 2^62 by the attribute's bounds.
The noise mechanism of the same chain is then applied once to that total. The quantile is the one statistic whose
transformation output (OpenDP's candidate scores) is not a sum; its scores are a fixed function of per-candidate
rank counts, which are, so those counts are gathered page by page and the scores formed with the exact fraction
OpenDP's transformation uses for the quantile (read back from the transformation itself, and checked equal to it
in the tests) before OpenDP's noisy-max mechanism picks the candidate.

A grouped statistic applies one chain per declared group: each customer is in at most one group, so by parallel
composition the whole release spends the ε of one chain.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import opendp.prelude as dp

__all__ = [
    "CONFIDENCE",
    "DpQuery",
    "GroupRelease",
    "PrivateStatistic",
    "Release",
    "Statistic",
]

dp.enable_features("contrib")

CONFIDENCE = 0.95
_ALPHA = 1 - CONFIDENCE
_D_IN = 1  # one customer added or removed: the neighbouring datasets differential privacy protects against
_SPACE = (dp.vector_domain(dp.atom_domain(T="i64")), dp.symmetric_distance())


class Statistic(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    HISTOGRAM = "histogram"
    QUANTILE = "quantile"


@dataclass(frozen=True)
class DpQuery:
    """A statistic over integer values in [lower, upper] (whole steps); `edges` bound histogram bins, `candidates`
    are the values a quantile may answer with, `alpha` which quantile (0.5 the median)."""

    statistic: Statistic
    lower: int
    upper: int
    groups: int = 1
    edges: tuple[int, ...] = ()
    candidates: tuple[int, ...] = ()
    alpha: float = 0.5


@dataclass(frozen=True)
class GroupRelease:
    """One group's noisy answer and, for each number in it, the accuracy at `CONFIDENCE` (same units)."""

    values: dict[str, Any]
    accuracy: dict[str, float | None]


@dataclass(frozen=True)
class Release:
    epsilon: float
    delta: float
    mechanism: str
    scales: dict[str, float]
    groups: tuple[GroupRelease, ...]


_SCALES: dict[tuple[Any, ...], float] = {}
_SCALES_MAX = 4096


def _search(make: Callable[[float], Any], epsilon: float, key: tuple[Any, ...]) -> tuple[float, Any]:
    """The smallest noise scale whose chain meets `epsilon`, and that chain. The search builds the chain dozens of
    times, and a chain is fixed by its parameters (`key`), so the scale found is remembered for them."""
    scale = _SCALES.get((*key, epsilon))
    if scale is None:
        scale = float(dp.binary_search_param(make, d_in=_D_IN, d_out=epsilon))
        if len(_SCALES) >= _SCALES_MAX:
            _SCALES.clear()
        _SCALES[(*key, epsilon)] = scale
    return scale, make(scale)


def _noise_for(transformation: Any, scale: float) -> Any:
    """The chain's own noise mechanism, on the transformation's output space, to apply to the page-wise total."""
    return dp.m.make_laplace(transformation.output_domain, transformation.output_metric, scale)


def _laplace_accuracy(scale: float, alpha: float = _ALPHA) -> float:
    return float(dp.discrete_laplacian_scale_to_accuracy(scale, alpha))


class PrivateStatistic:
    """Accumulates a statistic page by page (`add`) and releases it once (`release`): one per query."""

    def __init__(self, query: DpQuery, epsilon: float) -> None:
        if not 0 < epsilon <= 100 or not math.isfinite(epsilon):
            raise ValueError("epsilon must be in (0, 100]")
        if query.lower >= query.upper:
            raise ValueError("lower bound must be below the upper bound")
        self.query = query
        self.cohort = 0
        self._released = False
        groups = range(query.groups)
        bounds = (query.lower, query.upper)
        kind = query.statistic
        if kind is Statistic.COUNT:
            self._count = _SPACE >> dp.t.then_count(TO="i64")
            self._count_scale, chain = _search(lambda s: self._count >> dp.m.then_laplace(s), epsilon, ("count",))
            self.epsilon = float(chain.map(_D_IN))
            self._counts = [0 for _ in groups]
        elif kind is Statistic.SUM:
            self._sum = _SPACE >> dp.t.then_clamp(bounds) >> dp.t.then_sum()
            self._sum_scale, chain = _search(lambda s: self._sum >> dp.m.then_laplace(s), epsilon, ("sum", bounds))
            self.epsilon = float(chain.map(_D_IN))
            self._sums = [0 for _ in groups]
        elif kind is Statistic.MEAN:
            # a noisy clamped sum over a noisy count, each calibrated to half of ε; the quotient is post-processing
            self._sum = _SPACE >> dp.t.then_clamp(bounds) >> dp.t.then_sum()
            self._count = _SPACE >> dp.t.then_count(TO="i64")
            self._sum_scale, sum_chain = _search(
                lambda s: self._sum >> dp.m.then_laplace(s), epsilon / 2, ("sum", bounds)
            )
            self._count_scale, count_chain = _search(
                lambda s: self._count >> dp.m.then_laplace(s), epsilon / 2, ("count",)
            )
            self.epsilon = float(dp.c.make_composition([sum_chain, count_chain]).map(_D_IN))
            self._sums = [0 for _ in groups]
            self._counts = [0 for _ in groups]
        elif kind is Statistic.HISTOGRAM:
            edges = query.edges
            if len(edges) < 2 or list(edges) != sorted(set(edges)):
                raise ValueError("histogram edges must be at least two increasing values")
            self._bins = len(edges) - 1
            # values outside the outer edges are clamped into the first and last bin
            self._hist = (
                _SPACE
                >> dp.t.then_clamp(bounds)
                >> dp.t.then_find_bin(edges=list(edges[1:-1]))
                >> dp.t.then_count_by_categories(categories=list(range(self._bins)), null_category=False, TOA="i64")
            )
            self._hist_scale, chain = _search(
                lambda s: self._hist >> dp.m.then_laplace(s), epsilon, ("histogram", bounds, edges)
            )
            self.epsilon = float(chain.map(_D_IN))
            self._histograms = [[0] * self._bins for _ in groups]
        elif kind is Statistic.QUANTILE:
            candidates = list(query.candidates)
            if not candidates or candidates != sorted(set(candidates)) or not 0 < query.alpha < 1:
                raise ValueError("a quantile needs increasing candidates and 0 < alpha < 1")
            self._scores = _SPACE >> dp.t.then_quantile_score_candidates(candidates, alpha=query.alpha)
            self._quantile_scale, chain = _search(
                lambda s: self._scores >> dp.m.then_noisy_max(dp.max_divergence(), s, negate=True),
                epsilon,
                ("quantile", tuple(candidates), query.alpha),
            )
            self.epsilon = float(chain.map(_D_IN))
            self._alpha_fraction = alpha_fraction(query.alpha)
            self._candidates = candidates
            self._below = [[0] * len(candidates) for _ in groups]
            self._equal = [[0] * len(candidates) for _ in groups]
            self._sizes = [0 for _ in groups]
        else:
            raise ValueError(f"unknown statistic {kind!r}")

    def add(self, group: int, values: Sequence[int]) -> None:
        """Count one page's values of one group (already in whole steps; clamping is OpenDP's)."""
        if self._released:
            raise RuntimeError("this statistic was already released")
        if not values:
            return
        batch = list(values)
        self.cohort += len(batch)
        kind = self.query.statistic
        if kind in (Statistic.COUNT, Statistic.MEAN):
            self._counts[group] += int(self._count(batch))
        if kind in (Statistic.SUM, Statistic.MEAN):
            self._sums[group] += int(self._sum(batch))
        if kind is Statistic.HISTOGRAM:
            totals = self._histograms[group]
            for index, count in enumerate(self._hist(batch)):
                totals[index] += int(count)
        if kind is Statistic.QUANTILE:
            below, equal, candidates = self._below[group], self._equal[group], self._candidates
            self._sizes[group] += len(batch)
            for value in batch:
                # rank counts: every candidate above `value` has it below; the candidate equal to it, as equal
                position = bisect.bisect_left(candidates, value)
                if position < len(candidates) and candidates[position] == value:
                    equal[position] += 1
                    position += 1
                if position < len(candidates):
                    below[position] += 1
            # prefix sums are taken at release: below[i] holds values in (c_{i-1}, c_i) and equal to c_{i-1}

    def release(self) -> Release:
        """Add the noise (OpenDP) once; a statistic is released at most once."""
        if self._released:
            raise RuntimeError("this statistic was already released")
        self._released = True
        kind = self.query.statistic
        groups = range(self.query.groups)
        if kind is Statistic.COUNT:
            noise = _noise_for(self._count, self._count_scale)
            accuracy = _laplace_accuracy(self._count_scale)
            out = [GroupRelease({"count": int(noise(self._counts[g]))}, {"count": accuracy}) for g in groups]
            return self._release("discrete Laplace", {"count": self._count_scale}, out)
        if kind is Statistic.SUM:
            noise = _noise_for(self._sum, self._sum_scale)
            accuracy = _laplace_accuracy(self._sum_scale)
            out = [GroupRelease({"sum": int(noise(self._sums[g]))}, {"sum": accuracy}) for g in groups]
            return self._release("discrete Laplace", {"sum": self._sum_scale}, out)
        if kind is Statistic.MEAN:
            return self._release(
                "discrete Laplace (sum and count, each half of ε)",
                {"sum": self._sum_scale, "count": self._count_scale},
                [self._mean(g) for g in groups],
            )
        if kind is Statistic.HISTOGRAM:
            noise = _noise_for(self._hist, self._hist_scale)
            accuracy = _laplace_accuracy(self._hist_scale)
            out = [
                GroupRelease({"counts": [int(c) for c in noise(self._histograms[g])]}, {"counts": accuracy})
                for g in groups
            ]
            return self._release("discrete Laplace", {"counts": self._hist_scale}, out)
        return self._release(
            "report noisy max (Gumbel) over candidate scores", {"score": self._quantile_scale}, self._quantiles()
        )

    def _release(self, mechanism: str, scales: dict[str, float], out: list[GroupRelease]) -> Release:
        return Release(self.epsilon, 0.0, mechanism, scales, tuple(out))

    def _mean(self, group: int) -> GroupRelease:
        """With probability >= CONFIDENCE (a union bound over the two noises, each at half the failure rate),
        |noisy mean - mean| <= (a_sum + M * a_count) / noisy_count, M the largest |bound|: the noisy and exact
        means differ by e_sum / C' - mean * e_count / C', and |mean| <= M."""
        total = int(_noise_for(self._sum, self._sum_scale)(self._sums[group]))
        count = int(_noise_for(self._count, self._count_scale)(self._counts[group]))
        a_sum = _laplace_accuracy(self._sum_scale, _ALPHA / 2)
        a_count = _laplace_accuracy(self._count_scale, _ALPHA / 2)
        largest = max(abs(self.query.lower), abs(self.query.upper))
        if count <= 0:
            return GroupRelease({"mean": None, "count": count}, {"mean": None, "count": a_count})
        mean = min(max(total / count, self.query.lower), self.query.upper)
        bound = (a_sum + largest * a_count) / count
        return GroupRelease({"mean": mean, "count": count}, {"mean": bound, "count": a_count})

    def _quantiles(self) -> list[GroupRelease]:
        numerator, denominator = self._alpha_fraction
        k = len(self._candidates)
        noisy_max = dp.m.make_noisy_max(
            self._scores.output_domain, self._scores.output_metric, dp.max_divergence(), self._quantile_scale, True
        )
        # P(a candidate whose score trails the best by more than t) <= k * exp(-t / scale); a score is the
        # denominator times a distance in ranks, so t = scale * ln(k / alpha) is this many customers of rank
        rank = self._quantile_scale * math.log(k / _ALPHA) / denominator
        out = []
        for group in range(self.query.groups):
            scores = candidate_scores(
                self._below[group], self._equal[group], self._sizes[group], numerator, denominator
            )
            index = int(noisy_max(scores))
            out.append(GroupRelease({"value": self._candidates[index]}, {"rank": rank}))
        return out


def candidate_scores(
    below: Sequence[int], equal: Sequence[int], size: int, numerator: int, denominator: int
) -> list[int]:
    """OpenDP's quantile scores |denominator * #(x < c) - numerator * (n - #(x = c))| from the page-wise counts
    (`below[i]`: values in (c_{i-1}, c_i) plus those equal to c_{i-1}; `equal[i]`: values equal to c_i)."""
    scores = []
    lower = 0
    for i in range(len(below)):
        lower += below[i]
        scores.append(abs(denominator * lower - numerator * (size - equal[i])))
    return scores


def alpha_fraction(alpha: float) -> tuple[int, int]:
    """The fraction numerator/denominator OpenDP's score transformation uses for `alpha`, read back from it: one
    value above the only candidate scores the numerator, one value below it the denominator minus the numerator."""
    probe = _SPACE >> dp.t.then_quantile_score_candidates([0], alpha=alpha)
    numerator = int(probe([1])[0])
    return numerator, int(probe([-1])[0]) + numerator
