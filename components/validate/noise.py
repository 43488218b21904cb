"""Noise floors of skew and drift: how far apart two samples of one distribution lie by chance alone.

A distance between two small samples is never zero: 60 eval rows drawn from the very distribution of
300 train rows differ from them by an L-infinity distance of about 0.1 on a three-class feature. A
fixed threshold therefore blocks small clean data sets and says nothing about large ones. Here the
distance that sample size alone produces is estimated by the bootstrap: draw both samples, at their
real sizes, from the reference (train), measure them as TFDV does, and take a high quantile of the
draws. Validation then alerts above ``max(configured threshold, noise floor)``.

The distances are TFDV 1.16's, reimplemented on numpy so that a draw costs no statistics run:

- **L-infinity** (categorical): the largest difference between the two value shares, each normalised
  by its own total (TFDV's ``LInftyDistance`` on the rank histograms).
- **Jensen-Shannon divergence** (numeric): on the STANDARD histograms (ten equal-width buckets between
  a sample's minimum and maximum); the two are aligned on the union of their bucket edges assuming
  values uniform within a bucket, point buckets (a sample of one value) and infinite buckets are kept
  apart, NaN counts form buckets that never match, then ``(KL(p||m) + KL(q||m)) / 2`` in bits, capped at 1.

:func:`jensen_shannon` equals TFDV's number on its own histograms (tested). A draw's histogram is
counted exactly, where TFDV interpolates it from quantiles: the two differ by a fraction of a row per
bucket (measured), so the floor is on TFDV's scale.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

BUCKETS = 10  # TFDV's default num_histogram_buckets
SIZE_CAP = 10_000  # larger numeric samples are drawn at this size, their divergences scaled to the real sizes
VALUES_PER_DRAW_SET = 1_000_000  # numeric values drawn per feature at most (memory and time)...
MIN_DRAWS = 50  # ...but never fewer draws than this


@dataclass(frozen=True)
class Histogram:
    """A histogram as TFDV's Histogram proto holds it: bucket edges, counts and NaN count."""

    lows: np.ndarray
    highs: np.ndarray
    counts: np.ndarray
    num_nan: float = 0.0

    @classmethod
    def from_proto(cls, histogram: statistics_pb2.Histogram) -> Histogram:
        """Reads a Histogram proto (e.g. a feature's STANDARD histogram)."""
        buckets = histogram.buckets
        return cls(
            np.array([b.low_value for b in buckets], dtype=float),
            np.array([b.high_value for b in buckets], dtype=float),
            np.array([b.sample_count for b in buckets], dtype=float),
            float(histogram.num_nan),
        )


def standard_histogram(feature: statistics_pb2.FeatureNameStatistics) -> Histogram | None:
    """The STANDARD histogram of a numeric feature's statistics, or None if it has none."""
    if not feature.HasField("num_stats"):
        return None
    for histogram in feature.num_stats.histograms:
        if histogram.type == statistics_pb2.Histogram.STANDARD:
            return Histogram.from_proto(histogram)
    return None


def value_counts(feature: statistics_pb2.FeatureNameStatistics) -> dict[str, float]:
    """The value counts of a categorical feature's statistics (its rank histogram), as TFDV compares them."""
    return {b.label: b.sample_count for b in feature.string_stats.rank_histogram.buckets}


def l_infinity(counts_a: Mapping[str, float], counts_b: Mapping[str, float]) -> float:
    """TFDV's L-infinity distance between two value counts (each normalised by its own total)."""
    labels = sorted(set(counts_a) | set(counts_b))
    a = np.array([counts_a.get(label, 0.0) for label in labels], dtype=float)
    b = np.array([counts_b.get(label, 0.0) for label in labels], dtype=float)
    if not labels or a.sum() == 0 or b.sum() == 0:
        return 0.0
    return float(np.max(np.abs(a / a.sum() - b / b.sum())))


