"""Inter-annotator agreement on long-format ratings.

Every metric here is a function of per-item sufficient statistics (category counts per item,
per-item coincidence matrices, per-item rater-pair tables).  A bootstrap round that resamples
items is then only a *weighting* of items, so 1000 rounds are a few matrix products instead of
1000 re-runs.  Identical items (same count vector, or same row of ratings) are collapsed into
patterns first; resampling items is then exactly a multinomial draw over patterns.

Conventions (apply to every function in this module):

* Items with fewer than 2 ratings never count: they are dropped before any statistic, and the
  bootstrap resamples only the items with at least 2 ratings ("pairable" items).
* Categories are the distinct observed values unless ``Ratings.n_categories`` says how many
  categories the scale has (this only matters for Gwet's AC1, whose chance term uses it).
* Undefined values (e.g. kappa when chance agreement is 1) are ``nan`` from the scalar
  functions and ``None`` in :func:`agreement_report`, which is meant to be JSON-serialised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

__all__ = [
    "LEVELS",
    "MAX_CATEGORIES",
    "Level",
    "Ratings",
    "agreement_report",
    "annotator_agreement",
    "as_ratings",
    "cohen_kappa_mean",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "majority_agreement",
    "percent_agreement",
]

Level = Literal["nominal", "ordinal", "interval"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval")

#: Above this many distinct values the data is treated as continuous: only interval alpha is
#: defined (via moments); category-count metrics would need an items x categories table.
MAX_CATEGORIES = 50

#: Bootstrap chunks are sized so that one chunk's weight matrix has about this many entries.
_CHUNK_ELEMENTS = 4_000_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# --------------------------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Ratings:
    """Judgments in long format: ``annotator[k]`` gave ``value[k]`` to ``item[k]``.

    This is the primary input because it is what a database returns, and it stays small when
    thousands of annotators each rate a few items (a dense matrix would be mostly missing).
    ``item`` and ``annotator`` are any non-negative integer ids (e.g. primary keys); they are
    compacted internally.  ``value`` holds category codes (ints) or numbers (floats); rows
    whose value is ``nan`` are dropped.  Each (item, annotator) pair may appear only once.
    """

    item: npt.NDArray[np.integer]
    annotator: npt.NDArray[np.integer]
    value: npt.NDArray[Any]
    n_categories: int | None = None

    def __post_init__(self) -> None:
        item = _as_int_array(self.item, "item")
        annotator = _as_int_array(self.annotator, "annotator")
        value = np.asarray(self.value)
        if value.ndim != 1:
            raise ValueError("value must be 1-D")
        if value.size == 0:
            value = value.astype(np.int64)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"value must be numeric, got dtype {value.dtype}")
        if not (len(item) == len(annotator) == len(value)):
            raise ValueError("item, annotator and value must have the same length")
        if value.dtype.kind == "f":
            keep = ~np.isnan(value)
            if not keep.all():
                item, annotator, value = item[keep], annotator[keep], value[keep]
        if len(item) and (item.min() < 0 or annotator.min() < 0):
            raise ValueError("item and annotator ids must be non-negative")
        if self.n_categories is not None and self.n_categories < 1:
            raise ValueError("n_categories must be positive")
        object.__setattr__(self, "item", item)
        object.__setattr__(self, "annotator", annotator)
        object.__setattr__(self, "value", value)

    def __len__(self) -> int:
        return len(self.item)

    @classmethod
    def from_matrix(cls, data: npt.ArrayLike, n_categories: int | None = None) -> Ratings:
        """Convert a dense (n_items, n_annotators) reliability matrix to long format.

        Missing ratings are negative entries of an integer matrix or ``nan`` in a float
        matrix.  Row numbers become item ids and column numbers annotator ids.
        """
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise ValueError("reliability data must be 2-D (n_items, n_annotators)")
        if arr.dtype.kind == "f":
            present = ~np.isnan(arr)
        elif arr.dtype.kind in "iu":
            present = arr >= 0
        elif arr.dtype.kind == "b":
            present = np.ones(arr.shape, dtype=bool)
        else:
            raise TypeError(f"reliability data must be numeric, got dtype {arr.dtype}")
        item, annotator = np.nonzero(present)
        return cls(item, annotator, arr[item, annotator], n_categories)

    @cached_property
    def _prepared(self) -> _Prepared:
        return _Prepared.build(self)


def as_ratings(data: Ratings | npt.ArrayLike) -> Ratings:
    """Accept :class:`Ratings` or a dense reliability matrix (see ``Ratings.from_matrix``)."""
    return data if isinstance(data, Ratings) else Ratings.from_matrix(data)


def _as_int_array(x: npt.ArrayLike, name: str) -> IntArray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _compact(ids: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], IntArray]:
    """Sorted distinct values and the index of each element among them (np.unique, faster).

    Database ids and category codes are small non-negative integers, so a presence table
    (O(n + max)) replaces the O(n log n) sort whenever the range is modest.
    """
    if ids.size and ids.dtype.kind in "iu":
        lo, hi = int(ids.min()), int(ids.max())
        if hi - lo <= 4 * ids.size + 1_000_000:
            shifted = ids - lo
            present = np.bincount(shifted, minlength=hi - lo + 1) > 0
            index = np.cumsum(present) - 1
            return np.flatnonzero(present) + lo, index[shifted]
    uniq, inverse = np.unique(ids, return_inverse=True)
    return uniq, inverse.reshape(-1).astype(np.int64)


def _unique_rows(rows: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Distinct rows of a small non-negative int matrix: (first index, inverse, counts).

    Rows are encoded as one int64 (base = max + 1) when that fits, which is much faster than
    ``np.unique(axis=0)``.
    """
    base = int(rows.max()) + 1 if rows.size else 1
    if rows.shape[1] * np.log2(max(base, 2)) < 62:
        key = rows.astype(np.int64) @ (base ** np.arange(rows.shape[1], dtype=np.int64))
        _, first, inverse, counts = np.unique(
            key, return_index=True, return_inverse=True, return_counts=True
        )
    else:
        _, first, inverse, counts = np.unique(
            rows, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
    return first, inverse.reshape(-1), counts


@dataclass(frozen=True, eq=False)
class _Prepared:
    """Compacted codes and per-item counts shared by all metrics (built once per Ratings)."""

    item: IntArray  # compact item code per rating, 0..n_items-1
    annotator: IntArray  # compact annotator code per rating
    code: IntArray  # category code per rating, 0..n_values-1 (index into `domain`)
    raw: FloatArray  # value as float
    item_ids: npt.NDArray[np.int64]
    annotator_ids: npt.NDArray[np.int64]
    domain: FloatArray  # sorted distinct values
    n_per_item: IntArray
    n_categories: int  # the q of Gwet's AC1: declared scale size or distinct observed values
    order: IntArray  # permutation sorting ratings by (item, annotator)

    @classmethod
    def build(cls, r: Ratings) -> _Prepared:
        item_ids, item = _compact(r.item)
        annotator_ids, annotator = _compact(r.annotator)
        value = r.value
        # Integral floats (a matrix with nan for missing) become ints for the fast compaction.
        if (
            value.dtype.kind == "f"
            and value.size
            and np.array_equal(value, np.round(value))
            and np.abs(value).max() < 2**53
        ):
            value = value.astype(np.int64)
        domain, code = _compact(value)
        # Ratings sorted by (item, annotator): needed for rater pairs and to find duplicates.
        key = item * len(annotator_ids) + annotator
        step = np.diff(key)
        if np.all(step > 0):
            order = np.arange(len(key))
        else:
            order = np.argsort(key, kind="stable")
            if np.any(np.diff(key[order]) == 0):
                raise ValueError("an annotator rated the same item more than once")
        n_values = len(domain)
        if r.n_categories is not None and r.n_categories < n_values:
            raise ValueError(
                f"n_categories={r.n_categories} but {n_values} distinct values were observed"
            )
        return cls(
            item=item,
            annotator=annotator,
            code=code,
            raw=r.value.astype(np.float64),
            item_ids=item_ids,
            annotator_ids=annotator_ids,
            domain=domain.astype(np.float64),
            n_per_item=np.bincount(item, minlength=len(item_ids)),
            n_categories=r.n_categories or n_values,
            order=order,
        )

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_annotators(self) -> int:
        return len(self.annotator_ids)

    @property
    def n_values(self) -> int:
        return len(self.domain)

    @property
    def categorical(self) -> bool:
        return self.n_values <= MAX_CATEGORIES

    @cached_property
    def pairable(self) -> npt.NDArray[np.bool_]:
        """Items with at least two ratings: the only ones any metric counts."""
        return self.n_per_item >= 2

    @cached_property
    def counts(self) -> IntArray:
        """(n_items, n_values) number of ratings of each category per item."""
        self.require_categorical()
        k = self.n_values
        flat = np.bincount(self.item * k + self.code, minlength=self.n_items * k)
        return flat.reshape(self.n_items, k)

    def require_categorical(self) -> None:
        if not self.categorical:
            raise ValueError(
                f"{self.n_values} distinct values: category metrics need at most "
                f"{MAX_CATEGORIES} categories (use krippendorff_alpha(..., 'interval'))"
            )


# --------------------------------------------------------------------------------------------
# Bootstrap machinery
# --------------------------------------------------------------------------------------------


def _resample_counts(
    multiplicity: IntArray, n_units: int, rounds: int, rng: np.random.Generator
) -> FloatArray:
    """(rounds, P) counts of the P patterns in ``rounds`` draws of ``n_units`` units with
    replacement, where the patterns hold ``multiplicity.sum() <= n_units`` of the units.

    The other units carry no statistics, so only how many draws land on the patterns
    matters: Binomial(n_units, covered / n_units) of them, each uniform over the covered
    units.  That is exactly the item bootstrap, at a cost that grows with the covered units
    only (a sample of 1,000 annotator pairs covers a tenth of a crowd's items).
    """
    n_patterns = len(multiplicity)
    covered = int(multiplicity.sum())
    # A multinomial costs a binomial draw per pattern, a uniform draw about a tenth of that.
    if 16 * (n_patterns + 1) <= covered:
        rest = [n_units - covered] if covered < n_units else []
        p = np.append(multiplicity, rest) / n_units
        return rng.multinomial(n_units, p, size=rounds)[:, :n_patterns].astype(np.float64)
    landed = rng.binomial(n_units, covered / n_units, size=rounds)
    draws = rng.integers(0, covered, size=int(landed.sum()))
    if n_patterns != covered:
        draws = np.repeat(np.arange(n_patterns), multiplicity)[draws]
    bounds = np.concatenate([[0], np.cumsum(landed)])
    weights = np.empty((rounds, n_patterns))
    for row in range(rounds):  # one round at a time: the counts stay in cache (4x faster)
        weights[row] = np.bincount(draws[bounds[row] : bounds[row + 1]], minlength=n_patterns)
    return weights


def _bootstrap(
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
    :func:`_resample_counts`); patterns whose statistics are all zero add nothing to a sum,
    so they are only counted, never drawn.  ``statistic`` maps a (b, n_features) block of
    sums to a (b, n_stats) block.
    """
    n_features = features.shape[1]
    n_units = int(multiplicity.sum())
    if n_boot <= 0 or n_units == 0:
        return np.empty((0, 0))
    if sparse.issparse(features):
        features = sparse.csr_matrix(features)
        carries = features.getnnz(axis=1) > 0
    else:
        carries = np.any(features != 0, axis=1)
    if not carries.all():
        features, multiplicity = features[carries], multiplicity[carries]
    width = max(len(multiplicity), int(multiplicity.sum()), n_features, 1)
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // width))
    blocks = []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        weights = _resample_counts(multiplicity, n_units, b, rng)
        if sparse.issparse(features):
            sums = np.asarray((features.T @ weights.T).T)
        else:
            sums = weights @ features
        blocks.append(statistic(sums))
    return np.concatenate(blocks, axis=0)


def _percentile_ci(samples: FloatArray) -> list[float | None]:
    """95% percentile interval ignoring undefined rounds; [None, None] if nothing is defined."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return [None, None]
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [float(lo), float(hi)]


def _json_float(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


# --------------------------------------------------------------------------------------------
# Category-count metrics: Krippendorff's alpha, Fleiss' kappa, Gwet's AC1, percent agreement
# --------------------------------------------------------------------------------------------


def _count_patterns(prep: _Prepared) -> tuple[IntArray, IntArray]:
    """Distinct count vectors among pairable items and how many items have each."""
    counts = prep.counts[prep.pairable]
    if len(counts) == 0:
        return np.zeros((0, prep.n_values), dtype=np.int64), np.zeros(0, dtype=np.int64)
    first, _, multiplicity = _unique_rows(counts)
    return counts[first], multiplicity


def _count_features(patterns: IntArray) -> FloatArray:
    """Per-item sufficient statistics, one row per count pattern.

    Columns: [1, pairwise agreement P_i, category shares n_ik/m_i (K), coincidences (K*K)],
    where the coincidence matrix of an item is (n n^T - diag n) / (m - 1) (Krippendorff).
    """
    n = patterns.astype(np.float64)
    m = n.sum(axis=1)
    k = n.shape[1]
    agree = (n * (n - 1)).sum(axis=1) / (m * (m - 1))
    share = n / m[:, None]
    coinc = (n[:, :, None] * n[:, None, :] - n[:, :, None] * np.eye(k)) / (m - 1)[:, None, None]
    return np.column_stack([np.ones(len(n)), agree, share, coinc.reshape(len(n), k * k)])


def _ordinal_distance(n_v: FloatArray) -> FloatArray:
    """Krippendorff's ordinal metric from value frequencies, batched: (B, K) -> (B, K, K)."""
    k = n_v.shape[-1]
    cum = np.cumsum(n_v, axis=-1)
    idx = np.arange(k)
    lo = np.minimum(idx[:, None], idx[None, :])
    hi = np.maximum(idx[:, None], idx[None, :])
    between = cum[..., hi] - cum[..., lo] + n_v[..., lo]
    return (between - (n_v[..., :, None] + n_v[..., None, :]) / 2) ** 2


def _alpha_from_coincidences(o: FloatArray, domain: FloatArray, level: str) -> FloatArray:
    """Krippendorff's alpha from coincidence matrices, batched: (B, K, K) -> (B,)."""
    n_v = o.sum(axis=-1)
    n = n_v.sum(axis=-1)
    if level == "nominal":
        d = np.broadcast_to(1.0 - np.eye(len(domain)), o.shape)
    elif level == "interval":
        d = np.broadcast_to((domain[:, None] - domain[None, :]) ** 2, o.shape)
    else:
        d = _ordinal_distance(n_v)
    observed = (o * d).sum(axis=(-2, -1))
    expected = (n_v[..., :, None] * n_v[..., None, :] * d).sum(axis=(-2, -1)) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - observed / expected


def _count_statistics(sums: FloatArray, prep: _Prepared, level: str) -> FloatArray:
    """(B, F) feature sums -> (B, 4): alpha, Fleiss' kappa, Gwet's AC1, percent agreement.

    With item-level chance terms pi_k = mean over items of n_ik / m_i, as in Gwet (2014) for
    variable raters per item; on complete data this is exactly Fleiss (1971).
    """
    k = prep.n_values
    q = prep.n_categories
    with np.errstate(divide="ignore", invalid="ignore"):
        n_items = sums[:, 0]
        pa = sums[:, 1] / n_items
        pi = sums[:, 2 : 2 + k] / n_items[:, None]
        o = sums[:, 2 + k :].reshape(-1, k, k)
        pe_fleiss = (pi**2).sum(axis=1)
        fleiss = (pa - pe_fleiss) / (1 - pe_fleiss)
        pe_gwet = (pi * (1 - pi)).sum(axis=1) / (q - 1) if q > 1 else np.full_like(pa, np.nan)
        ac1 = (pa - pe_gwet) / (1 - pe_gwet)
        alpha = _alpha_from_coincidences(o, prep.domain, level)
    out = np.column_stack([alpha, fleiss, ac1, pa])
    out[~np.isfinite(out)] = np.nan
    return out


def _count_point(prep: _Prepared, level: str) -> FloatArray:
    patterns, multiplicity = _count_patterns(prep)
    if len(patterns) == 0:
        return np.full(4, np.nan)
    sums = multiplicity.astype(np.float64) @ _count_features(patterns)
    return _count_statistics(sums[None, :], prep, level)[0]


def _interval_moments(prep: _Prepared) -> FloatArray:
    """Per pairable item [1, m, sum v, sum v^2, observed disagreement] on centred values.

    Interval alpha only needs these: with n pairable values, D_e * (n - 1) = 2 n S2 - 2 S1^2,
    so continuous ratings need no items x values table.
    """
    keep = prep.pairable[prep.item]
    item = prep.item[keep]
    v = prep.raw[keep]
    v = v - v.mean() if v.size else v
    rows = np.flatnonzero(prep.pairable)
    size = prep.n_items
    m = np.bincount(item, minlength=size)[rows].astype(np.float64)
    s1 = np.bincount(item, weights=v, minlength=size)[rows]
    s2 = np.bincount(item, weights=v * v, minlength=size)[rows]
    observed = (2 * m * s2 - 2 * s1 * s1) / (m - 1)
    return np.column_stack([np.ones_like(m), m, s1, s2, observed])


def _interval_alpha_from_moments(sums: FloatArray) -> FloatArray:
    n, s1, s2, observed = sums[:, 1], sums[:, 2], sums[:, 3], sums[:, 4]
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1) * observed / (2 * n * s2 - 2 * s1 * s1)
    alpha[~np.isfinite(alpha)] = np.nan
    return alpha[:, None]


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def krippendorff_alpha(data: Ratings | npt.ArrayLike, level: Level = "nominal") -> float:
    """Krippendorff's alpha (nominal, ordinal or interval), missing ratings allowed.

    Same definition as Krippendorff (2011) and the ``krippendorff`` package: values are
    pairable only within items rated at least twice; ordinal distances use the ranks of the
    observed values; interval distances use the values themselves.
    """
    _check_level(level)
    prep = as_ratings(data)._prepared
    if prep.categorical:
        return float(_count_point(prep, level)[0])
    if level != "interval":
        prep.require_categorical()
    moments = _interval_moments(prep)
    return float(_interval_alpha_from_moments(moments.sum(axis=0, keepdims=True))[0, 0])


def fleiss_kappa(data: Ratings | npt.ArrayLike) -> float:
    """Fleiss' kappa, generalised to a varying number of ratings per item.

    Observed agreement is the mean over items of the share of agreeing rater pairs; chance
    agreement is sum_k pi_k^2 with pi_k the mean over items of the share of ratings in
    category k (Gwet 2014, ch. 2 and 5).  On complete data this is Fleiss (1971) exactly.
    """
    return float(_count_point(as_ratings(data)._prepared, "nominal")[1])


def gwet_ac1(data: Ratings | npt.ArrayLike) -> float:
    """Gwet's AC1 for several raters with missing ratings (Gwet 2008; 2014, ch. 5).

    pe = sum_k pi_k (1 - pi_k) / (q - 1) with q = ``Ratings.n_categories`` or the number of
    observed categories.  Deviation from Gwet: pi_k is averaged over items rated at least
    twice only (Gwet also uses single-rated items), so every metric here sees the same items.
    """
    return float(_count_point(as_ratings(data)._prepared, "nominal")[2])


def percent_agreement(data: Ratings | npt.ArrayLike) -> float:
    """Mean over items (rated at least twice) of the share of rater pairs that agree."""
    return float(_count_point(as_ratings(data)._prepared, "nominal")[3])


# --------------------------------------------------------------------------------------------
# Cohen's kappa averaged over annotator pairs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PairTables:
    """Rater-pair contingency cells for pairs sharing at least ``min_shared`` items."""

    n_pairs: int  # qualifying pairs
    k: int
    obs_row: IntArray  # pairable-item row of each pair observation
    obs_cell: IntArray  # pair * k * k + code_a * k + code_b


def _pair_tables(prep: _Prepared, min_shared: int) -> _PairTables:
    k = prep.n_values
    order = prep.order
    item, annotator, code = prep.item[order], prep.annotator[order], prep.code[order]
    # Every pair of ratings on the same item: within an item the ratings are contiguous and
    # sorted by annotator, so pair (j, j + d) lies within one item iff item[j] == item[j + d].
    firsts, seconds = [], []
    active = np.arange(len(item) - 1)
    d = 1
    while active.size:
        active = active[active + d < len(item)]
        active = active[item[active + d] == item[active]]
        firsts.append(active)
        seconds.append(active + d)
        d += 1
    first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    second = np.concatenate(seconds) if seconds else np.zeros(0, np.int64)
    pair_key = annotator[first] * prep.n_annotators + annotator[second]
    _, pair = _compact(pair_key)
    shared = np.bincount(pair)
    qualifies = shared >= min_shared
    new_index = np.cumsum(qualifies) - 1
    keep = qualifies[pair]
    first, second, pair = first[keep], second[keep], new_index[pair[keep]]
    row_of_item = np.cumsum(prep.pairable) - 1
    return _PairTables(
        n_pairs=int(qualifies.sum()),
        k=k,
        obs_row=row_of_item[item[first]],
        obs_cell=pair * k * k + code[first] * k + code[second],
    )


def _cohen_from_tables(tables: FloatArray, n_pairs: int, k: int, min_shared: int) -> FloatArray:
    """(B, n_pairs * k * k) cell counts -> (B, 1) mean Cohen's kappa over defined pairs."""
    t = tables.reshape(len(tables), n_pairs, k, k)
    n = t.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        po = np.trace(t, axis1=-2, axis2=-1) / n
        pe = (t.sum(axis=-1) * t.sum(axis=-2)).sum(axis=-1) / (n * n)
        kappa = (po - pe) / (1 - pe)
        valid = (n >= min_shared) & (pe < 1 - 1e-12)
        mean = np.where(valid, kappa, 0).sum(axis=1) / valid.sum(axis=1)
    mean[~np.isfinite(mean)] = np.nan
    return mean[:, None]


def _cohen_point(tables: _PairTables, min_shared: int) -> float:
    if tables.n_pairs == 0:
        return float("nan")
    size = tables.n_pairs * tables.k * tables.k
    cells = np.bincount(tables.obs_cell, minlength=size).astype(np.float64)
    return float(_cohen_from_tables(cells[None, :], tables.n_pairs, tables.k, min_shared)[0, 0])


MAX_BOOTSTRAP_PAIRS = 1000


def _sample_pairs(tables: _PairTables, n: int, rng: np.random.Generator) -> _PairTables:
    """The pair tables restricted to n pairs drawn at random, renumbered 0..n-1."""
    chosen = np.sort(rng.choice(tables.n_pairs, size=n, replace=False))
    cell_size = tables.k * tables.k
    pair = tables.obs_cell // cell_size
    keep = np.isin(pair, chosen)
    renumber = np.full(tables.n_pairs, -1, dtype=np.int64)
    renumber[chosen] = np.arange(n)
    return _PairTables(
        n_pairs=n,
        k=tables.k,
        obs_row=tables.obs_row[keep],
        obs_cell=renumber[pair[keep]] * cell_size + tables.obs_cell[keep] % cell_size,
    )


def _cohen_bootstrap(
    prep: _Prepared, tables: _PairTables, min_shared: int, n_boot: int, rng: np.random.Generator
) -> FloatArray:
    """Bootstrap of mean pairwise kappa by resampling pairable items.

    Each item contributes a sparse row of pair-cell counts.  With few annotators, items with
    identical rows of ratings are collapsed into patterns (at most (K+1)^A of them), which
    makes this as cheap as the count metrics.  Approximation: only pairs sharing
    ``min_shared`` items in the full data are tracked; the threshold is re-applied in each
    round (so such a pair can drop out), but a pair below it in the full data that reaches it
    in a round through duplicated items is not added.  Exact when every pair qualifies (a
    fixed panel of annotators); with crowds of annotators overlapping on a handful of items,
    per-pair kappas are unstable and Krippendorff's alpha is the metric to read.
    """
    n_rows = int(prep.pairable.sum())
    if tables.n_pairs == 0 or n_boot <= 0:
        return np.full(max(n_boot, 0), np.nan)
    if tables.n_pairs > MAX_BOOTSTRAP_PAIRS:
        # The work grows with rounds x pairs x k^2: with a crowd (10^5 annotator pairs) the
        # spread is bootstrapped on a fixed random sample of pairs and centred on the
        # estimate over all pairs (per-pair kappas on a few shared items are biased under
        # resampling, so the sample's own centre is not used).
        full = _cohen_point(tables, min_shared)
        sample = _sample_pairs(tables, MAX_BOOTSTRAP_PAIRS, rng)
        boot = _cohen_bootstrap(prep, sample, min_shared, n_boot, rng)
        if np.isnan(full) or np.all(np.isnan(boot)):
            return boot
        return boot - np.nanmedian(boot) + full
    size = tables.n_pairs * tables.k * tables.k
    x = sparse.csr_matrix(
        (np.ones(len(tables.obs_row)), (tables.obs_row, tables.obs_cell)), shape=(n_rows, size)
    )
    multiplicity = np.ones(n_rows, dtype=np.int64)
    # A row of ratings fits one int64 key only for few annotators; with many, rows are
    # (nearly) all distinct anyway, so the items themselves are resampled.
    if prep.n_annotators * np.log2(tables.k + 1) < 62:
        keep = prep.pairable[prep.item]
        dense = np.zeros((n_rows, prep.n_annotators), dtype=np.int16)
        row_of_item = np.cumsum(prep.pairable) - 1
        dense[row_of_item[prep.item[keep]], prep.annotator[keep]] = prep.code[keep] + 1
        first, _, multiplicity = _unique_rows(dense)
        x = x[first]

    def statistic(sums: FloatArray) -> FloatArray:
        return _cohen_from_tables(sums, tables.n_pairs, tables.k, min_shared)

    return _bootstrap(x, multiplicity, n_boot, rng, statistic)[:, 0]


def cohen_kappa_mean(data: Ratings | npt.ArrayLike, min_shared: int = 5) -> float:
    """Mean over annotator pairs of Cohen's kappa on the items both rated.

    Pairs sharing fewer than ``min_shared`` items, or whose kappa is undefined (chance
    agreement 1, e.g. both always chose the same single category), are skipped.
    """
    prep = as_ratings(data)._prepared
    prep.require_categorical()
    return _cohen_point(_pair_tables(prep, min_shared), min_shared)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def agreement_report(
    data: Ratings | npt.ArrayLike,
    level: Level = "nominal",
    n_boot: int = 1000,
    seed: int = 0,
    *,
    min_shared: int = 5,
) -> dict[str, Any]:
    """All agreement metrics with bootstrap 95% percentile intervals (items resampled).

    Returns ``{"n_items", "n_items_pairable", "n_annotators", "n_judgments", "n_boot",
    "krippendorff_alpha": {"value", "ci", "level"}, "fleiss_kappa": {"value", "ci"},
    "cohen_kappa_mean": {"value", "ci", "n_pairs"}, "gwet_ac1": {...},
    "percent_agreement": {...}}``; values are floats or None when undefined.  Cohen's
    kappa is bootstrapped with its own item resample from the same generator; each interval
    is marginal, so this does not matter.  With more than ``MAX_CATEGORIES`` distinct values
    (continuous interval data) only alpha is computed.
    """
    _check_level(level)
    prep = as_ratings(data)._prepared
    rng = np.random.default_rng(seed)
    n_boot = max(int(n_boot), 0)

    def entry(value: float, boot: FloatArray) -> dict[str, Any]:
        ci = _percentile_ci(boot) if boot.size else [None, None]
        return {"value": _json_float(value), "ci": ci}

    report: dict[str, Any] = {
        "n_items": prep.n_items,
        "n_items_pairable": int(prep.pairable.sum()),
        "n_annotators": prep.n_annotators,
        "n_judgments": len(prep.item),
        "n_boot": n_boot,
    }
    undefined = entry(float("nan"), np.empty(0))
    if prep.categorical:
        patterns, multiplicity = _count_patterns(prep)
        if len(patterns):
            features = _count_features(patterns)
            point = _count_statistics((multiplicity @ features)[None, :], prep, level)[0]
            boot = _bootstrap(
                features,
                multiplicity,
                n_boot,
                rng,
                lambda s: _count_statistics(s, prep, level),
            )
        else:
            point, boot = np.full(4, np.nan), np.empty((0, 4))
        if boot.size == 0:
            boot = np.empty((0, 4))
        names = ["krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement"]
        for j, name in enumerate(names):
            report[name] = entry(point[j], boot[:, j])
        tables = _pair_tables(prep, min_shared)
        cohen = entry(
            _cohen_point(tables, min_shared),
            _cohen_bootstrap(prep, tables, min_shared, n_boot, rng),
        )
        report["cohen_kappa_mean"] = {**cohen, "n_pairs": tables.n_pairs}
    else:
        if level != "interval":
            prep.require_categorical()
        moments = _interval_moments(prep)
        point = _interval_alpha_from_moments(moments.sum(axis=0, keepdims=True))[0, 0]
        boot = _bootstrap(
            moments, np.ones(len(moments), np.int64), n_boot, rng, _interval_alpha_from_moments
        )
        report["krippendorff_alpha"] = entry(point, boot[:, 0] if boot.size else boot)
        for name in ["fleiss_kappa", "gwet_ac1", "percent_agreement"]:
            report[name] = dict(undefined)
        report["cohen_kappa_mean"] = {**undefined, "n_pairs": 0}
    report["krippendorff_alpha"]["level"] = level
    order = [
        "n_items",
        "n_items_pairable",
        "n_annotators",
        "n_judgments",
        "n_boot",
        "krippendorff_alpha",
        "fleiss_kappa",
        "cohen_kappa_mean",
        "gwet_ac1",
        "percent_agreement",
    ]
    return {key: report[key] for key in order}


# --------------------------------------------------------------------------------------------
# Per-annotator and judge-vs-humans agreement
# --------------------------------------------------------------------------------------------


def _plurality(counts: IntArray) -> tuple[IntArray, IntArray]:
    """Row-wise unique argmax (-1 when the top count is tied or the row is empty), and top."""
    if counts.shape[1] == 0:
        return np.full(len(counts), -1), np.zeros(len(counts), np.int64)
    top = counts.max(axis=1)
    unique = ((counts == top[:, None]).sum(axis=1) == 1) & (top > 0)
    return np.where(unique, counts.argmax(axis=1), -1), top


def annotator_agreement(data: Ratings | npt.ArrayLike) -> list[dict[str, Any]]:
    """Leave-one-out agreement of each annotator with the other annotators' majority.

    For each rating, the other ratings of that item are tallied; the rating agrees if it
    equals their unique plurality category.  Ratings whose item has no other rating, or whose
    other ratings tie for the top, are not counted.  Returns one dict per annotator, sorted by
    id: ``{"annotator": id, "agreement": share or None, "n": ratings counted,
    "n_ratings": all ratings by that annotator}``.
    """
    prep = as_ratings(data)._prepared
    counts = prep.counts.astype(np.int32)
    others = counts[prep.item]
    others[np.arange(len(prep.code)), prep.code] -= 1
    majority, _ = _plurality(others)
    counted = majority >= 0
    agrees = counted & (majority == prep.code)
    size = prep.n_annotators
    n = np.bincount(prep.annotator, weights=counted, minlength=size).astype(np.int64)
    hits = np.bincount(prep.annotator, weights=agrees, minlength=size)
    total = np.bincount(prep.annotator, minlength=size)
    return [
        {
            "annotator": int(prep.annotator_ids[a]),
            "agreement": float(hits[a] / n[a]) if n[a] else None,
            "n": int(n[a]),
            "n_ratings": int(total[a]),
        }
        for a in range(size)
    ]


def majority_agreement(
    reference_ratings: Ratings | npt.ArrayLike,
    judge_ratings: Ratings | npt.ArrayLike,
    *,
    min_reference_ratings: int = 2,
) -> dict[str, Any]:
    """Agreement of a judge (e.g. an LLM judge) with the reference (human) majority per item.

    The reference label of an item is the unique plurality of its reference ratings, for items
    with at least ``min_reference_ratings`` of them; items whose top categories tie are skipped.
    Items are matched by id and values compared for equality.  Several judges (annotator ids
    in ``judge_ratings``) are pooled in "agreement" and broken down in "by_judge".

    Returns ``{"agreement": share or None, "n": judge ratings compared,
    "n_no_majority": judge ratings on tied items, "n_unmatched": judge ratings on items with
    too few reference ratings, "by_judge": [{"annotator", "agreement", "n"}, ...]}``.
    """
    ref = as_ratings(reference_ratings)
    judge = as_ratings(judge_ratings)
    domain, codes = np.unique(np.concatenate([ref.value, judge.value]), return_inverse=True)
    codes = codes.reshape(-1)
    k = len(domain)
    ref_code, judge_code = codes[: len(ref)], codes[len(ref) :]
    if k > MAX_CATEGORIES:
        raise ValueError(f"{k} distinct values: majority needs at most {MAX_CATEGORIES}")
    ref_ids, ref_item = np.unique(ref.item, return_inverse=True)
    ref_item = ref_item.reshape(-1)
    counts = np.bincount(ref_item * k + ref_code, minlength=len(ref_ids) * k)
    counts = counts.reshape(len(ref_ids), k)
    majority, _ = _plurality(counts)
    enough = counts.sum(axis=1) >= max(min_reference_ratings, 1)

    if len(ref_ids):
        pos = np.minimum(np.searchsorted(ref_ids, judge.item), len(ref_ids) - 1)
        matched = (ref_ids[pos] == judge.item) & enough[pos]
        label = np.where(matched, majority[pos], -1)
    else:
        matched = np.zeros(len(judge), dtype=bool)
        label = np.full(len(judge), -1)
    compared = matched & (label >= 0)
    agrees = compared & (label == judge_code)

    judge_ids, judge_index = np.unique(judge.annotator, return_inverse=True)
    judge_index = judge_index.reshape(-1)
    n_j = np.bincount(judge_index, weights=compared, minlength=len(judge_ids)).astype(np.int64)
    hits_j = np.bincount(judge_index, weights=agrees, minlength=len(judge_ids))
    n = int(compared.sum())
    return {
        "agreement": float(agrees.sum() / n) if n else None,
        "n": n,
        "n_no_majority": int((matched & (label < 0)).sum()),
        "n_unmatched": int((~matched).sum()),
        "by_judge": [
            {
                "annotator": int(judge_ids[j]),
                "agreement": float(hits_j[j] / n_j[j]) if n_j[j] else None,
                "n": int(n_j[j]),
            }
            for j in range(len(judge_ids))
        ],
    }
