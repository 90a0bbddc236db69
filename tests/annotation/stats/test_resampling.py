"""The item bootstrap engine: resample counts are those of resampling every unit, and the
shortcuts (bytes, distinct rows, unique keys) give exactly the plain results."""

import numpy as np
import pytest
from scipy import sparse

from annotation.stats import resampling


@pytest.mark.parametrize(
    ("multiplicity", "n_units"),
    [
        ([100, 50, 30], 180),  # few patterns covering every unit: one multinomial draw
        ([100, 50, 30], 1000),  # few patterns among units without statistics
        ([1] * 200, 200),  # every unit its own pattern: uniform unit draws
        ([2] * 50, 1000),  # a tenth of the units carry statistics: only their draws are made
    ],
)
def test_resampled_counts_are_those_of_resampling_every_unit(multiplicity, n_units):
    # Resampling n units with replacement puts Multinomial(n, m / n) draws on each pattern,
    # whether or not the units outside the patterns are drawn one by one.
    multiplicity = np.array(multiplicity)
    rounds = 20_000
    counts = resampling.resample_counts(multiplicity, n_units, rounds, np.random.default_rng(5))
    assert counts.shape == (rounds, len(multiplicity))
    share = multiplicity / n_units
    expected_mean = n_units * share
    expected_var = n_units * share * (1 - share)
    assert (
        np.abs(counts.mean(axis=0) - expected_mean).max() < 5 * np.sqrt(expected_var / rounds).max()
    )
    assert counts.var(axis=0) == pytest.approx(expected_var, rel=0.1)
    covariance = np.cov(counts[:, 0], counts[:, 1])[0, 1]
    tolerance = 5 * np.sqrt(expected_var[0] * expected_var[1] / rounds)
    assert covariance == pytest.approx(-n_units * share[0] * share[1], abs=tolerance)
    total = counts.sum(axis=1)
    if multiplicity.sum() == n_units:
        assert (total == n_units).all()
    else:
        assert (total <= n_units).all()
        assert total.var() == pytest.approx(n_units * share.sum() * (1 - share.sum()), rel=0.1)


@pytest.mark.parametrize(
    ("multiplicity", "n_units", "dtype"),
    [
        ([1] * 200, 200, np.uint8),  # counts of single units fit in bytes
        ([300], 320, np.float64),  # a multinomial draw above 255: floats
        ([300] + [1] * 20, 320, np.float64),  # a uniform draw above 255: the chunk turns to floats
    ],
)
def test_resampled_counts_come_as_bytes_only_when_they_fit(multiplicity, n_units, dtype):
    multiplicity = np.array(multiplicity)
    as_bytes = resampling.resample_counts(
        multiplicity, n_units, 50, np.random.default_rng(1), np.uint8
    )
    as_floats = resampling.resample_counts(multiplicity, n_units, 50, np.random.default_rng(1))
    assert as_bytes.dtype == dtype
    assert np.array_equal(as_bytes, as_floats)


def test_units_without_statistics_are_still_resampled():
    # 40 of 400 units carry a statistic, the rest are zeros that the bootstrap only counts:
    # a round's sum must still vary as a resample of all 400 units, n * Var(f) over them.
    rng = np.random.default_rng(3)
    statistic = np.concatenate([rng.random(40), np.zeros(360)])
    boot = resampling.bootstrap(
        statistic[:, None], np.ones(400, np.int64), 4000, np.random.default_rng(2), lambda s: s
    )[:, 0]
    assert boot.mean() == pytest.approx(statistic.sum(), rel=0.02)
    assert boot.var() == pytest.approx(400 * statistic.var(), rel=0.1)


@pytest.mark.parametrize("size", [0, 1, 500])
def test_unique_keys_are_those_of_numpy_unique(size):
    key = np.random.default_rng(size).integers(0, 40, size).astype(np.uint64) * (2**40 + 3)
    _, first, inverse, counts = np.unique(
        key, return_index=True, return_inverse=True, return_counts=True
    )
    expected = (first, inverse.reshape(-1), counts)
    for got, want in zip(resampling.unique_keys(key), expected, strict=True):
        assert np.array_equal(got, want)


def test_identical_rows_are_grouped_exactly():
    rng = np.random.default_rng(4)
    distinct = (rng.integers(1, 4, (30, 40)) * (rng.random((30, 40)) < 0.1)).astype(float)
    distinct[3] = 0  # an empty row among them
    distinct[7] = distinct[6] * 2  # same columns, other values: a different row
    f = sparse.csr_matrix(distinct[rng.integers(0, 30, 500)])
    first, group = resampling.identical_rows(f)
    dense = f.toarray()
    assert np.array_equal(dense, dense[first][group])
    assert len({tuple(row) for row in dense}) == len(first)