def jensen_shannon(a: Histogram, b: Histogram) -> float:
    """TFDV's approximate Jensen-Shannon divergence between two histograms (in bits, at most 1).

    Returns:
        The divergence; NaN when either histogram is empty (TFDV then measures nothing).
    """
    finite_a, points_a, infinite_a = _strip(a)
    finite_b, points_b, infinite_b = _strip(b)
    edges = np.union1d(np.concatenate([finite_a[0], finite_a[1]]), np.concatenate([finite_b[0], finite_b[1]]))
    p = [_rebucket(finite_a, edges)]
    q = [_rebucket(finite_b, edges)]
    for point in sorted(set(points_a) | set(points_b)):
        p.append([points_a.get(point, 0.0)])
        q.append([points_b.get(point, 0.0)])
    if infinite_a:
        p.append([infinite_a])
        q.append([0.0])
    if infinite_b:
        p.append([0.0])
        q.append([infinite_b])
    if a.num_nan > 0 or b.num_nan > 0:  # TFDV's NaN buckets never match, not even when both have NaN
        p.append([0.0, a.num_nan])
        q.append([b.num_nan, 0.0])
    p_all, q_all = np.concatenate(p), np.concatenate(q)
    if p_all.sum() <= 0 or q_all.sum() <= 0:
        return float("nan")
    return float(_divergence(p_all[None, :] / p_all.sum(), q_all[None, :] / q_all.sum())[0])


def equal_width_histograms(samples: np.ndarray) -> list[Histogram]:
    """TFDV's STANDARD histogram of each row of ``samples`` (ten equal-width buckets from min to max).

    A row of one repeated value gets one point bucket, as in TFDV.
    """
    lows, highs = samples.min(axis=1), samples.max(axis=1)
    width = np.where(highs > lows, highs - lows, 1.0)
    index = np.clip(((samples - lows[:, None]) / width[:, None] * BUCKETS).astype(int), 0, BUCKETS - 1)
    offsets = index + BUCKETS * np.arange(len(samples))[:, None]
    counts = np.bincount(offsets.ravel(), minlength=BUCKETS * len(samples)).reshape(len(samples), BUCKETS)
    result = []
    for low, high, row, size in zip(lows, highs, counts, [samples.shape[1]] * len(samples), strict=True):
        if low == high:
            result.append(Histogram(np.array([low]), np.array([high]), np.array([float(size)])))
        else:
            edges = np.linspace(low, high, BUCKETS + 1)
            result.append(Histogram(edges[:-1], edges[1:], row.astype(float)))
    return result


