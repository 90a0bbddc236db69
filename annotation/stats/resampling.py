"""The item bootstrap behind every interval in annotation.stats, made cheap.

A statistic that is a function of per-unit sufficient statistics (a row of features per
unit) is bootstrapped by weighting those rows with resample counts: a round is a matrix
product, not a re-run. Units with identical features are collapsed into patterns first, so
drawing units with replacement is exactly a multinomial draw over patterns
(:func:`resample_counts`); rounds are drawn in chunks from one random stream in order, so the
same seed gives the same numbers whatever the chunking or threading. Sparse features are
summed over their distinct rows (:func:`identical_rows`), exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

__all__ = [
    "CHUNK_ELEMENTS",
    "PIPELINE_ELEMENTS",
    "bootstrap",
    "bootstrap_together",
    "ci_entry",
    "distinct_row_gather",
    "identical_rows",
    "json_float",
    "percentile_ci",
    "pipelined",
    "resample_counts",
    "sparse_summation",
    "sums_exact_in_float32",
    "unique_keys",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Bootstrap chunks are sized so that one chunk's weight matrix has about this many entries.
CHUNK_ELEMENTS = 4_000_000


def unique_keys(key: npt.NDArray[Any]) -> tuple[IntArray, IntArray, IntArray]:
    """(first index, inverse, counts) of ``np.unique(key, ...)``, several times faster:
    an unstable sort groups equal keys and the first index of each group is found apart
    (np.unique needs a stable sort for it)."""
    n = len(key)
    by_key = np.argsort(key)
    starts = np.ones(n, dtype=bool)
    np.not_equal(key[by_key[1:]], key[by_key[:-1]], out=starts[1:])
    group = np.empty(n, dtype=np.int64)
    group[by_key] = np.cumsum(starts) - 1
    first = np.full(int(starts.sum()), n, dtype=np.int64)
    np.minimum.at(first, group, np.arange(n))
    counts = np.diff(np.append(np.flatnonzero(starts), n))
    return first, group, counts


def resample_counts(
    multiplicity: IntArray,
    n_units: int,
    rounds: int,
    rng: np.random.Generator,
    dtype: npt.DTypeLike = np.float64,
) -> FloatArray:
    """(rounds, P) counts of the P patterns in ``rounds`` draws of ``n_units`` units with
    replacement, where the patterns hold ``multiplicity.sum() <= n_units`` of the units.
    They come as ``dtype``, or as float64 where an integer ``dtype`` cannot hold them.

    The other units carry no statistics, so only how many draws land on the patterns
    matters: Binomial(n_units, covered / n_units) of them, each uniform over the covered
    units.  That is exactly the item bootstrap, at a cost that grows with the covered units
    only (a sample of 1,000 annotator pairs covers a tenth of a crowd's items).  Rounds are
    drawn one after another, so the draws do not depend on how rounds are chunked.
    """
    n_patterns = len(multiplicity)
    covered = int(multiplicity.sum())
    # A multinomial costs a binomial draw per pattern, a uniform draw about a tenth of that.
    if 16 * (n_patterns + 1) <= covered:
        rest = [n_units - covered] if covered < n_units else []
        p = np.append(multiplicity, rest) / n_units
        counts = rng.multinomial(n_units, p, size=rounds)[:, :n_patterns]
        return counts.astype(dtype if _fits(counts, dtype) else np.float64)
    unit_pattern = np.repeat(np.arange(n_patterns), multiplicity) if n_patterns != covered else None
    weights = np.zeros((rounds, n_patterns), dtype=dtype)
    for row in range(rounds):  # one round at a time: the counts stay in cache (4x faster)
        n = int(rng.binomial(n_units, covered / n_units))
        draws = rng.integers(0, covered, size=n)
        if unit_pattern is not None:
            draws = unit_pattern[draws]
        if weights.dtype.kind == "u":
            # Counted in place, in a row of bytes that stays in cache (bincount's int64 row
            # would not); a count that wraps around shows in the row's total.
            np.add.at(weights[row], draws, weights.dtype.type(1))
            if int(weights[row].sum(dtype=np.uint64)) == n:
                continue
            weights = weights.astype(np.float64)  # the rows before fit: still exact
        weights[row] = np.bincount(draws, minlength=n_patterns)
    return weights


def _fits(counts: IntArray, dtype: npt.DTypeLike) -> bool:
    """Whether the counts can be stored in dtype exactly (floats hold any count here)."""
    kind = np.dtype(dtype)
    return kind.kind == "f" or counts.size == 0 or int(counts.max()) <= np.iinfo(kind).max


def bootstrap(
    features: FloatArray | sparse.csr_matrix,
    multiplicity: IntArray,
    n_boot: int,
    rng: np.random.Generator,
    statistic: Callable[[FloatArray], FloatArray],
) -> FloatArray:
    """Apply ``statistic`` to feature sums of ``n_boot`` resamples of units.

    ``features[p]`` are the per-unit sufficient statistics of pattern ``p`` and
    ``multiplicity[p]`` how many units share it.  Drawing n units with replacement from the
    units is a Multinomial(n, multiplicity / n) draw over patterns (see
    :func:`resample_counts`).  ``statistic`` maps a (b, n_features) block of sums to a
    (b, n_stats) block.
    """
    return bootstrap_together([features], multiplicity, n_boot, rng, [statistic])[0]


def bootstrap_together(
    features: Sequence[FloatArray | sparse.csr_matrix],
    multiplicity: IntArray,
    n_boot: int,
    rng: np.random.Generator,
    statistics: Sequence[Callable[[FloatArray], FloatArray]],
) -> list[FloatArray]:
    """:func:`bootstrap` of several statistics of the same units on the same resamples.

    Patterns whose statistics are all zero (in every feature matrix) add nothing to a sum,
    so they are only counted, never drawn.  Ratings of the same units with the same rows of
    nonzero statistics get the same resamples together as alone.  The sparse feature
    matrices are summed together (see :func:`sparse_summation`), so each chunk of counts
    is read once for all of them.
    """
    n_units = int(multiplicity.sum())
    if n_boot <= 0 or n_units == 0:
        return [np.empty((0, 0)) for _ in features]
    features = [sparse.csr_matrix(f) if sparse.issparse(f) else f for f in features]
    carries = np.zeros(len(multiplicity), dtype=bool)
    for f in features:
        carries |= f.getnnz(axis=1) > 0 if sparse.issparse(f) else np.any(f != 0, axis=1)
    if not carries.all():
        features = [f[carries] for f in features]
        multiplicity = multiplicity[carries]
    is_sparse = [sparse.issparse(f) for f in features]
    # Resample counts are integers, so float32 sums of integer statistics are exact (and
    # the same in any order) while they stay below 2**24: half the memory traffic.
    exact32 = all(sums_exact_in_float32(f, n_units) for f in features if sparse.issparse(f))
    dtype = np.float32 if exact32 else np.float64
    summation = (
        sparse_summation([f for f in features if sparse.issparse(f)], dtype)
        if any(is_sparse)
        else None
    )
    width = max(len(multiplicity), int(multiplicity.sum()), *(f.shape[1] for f in features), 1)
    chunk = max(1, min(n_boot, CHUNK_ELEMENTS // width))
    # When only sparse products read the counts, they are drawn as bytes (a chunk with a
    # count above 255 turns to floats) and become floats as they are transposed: a quarter of
    # the memory to move.
    count_dtype = np.uint8 if all(is_sparse) else np.float64

    def chunk_statistics(weights: FloatArray) -> list[FloatArray]:
        sparse_sums = iter(summation(weights) if summation is not None else ())
        return [
            statistic(next(sparse_sums).T if is_f_sparse else weights @ f)
            for f, is_f_sparse, statistic in zip(features, is_sparse, statistics, strict=True)
        ]

    starts = range(0, n_boot, chunk)
    draws = (
        resample_counts(multiplicity, n_units, min(chunk, n_boot - start), rng, count_dtype)
        for start in starts
    )
    if n_boot * width < PIPELINE_ELEMENTS:
        chunks = [chunk_statistics(weights) for weights in draws]
    else:
        chunks = pipelined(draws, chunk_statistics)
    return [np.concatenate([c[i] for c in chunks], axis=0) for i in range(len(features))]


#: Above this many resample counts in all, one thread draws them while another sums them.
PIPELINE_ELEMENTS = 50_000_000


def pipelined(
    draws: Iterator[FloatArray], chunk_statistics: Callable[[FloatArray], list[FloatArray]]
) -> list[list[FloatArray]]:
    """The statistics of each chunk of resample counts, summed on a second thread while this
    one draws the next chunk: the draws come from one random stream in order (so they are
    the same as unpipelined), and the sums and statistics of a large bootstrap take about as
    long as the draws. At most two chunks are in flight, so memory stays at two chunks."""
    results: list[Future[list[FloatArray]]] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for weights in draws:
            if len(results) >= 2:
                results[-2].result()
            results.append(pool.submit(chunk_statistics, weights))
        return [result.result() for result in results]


def sums_exact_in_float32(f: sparse.csr_matrix, n_units: int) -> bool:
    """Whether every sum of resample counts times entries of f is an integer below 2**24."""
    data = f.data
    if data.size == 0:
        return True
    return bool(np.array_equal(data, np.round(data)) and n_units * np.abs(data).max() < 2**24)


def sparse_summation(
    features: Sequence[sparse.csr_matrix], dtype: type[np.floating]
) -> Callable[[npt.NDArray[Any]], list[FloatArray]]:
    """A function of (rounds x units) resample counts giving, for each (units x F) sparse
    feature matrix of the same units, its (F x rounds) sums in float64.

    Sums run as (features x units) @ (units x rounds), the sparse operand column-major: each
    unit's row of counts is read once, in order, and added to the rows of its features, and
    the sums come out row-major, so a statistic can reshape them per feature without a copy.
    When many rows of a matrix are identical (a team of annotators giving the same labels to
    many items), the counts are first summed over the units of each distinct row (one term
    per unit), then weighted by the distinct rows: the same integer sums at a fraction of
    the cost (see :func:`identical_rows`).  That first step of every matrix is one stacked
    product, so the counts are read once for all of them.  For it the units are put in the
    order of their first column in a matrix with repeated rows (a team's first pair, so a
    team's items come together) and the distinct rows numbered in that order: each unit's
    counts go to nearby rows instead of all over, which takes less than half the time.
    """
    n_units = features[0].shape[0]
    gathers = [distinct_row_gather(f) for f in features]
    lead = next((f for f, gather in zip(features, gathers, strict=True) if gather), None)
    order = None if lead is None else np.argsort(_first_columns(lead))
    position = np.arange(n_units)
    if order is not None:
        position[order] = np.arange(n_units)
    first_steps: list[sparse.csc_matrix] = []
    second_steps: list[sparse.csc_matrix | None] = []
    for f, gather in zip(features, gathers, strict=True):
        if gather is None:
            first_steps.append((f if order is None else f[order]).astype(dtype).T.tocsc())
            second_steps.append(None)
            continue
        units, group, distinct = gather
        # The distinct rows renumbered in the order of their first unit.
        first_position = np.full(distinct.shape[0], n_units)
        np.minimum.at(first_position, group, position[units])
        by_position = np.argsort(first_position)
        rank = np.empty_like(by_position)
        rank[by_position] = np.arange(len(by_position))
        first_steps.append(
            sparse.csc_matrix(
                (np.ones(len(units), dtype=dtype), (rank[group], position[units])),
                shape=(distinct.shape[0], n_units),
            )
        )
        second_steps.append(distinct[by_position].astype(dtype).T.tocsc())
    stacked = sparse.vstack(first_steps, format="csc")
    bounds = np.cumsum([0] + [step.shape[0] for step in first_steps])

    def summation(counts: npt.NDArray[Any]) -> list[FloatArray]:
        by_unit = np.ascontiguousarray(counts.T)
        if order is not None:
            by_unit = np.take(by_unit, order, axis=0)  # rows of bytes: cheaper than columns
        summed = stacked @ by_unit.astype(dtype, copy=False)
        return [
            (summed[lo:hi] if step is None else step @ summed[lo:hi]).astype(np.float64)
            for step, lo, hi in zip(second_steps, bounds[:-1], bounds[1:], strict=True)
        ]

    return summation


def distinct_row_gather(
    f: sparse.csr_matrix,
) -> tuple[IntArray, IntArray, sparse.csr_matrix] | None:
    """The units with a nonempty row, the distinct row of each and the distinct nonempty
    rows, when summing over distinct rows pays: one term per unit to gather, then one per
    entry of a distinct row, fewer than one per entry of every row."""
    groups = identical_rows(f)
    if groups is None:
        return None
    first, group = groups
    nonempty = np.flatnonzero(np.diff(f.indptr) > 0)
    distinct = f[first]
    keep = distinct.getnnz(axis=1) > 0
    if len(nonempty) + distinct.nnz >= f.nnz:
        return None
    renumber = np.cumsum(keep) - 1
    return nonempty, renumber[group[nonempty]], distinct[keep]


def _first_columns(f: sparse.csr_matrix) -> IntArray:
    """The column of each row's first entry (its smallest in canonical format), or the
    number of columns for an empty row."""
    lengths = np.diff(f.indptr)
    first = np.full(f.shape[0], f.shape[1], dtype=np.int64)
    first[lengths > 0] = f.indices[f.indptr[:-1][lengths > 0]]
    return first


_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _mix(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser: a cheap 64-bit hash of each element (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


def identical_rows(f: sparse.csr_matrix) -> tuple[IntArray, IntArray] | None:
    """Groups of identical rows of a sparse matrix: (first row of each group, group of each
    row), or None in the (astronomically unlikely) case of a hash collision.

    Each row is hashed as the wrapping sum of a hash of each (column, value) entry, the rows
    grouped by that key, and every row then compared entry by entry with its group's first:
    exact, at the cost of a few passes over the entries (np.unique(axis=0) on rows of
    different lengths would need padding and a much slower sort).
    """
    if not f.has_canonical_format:
        f = f.copy()
        f.sum_duplicates()
    n_rows = f.shape[0]
    lengths = np.diff(f.indptr)
    values = np.ascontiguousarray(f.data, dtype=np.float64).view(np.uint64)
    # Entries that all hold the same value (counts of one) hash by their column alone: one
    # hash per column, looked up, instead of one per entry (the same hashes).
    same_value = values.size > 0 and bool(np.all(values == values[0]))
    if same_value:
        entry = _mix(np.arange(f.shape[1], dtype=np.uint64) * _MIX_1 + values[0])[f.indices]
    else:
        entry = _mix(f.indices.astype(np.uint64) * _MIX_1 + values)
    nonempty = lengths > 0
    row_sum = np.zeros(n_rows, dtype=np.uint64)
    if entry.size:
        row_sum[nonempty] = np.add.reduceat(entry, f.indptr[:-1][nonempty])
    key = _mix(row_sum ^ lengths.astype(np.uint64))
    first, group, _ = unique_keys(key)
    leader = first[group]
    if not np.array_equal(lengths, lengths[leader]):
        return None
    theirs = np.arange(f.nnz) + np.repeat(f.indptr[leader] - f.indptr[:-1], lengths)
    if not np.array_equal(f.indices, f.indices[theirs]):
        return None
    if not same_value and not np.array_equal(f.data, f.data[theirs]):
        return None
    return first, group


def percentile_ci(samples: FloatArray) -> list[float | None]:
    """95% percentile interval ignoring undefined rounds; [None, None] if nothing is defined."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return [None, None]
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [float(lo), float(hi)]


def json_float(x: float) -> float | None:
    """A float for JSON: None where it is undefined (nan or infinite)."""
    return float(x) if np.isfinite(x) else None


def ci_entry(value: float, boot: FloatArray) -> dict[str, Any]:
    """A statistic as a report shows it: its value and 95% interval, None where undefined."""
    return {"value": json_float(value), "ci": percentile_ci(boot) if boot.size else [None, None]}