def categorical_noise(
    counts: Mapping[str, float], size_a: int, size_b: int, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """L-infinity distances between pairs of samples drawn from one categorical distribution.

    Args:
        counts: The reference's value counts (its shares are the distribution drawn from).
        size_a: Rows of the first sample (the reference's own size).
        size_b: Rows of the second sample (the compared split's size).
        draws: How many pairs.
        rng: The random generator (seeded by the caller).
    """
    shares = np.array(list(counts.values()), dtype=float)
    if draws <= 0 or shares.sum() <= 0 or min(size_a, size_b) <= 0:
        return np.zeros(0)
    shares = shares / shares.sum()
    a = rng.multinomial(size_a, shares, size=draws).astype(float)  # counts only: any size costs the same
    b = rng.multinomial(size_b, shares, size=draws).astype(float)
    return np.max(np.abs(a / a.sum(axis=1, keepdims=True) - b / b.sum(axis=1, keepdims=True)), axis=1)


def numeric_noise(values: np.ndarray, size_a: int, size_b: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Jensen-Shannon divergences between pairs of samples drawn (with replacement) from ``values``.

    Vectorised over the draws: each pair's histograms are aligned on the union of their edges at once.
    Large samples get fewer draws (at least :data:`MIN_DRAWS`, at most :data:`VALUES_PER_DRAW_SET` values drawn):
    their floor is far below any threshold, where its precision does not matter.

    Args:
        values: The reference's values (NaN and missing values left out: TFDV does not histogram them).
        size_a: Rows of the first sample (the reference's own size).
        size_b: Rows of the second sample (the compared split's size).
        draws: How many pairs.
        rng: The random generator (seeded by the caller).
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if draws <= 0 or len(values) == 0 or min(size_a, size_b) <= 0:
        return np.zeros(0)
    drawn_a, drawn_b = min(size_a, SIZE_CAP), min(size_b, SIZE_CAP)
    # Without a change the divergence of two samples shrinks as 1/size_a + 1/size_b (it is a chi-square
    # statistic over the effective size): capped draws are scaled down to the real sizes by that ratio.
    scale = (1 / size_a + 1 / size_b) / (1 / drawn_a + 1 / drawn_b)
    draws = max(min(draws, MIN_DRAWS), min(draws, VALUES_PER_DRAW_SET // (drawn_a + drawn_b)))
    first = rng.choice(values, size=(draws, drawn_a))
    second = rng.choice(values, size=(draws, drawn_b))
    edges_a, counts_a = _equal_width(first)
    edges_b, counts_b = _equal_width(second)
    edges = np.sort(np.concatenate([edges_a, edges_b], axis=1), axis=1)  # repeated edges make empty buckets
    p, q = _rebucket_rows(edges_a, counts_a, edges), _rebucket_rows(edges_b, counts_b, edges)
    result = _divergence(p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True))
    single = (edges_a[:, 0] == edges_a[:, -1]) | (edges_b[:, 0] == edges_b[:, -1])
    for row in np.flatnonzero(single):  # a sample of one value is a point bucket: TFDV aligns those apart
        a, b = equal_width_histograms(first[row : row + 1])[0], equal_width_histograms(second[row : row + 1])[0]
        result[row] = jensen_shannon(a, b)
    return result * scale


def _equal_width(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (rows of BUCKETS + 1) and counts (rows of BUCKETS) of each row's equal-width histogram."""
    lows, highs = samples.min(axis=1), samples.max(axis=1)
    width = np.where(highs > lows, highs - lows, 1.0)
    index = np.clip(((samples - lows[:, None]) / width[:, None] * BUCKETS).astype(int), 0, BUCKETS - 1)
    offsets = index + BUCKETS * np.arange(len(samples))[:, None]
    counts = np.bincount(offsets.ravel(), minlength=BUCKETS * len(samples)).reshape(len(samples), BUCKETS)
    edges = lows[:, None] + (highs - lows)[:, None] * np.linspace(0.0, 1.0, BUCKETS + 1)[None, :]
    edges[:, -1] = highs
    return edges, counts.astype(float)


def _rebucket_rows(edges: np.ndarray, counts: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Row-wise :func:`_rebucket`: each row's buckets spread over that row's ``union`` edges."""
    lows, highs = edges[:, :-1, None], edges[:, 1:, None]
    overlap = np.minimum(highs, union[:, None, 1:]) - np.maximum(lows, union[:, None, :-1])
    width = np.where(highs > lows, highs - lows, 1.0)
    return np.einsum("di,dij->dj", counts, np.clip(overlap, 0.0, None) / width)


def generator(seed: int, name: str) -> np.random.Generator:
    """The random generator of one feature's draws: the same seed and name give the same floor."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def floor(distances: np.ndarray, quantile: float) -> float:
    """The noise floor: the given quantile of the chance distances (0 when none were drawn)."""
    finite = distances[np.isfinite(distances)] if len(distances) else distances
    return float(np.quantile(finite, quantile)) if len(finite) else 0.0


def _strip(histogram: Histogram) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict[float, float], float]:
    """Splits a histogram as TFDV does: finite buckets of some width, point masses, infinite mass."""
    finite = np.isfinite(histogram.lows) & np.isfinite(histogram.highs)
    point = finite & (histogram.lows == histogram.highs)
    ranged = finite & ~point
    points: dict[float, float] = {}
    for value, count in zip(histogram.lows[point], histogram.counts[point], strict=True):
        points[float(value)] = points.get(float(value), 0.0) + float(count)
    kept = (histogram.lows[ranged], histogram.highs[ranged], histogram.counts[ranged])
    return kept, points, float(histogram.counts[~finite].sum())


def _rebucket(buckets: tuple[np.ndarray, np.ndarray, np.ndarray], edges: np.ndarray) -> np.ndarray:
    """Counts of ``buckets`` in the buckets between consecutive ``edges``, values uniform within a bucket."""
    lows, highs, counts = buckets
    if len(edges) < 2:
        return np.zeros(0)
    overlap = np.minimum(highs[:, None], edges[None, 1:]) - np.maximum(lows[:, None], edges[None, :-1])
    share = np.clip(overlap, 0.0, None) / (highs - lows)[:, None]
    return counts @ share


def _divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon divergence in bits of normalised rows, capped at 1 as in TFDV."""
    m = (p + q) / 2

    def kl(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where((x > 0) & (m > 0), x * np.log2(np.where(x > 0, x, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
        return terms.sum(axis=1)

    return np.minimum((kl(p) + kl(q)) / 2, 1.0)
