"""Inter-annotator agreement on long-format ratings.

Every metric here is a function of per-item sufficient statistics (category counts per item,
per-item coincidence matrices, per-item rater-pair tables).  A bootstrap round that resamples
items is then only a *weighting* of items, so 1000 rounds are a few matrix products instead of
1000 re-runs.  Identical items (same count vector, or same row of ratings) are collapsed into
patterns first; resampling items is then exactly a multinomial draw over patterns.  That
engine is annotation.stats.resampling; this module holds the metrics and their sufficient
statistics.

Conventions (apply to every function in this module):

* Items with fewer than 2 ratings never count: they are dropped before any statistic, and the
  bootstrap resamples only the items with at least 2 ratings ("pairable" items).
* Categories are the distinct observed values unless ``Ratings.n_categories`` says how many
  categories the scale has (this only matters for Gwet's AC1, whose chance term uses it).
* Undefined values (e.g. kappa when chance agreement is 1) are ``nan`` from the scalar
  functions and ``None`` in :func:`agreement_report`, which is meant to be JSON-serialised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from annotation.stats.resampling import (
    FloatArray,
    IntArray,
    bootstrap,
    bootstrap_together,
    ci_entry,
    unique_keys,
)

__all__ = [
    "LEVELS",
    "MAX_BOOTSTRAP_PAIRS",
    "MAX_CATEGORIES",
    "Level",
    "PairTables",
    "PreparedRatings",
    "Ratings",
    "agreement_report",
    "agreement_reports",
    "alpha_from_coincidences",
    "annotator_agreement",
    "as_ratings",
    "cohen_from_tables",
    "cohen_kappa_mean",
    "count_features",
    "count_statistics",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "majority_agreement",
    "pair_tables",
    "percent_agreement",
    "reference_agreement",
    "tables_by_row",
]

Level = Literal["nominal", "ordinal", "interval"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval")

#: Above this many distinct values the data is treated as continuous: only interval alpha is
#: defined (via moments); category-count metrics would need an items x categories table.
MAX_CATEGORIES = 50


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
    def prepared(self) -> PreparedRatings:
        """Compacted ids and category codes: what every metric starts from, built once."""
        return PreparedRatings.build(self)


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
        return unique_keys(key)
    _, first, inverse, counts = np.unique(
        rows, axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    return first, inverse.reshape(-1), counts


@dataclass(frozen=True)
class _RatingPairs:
    """Every pair of ratings of one item by an annotator pair sharing ``min_shared`` items:
    positions of the two ratings in (item, annotator) order, the annotator pair (numbered
    0..n_pairs-1) and the pairable-item row of the item.  They come item by item and, within
    an item, by pair, so pair cells can be laid out in rows without a sort."""

    n_pairs: int
    first: IntArray
    second: IntArray
    pair: IntArray
    row: IntArray


@dataclass(frozen=True, eq=False)
class _Layout:
    """Who rated which item, whatever the values: compacted ids, the (item, annotator) order
    and the pairs of ratings of an item.  Ratings of the same rows (one per criterion of the
    same judgments) share one, so this work is done once for all of them."""

    source_item: npt.NDArray[np.integer]  # the Ratings' own arrays, to recognise them
    source_annotator: npt.NDArray[np.integer]
    item: IntArray  # compact item code per rating, 0..n_items-1
    annotator: IntArray  # compact annotator code per rating
    item_ids: npt.NDArray[np.int64]
    annotator_ids: npt.NDArray[np.int64]
    n_per_item: IntArray
    order: IntArray  # permutation sorting ratings by (item, annotator)
    rating_pairs_by_overlap: dict[int, _RatingPairs] = field(default_factory=dict)

    @classmethod
    def build(cls, r: Ratings) -> _Layout:
        item_ids, item = _compact(r.item)
        annotator_ids, annotator = _compact(r.annotator)
        # Ratings sorted by (item, annotator): needed for rater pairs and to find duplicates.
        key = item * len(annotator_ids) + annotator
        if np.all(np.diff(key) > 0):
            order = np.arange(len(key))
        else:
            order = np.argsort(key, kind="stable")
            if np.any(np.diff(key[order]) == 0):
                raise ValueError("an annotator rated the same item more than once")
        return cls(
            source_item=r.item,
            source_annotator=r.annotator,
            item=item,
            annotator=annotator,
            item_ids=item_ids,
            annotator_ids=annotator_ids,
            n_per_item=np.bincount(item, minlength=len(item_ids)),
            order=order,
        )

    def fits(self, r: Ratings) -> bool:
        """Whether r has exactly these rows (its values aside)."""
        return np.array_equal(self.source_item, r.item) and np.array_equal(
            self.source_annotator, r.annotator
        )

    @cached_property
    def pairable(self) -> npt.NDArray[np.bool_]:
        """Items with at least two ratings: the only ones any metric counts."""
        return self.n_per_item >= 2

    def rating_pairs(self, min_shared: int) -> _RatingPairs:
        if min_shared not in self.rating_pairs_by_overlap:
            self.rating_pairs_by_overlap[min_shared] = self._rating_pairs(min_shared)
        return self.rating_pairs_by_overlap[min_shared]

    def _rating_pairs(self, min_shared: int) -> _RatingPairs:
        item, annotator = self.item[self.order], self.annotator[self.order]
        # Within an item the ratings are contiguous and sorted by annotator: each rating
        # pairs with the later ones of its item, (first, second) in order.
        position = np.arange(len(item))
        later = np.cumsum(self.n_per_item)[item] - position - 1
        first = np.repeat(position, later)
        starts = np.cumsum(later) - later
        second = first + 1 + (np.arange(len(first)) - np.repeat(starts, later))
        _, pair = _compact(annotator[first] * len(self.annotator_ids) + annotator[second])
        qualifies = np.bincount(pair) >= min_shared
        keep = qualifies[pair]
        row_of_item = np.cumsum(self.pairable) - 1
        return _RatingPairs(
            n_pairs=int(qualifies.sum()),
            first=first[keep],
            second=second[keep],
            pair=(np.cumsum(qualifies) - 1)[pair[keep]],
            row=row_of_item[item[first[keep]]],
        )


@dataclass(frozen=True, eq=False)
class PreparedRatings:
    """The layout of a Ratings and its values as category codes (built once per Ratings)."""

    layout: _Layout
    item: IntArray  # the layout's, at hand
    annotator: IntArray
    item_ids: npt.NDArray[np.int64]
    annotator_ids: npt.NDArray[np.int64]
    n_per_item: IntArray
    code: IntArray  # category code per rating, 0..n_values-1 (index into `domain`)
    raw: FloatArray  # value as float
    domain: FloatArray  # sorted distinct values
    n_categories: int  # the q of Gwet's AC1: declared scale size or distinct observed values

    @classmethod
    def build(cls, r: Ratings, layout: _Layout | None = None) -> PreparedRatings:
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
        n_values = len(domain)
        if r.n_categories is not None and r.n_categories < n_values:
            raise ValueError(
                f"n_categories={r.n_categories} but {n_values} distinct values were observed"
            )
        layout = layout if layout is not None else _Layout.build(r)
        return cls(
            layout=layout,
            item=layout.item,
            annotator=layout.annotator,
            item_ids=layout.item_ids,
            annotator_ids=layout.annotator_ids,
            n_per_item=layout.n_per_item,
            code=code,
            raw=r.value.astype(np.float64),
            domain=domain.astype(np.float64),
            n_categories=r.n_categories or n_values,
        )

    @property
    def pairable(self) -> npt.NDArray[np.bool_]:
        return self.layout.pairable

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
# Category-count metrics: Krippendorff's alpha, Fleiss' kappa, Gwet's AC1, percent agreement
# --------------------------------------------------------------------------------------------


def _count_patterns(prep: PreparedRatings) -> tuple[IntArray, IntArray]:
    """Distinct count vectors among pairable items and how many items have each."""
    counts = prep.counts[prep.pairable]
    if len(counts) == 0:
        return np.zeros((0, prep.n_values), dtype=np.int64), np.zeros(0, dtype=np.int64)
    first, _, multiplicity = _unique_rows(counts)
    return counts[first], multiplicity


def count_features(patterns: IntArray) -> FloatArray:
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


def alpha_from_coincidences(o: FloatArray, domain: FloatArray, level: str) -> FloatArray:
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


def count_statistics(sums: FloatArray, prep: PreparedRatings, level: str) -> FloatArray:
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
        alpha = alpha_from_coincidences(o, prep.domain, level)
    out = np.column_stack([alpha, fleiss, ac1, pa])
    out[~np.isfinite(out)] = np.nan
    return out


def _count_point(prep: PreparedRatings, level: str) -> FloatArray:
    patterns, multiplicity = _count_patterns(prep)
    if len(patterns) == 0:
        return np.full(4, np.nan)
    sums = multiplicity.astype(np.float64) @ count_features(patterns)
    return count_statistics(sums[None, :], prep, level)[0]


def _interval_moments(prep: PreparedRatings) -> FloatArray:
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
    prep = as_ratings(data).prepared
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
    return float(_count_point(as_ratings(data).prepared, "nominal")[1])


def gwet_ac1(data: Ratings | npt.ArrayLike) -> float:
    """Gwet's AC1 for several raters with missing ratings (Gwet 2008; 2014, ch. 5).

    pe = sum_k pi_k (1 - pi_k) / (q - 1) with q = ``Ratings.n_categories`` or the number of
    observed categories.  Deviation from Gwet: pi_k is averaged over items rated at least
    twice only (Gwet also uses single-rated items), so every metric here sees the same items.
    """
    return float(_count_point(as_ratings(data).prepared, "nominal")[2])


def percent_agreement(data: Ratings | npt.ArrayLike) -> float:
    """Mean over items (rated at least twice) of the share of rater pairs that agree."""
    return float(_count_point(as_ratings(data).prepared, "nominal")[3])


# --------------------------------------------------------------------------------------------
# Cohen's kappa averaged over annotator pairs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairTables:
    """Rater-pair contingency cells for pairs sharing at least ``min_shared`` items."""

    n_pairs: int  # qualifying pairs
    k: int
    obs_row: IntArray  # pairable-item row of each pair observation
    obs_cell: IntArray  # pair * k * k + code_a * k + code_b


def pair_tables(prep: PreparedRatings, min_shared: int) -> PairTables:
    """Every pair observation of an item as a cell of its annotator pair's table."""
    pairs = prep.layout.rating_pairs(min_shared)
    k = prep.n_values
    code = prep.code[prep.layout.order]
    cell = code[pairs.first] * k  # pair * k * k + code_a * k + code_b, in place
    cell += code[pairs.second]
    cell += pairs.pair * (k * k)
    return PairTables(n_pairs=pairs.n_pairs, k=k, obs_row=pairs.row, obs_cell=cell)


def cohen_from_tables(tables: FloatArray, n_pairs: int, k: int, min_shared: int) -> FloatArray:
    """(B, n_pairs * k * k) cell counts -> (B, 1) mean Cohen's kappa over defined pairs.

    Worked on as (pair, cell, round), the layout in which the bootstrap's sparse products
    leave the sums (then a view, not a copy), so every sum runs along the rounds.  A pair's
    row and column margins, agreements and total are one product of its cells with a 0/1
    matrix, which is several times faster than as many reductions (and exact: counts are
    integers, so no sum depends on its order).
    """
    t = tables.T.reshape(n_pairs, k * k, len(tables))
    margins = np.matmul(_margin_matrix(k), t)
    rows, cols, agree, n = margins[:, :k], margins[:, k : 2 * k], margins[:, -2], margins[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        po = agree / n
        pe = np.einsum("pab,pab->pb", rows, cols) / (n * n)
        kappa = (po - pe) / (1 - pe)
        valid = (n >= min_shared) & (pe < 1 - 1e-12)
        mean = np.where(valid, kappa, 0).sum(axis=0) / valid.sum(axis=0)
    mean[~np.isfinite(mean)] = np.nan
    return mean[:, None]


def _margin_matrix(k: int) -> FloatArray:
    """(2k + 2, k * k): a k x k table's cells (row-major) to its k row margins, k column
    margins, diagonal sum and total."""
    cell = np.arange(k * k)
    matrix = np.zeros((2 * k + 2, k * k))
    matrix[cell // k, cell] = 1
    matrix[k + cell % k, cell] = 1
    matrix[2 * k, cell[cell // k == cell % k]] = 1
    matrix[2 * k + 1] = 1
    return matrix


def _cohen_point(tables: PairTables, min_shared: int) -> float:
    if tables.n_pairs == 0:
        return float("nan")
    size = tables.n_pairs * tables.k * tables.k
    cells = np.bincount(tables.obs_cell, minlength=size).astype(np.float64)
    return float(cohen_from_tables(cells[None, :], tables.n_pairs, tables.k, min_shared)[0, 0])


MAX_BOOTSTRAP_PAIRS = 1000


def _sample_pairs(
    tables: PairTables, keep: npt.NDArray[np.bool_], renumber: IntArray
) -> PairTables:
    """The pair tables restricted to the observations of the chosen pairs (``keep``, the same
    for every ratings of one layout), the pairs renumbered 0..n-1."""
    cell_size = tables.k * tables.k
    kept = tables.obs_cell[keep]
    return PairTables(
        n_pairs=int(renumber.max()) + 1,
        k=tables.k,
        obs_row=tables.obs_row[keep],
        obs_cell=renumber[kept // cell_size] * cell_size + kept % cell_size,
    )


def _cohen_bootstraps(
    members: Sequence[tuple[PreparedRatings, PairTables, float]],
    min_shared: int,
    n_boot: int,
    seed: int,
) -> list[FloatArray]:
    """Bootstrap of mean pairwise kappa by resampling pairable items, for ratings of the same
    rows (so of the same pairs); each member is (prepared ratings, pair tables, estimate).

    Each item contributes a sparse row of pair-cell counts.  Approximation: only pairs
    sharing ``min_shared`` items in the full data are tracked; the threshold is re-applied in
    each round (so such a pair can drop out), but a pair below it in the full data that
    reaches it in a round through duplicated items is not added.  Exact when every pair
    qualifies (a fixed panel of annotators); with crowds of annotators overlapping on a
    handful of items, per-pair kappas are unstable and Krippendorff's alpha is the metric to
    read.  The pair sample and the item draws come from their own streams of ``seed``, so a
    member gets the same interval with the others as alone.
    """
    n_pairs = members[0][1].n_pairs
    if n_pairs == 0 or n_boot <= 0:
        return [np.full(max(n_boot, 0), np.nan) for _ in members]
    if n_pairs <= MAX_BOOTSTRAP_PAIRS:
        return _cohen_resample(
            [(prep, tables) for prep, tables, _ in members], min_shared, n_boot, seed
        )
    # The work grows with rounds x pairs x k^2: with a crowd (10^5 annotator pairs) the
    # spread is bootstrapped on a fixed random sample of pairs and centred on the estimate
    # over all pairs (per-pair kappas on a few shared items are biased under resampling, so
    # the sample's own centre is not used).
    chosen = np.sort(
        np.random.default_rng([seed, 1]).choice(n_pairs, size=MAX_BOOTSTRAP_PAIRS, replace=False)
    )
    first = members[0][1]
    keep = np.isin(first.obs_cell // (first.k * first.k), chosen)
    renumber = np.full(n_pairs, -1, dtype=np.int64)
    renumber[chosen] = np.arange(len(chosen))
    sampled = [(prep, _sample_pairs(tables, keep, renumber)) for prep, tables, _ in members]
    boots = _cohen_resample(sampled, min_shared, n_boot, seed)
    return [
        boot if np.isnan(point) or np.all(np.isnan(boot)) else boot - np.nanmedian(boot) + point
        for boot, (_, _, point) in zip(boots, members, strict=True)
    ]


def tables_by_row(tables: PairTables, n_rows: int) -> sparse.csr_matrix:
    """(pairable items, pair cells): each item's counts of pair cells.  The observations
    come item by item and, within an item, by pair (see :class:`_RatingPairs`): they are
    the rows' entries as they stand, in canonical order, with no sort."""
    shape = (n_rows, tables.n_pairs * tables.k * tables.k)
    ones = np.ones(len(tables.obs_row))
    if np.any(np.diff(tables.obs_row) < 0):  # not in row order: let scipy sort them
        return sparse.csr_matrix((ones, (tables.obs_row, tables.obs_cell)), shape=shape)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(tables.obs_row, minlength=n_rows), out=indptr[1:])
    return sparse.csr_matrix((ones, tables.obs_cell, indptr), shape=shape)


def _cohen_resample(
    members: Sequence[tuple[PreparedRatings, PairTables]], min_shared: int, n_boot: int, seed: int
) -> list[FloatArray]:
    """The item bootstrap of each member's pair tables.  With few annotators, items with
    identical rows of ratings are collapsed into patterns (at most (K+1)^A of them), which
    makes this as cheap as the count metrics; otherwise the items themselves are resampled,
    once for all such members, and each member's sums run over its distinct rows of pair
    cells (a team giving the same labels to many items; see :func:`sparse_summation`)."""
    layout = members[0][0].layout
    n_rows = int(layout.pairable.sum())
    results: list[FloatArray | None] = [None] * len(members)
    together = []
    for position, (prep, tables) in enumerate(members):
        x = tables_by_row(tables, n_rows)

        def statistic(sums: FloatArray, tables: PairTables = tables) -> FloatArray:
            return cohen_from_tables(sums, tables.n_pairs, tables.k, min_shared)

        # A row of ratings fits one int64 key only for few annotators; with many, rows are
        # (nearly) all distinct anyway.
        if prep.n_annotators * np.log2(tables.k + 1) < 62:
            keep = prep.pairable[prep.item]
            dense = np.zeros((n_rows, prep.n_annotators), dtype=np.int16)
            row_of_item = np.cumsum(prep.pairable) - 1
            dense[row_of_item[prep.item[keep]], prep.annotator[keep]] = prep.code[keep] + 1
            first, _, multiplicity = _unique_rows(dense)
            draws = np.random.default_rng([seed, 2])
            results[position] = bootstrap(x[first], multiplicity, n_boot, draws, statistic)[:, 0]
        else:
            together.append((position, x, statistic))
    if together:
        boots = bootstrap_together(
            [x for _, x, _ in together],
            np.ones(n_rows, dtype=np.int64),
            n_boot,
            np.random.default_rng([seed, 2]),
            [statistic for _, _, statistic in together],
        )
        for (position, _, _), boot in zip(together, boots, strict=True):
            results[position] = boot[:, 0]
    return results


def cohen_kappa_mean(data: Ratings | npt.ArrayLike, min_shared: int = 5) -> float:
    """Mean over annotator pairs of Cohen's kappa on the items both rated.

    Pairs sharing fewer than ``min_shared`` items, or whose kappa is undefined (chance
    agreement 1, e.g. both always chose the same single category), are skipped.
    """
    prep = as_ratings(data).prepared
    prep.require_categorical()
    return _cohen_point(pair_tables(prep, min_shared), min_shared)


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
    kappa is bootstrapped with its own item resample, from its own stream of ``seed``; each
    interval is marginal, so this does not matter.  With more than ``MAX_CATEGORIES``
    distinct values (continuous interval data) only alpha is computed.
    """
    return agreement_reports({"": (data, level)}, n_boot, seed, min_shared=min_shared)[""]


def agreement_reports(
    ratings: Mapping[str, tuple[Ratings | npt.ArrayLike, Level]],
    n_boot: int = 1000,
    seed: int = 0,
    *,
    min_shared: int = 5,
) -> dict[str, dict[str, Any]]:
    """:func:`agreement_report` of several ratings, by name: e.g. one per criterion.

    Ratings of the same (item, annotator) rows, as the criteria of the same judgments are,
    share the work that depends on those rows only: compacting the ids, finding the pairs of
    annotators and drawing the item resamples of Cohen's kappa.  Each report is the one
    :func:`agreement_report` gives for that ratings alone.
    """
    for _, level in ratings.values():
        _check_level(level)
    n_boot = max(int(n_boot), 0)
    layouts: list[_Layout] = []
    prepared: dict[str, PreparedRatings] = {}
    for name, (data, _) in ratings.items():
        r = as_ratings(data)
        layout = next((known for known in layouts if known.fits(r)), None)
        prepared[name] = r.prepared if layout is None else PreparedRatings.build(r, layout)
        if layout is None:
            layouts.append(prepared[name].layout)

    reports = {
        name: _report_without_cohen(prepared[name], level, n_boot, seed)
        for name, (_, level) in ratings.items()
    }
    for layout in layouts:
        members = [
            (name, prep)
            for name, prep in prepared.items()
            if prep.layout is layout and prep.categorical
        ]
        if not members:
            continue
        tables = [pair_tables(prep, min_shared) for _, prep in members]
        points = [_cohen_point(t, min_shared) for t in tables]
        boots = _cohen_bootstraps(
            [(prep, t, point) for (_, prep), t, point in zip(members, tables, points, strict=True)],
            min_shared,
            n_boot,
            seed,
        )
        for (name, _), t, point, boot in zip(members, tables, points, boots, strict=True):
            reports[name]["cohen_kappa_mean"] = {**ci_entry(point, boot), "n_pairs": t.n_pairs}
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
    return {name: {key: reports[name][key] for key in order} for name in ratings}


def _report_without_cohen(
    prep: PreparedRatings, level: str, n_boot: int, seed: int
) -> dict[str, Any]:
    """The report's counts and every metric but Cohen's kappa (left undefined here)."""
    rng = np.random.default_rng(seed)
    report: dict[str, Any] = {
        "n_items": prep.n_items,
        "n_items_pairable": int(prep.pairable.sum()),
        "n_annotators": prep.n_annotators,
        "n_judgments": len(prep.item),
        "n_boot": n_boot,
        "cohen_kappa_mean": {**ci_entry(float("nan"), np.empty(0)), "n_pairs": 0},
    }
    if prep.categorical:
        patterns, multiplicity = _count_patterns(prep)
        if len(patterns):
            features = count_features(patterns)
            point = count_statistics((multiplicity @ features)[None, :], prep, level)[0]
            boot = bootstrap(
                features,
                multiplicity,
                n_boot,
                rng,
                lambda s: count_statistics(s, prep, level),
            )
        else:
            point, boot = np.full(4, np.nan), np.empty((0, 4))
        if boot.size == 0:
            boot = np.empty((0, 4))
        names = ["krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement"]
        for j, name in enumerate(names):
            report[name] = ci_entry(point[j], boot[:, j])
    else:
        if level != "interval":
            prep.require_categorical()
        moments = _interval_moments(prep)
        point = _interval_alpha_from_moments(moments.sum(axis=0, keepdims=True))[0, 0]
        boot = bootstrap(
            moments, np.ones(len(moments), np.int64), n_boot, rng, _interval_alpha_from_moments
        )
        report["krippendorff_alpha"] = ci_entry(point, boot[:, 0] if boot.size else boot)
        for name in ["fleiss_kappa", "gwet_ac1", "percent_agreement"]:
            report[name] = ci_entry(float("nan"), np.empty(0))
    report["krippendorff_alpha"]["level"] = level
    return report


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
    prep = as_ratings(data).prepared
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
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Agreement of a judge (e.g. an LLM judge) with the reference (human) majority per item.

    The reference label of an item is the unique plurality of its reference ratings, for items
    with at least ``min_reference_ratings`` of them; items whose top categories tie are skipped.
    Items are matched by id and values compared for equality.  Several judges (annotator ids
    in ``judge_ratings``) are pooled in "agreement" and broken down in "by_judge", where each
    judge also gets Cohen's kappa between its labels and the majority labels of the items it
    was compared on, with a bootstrap 95% interval over those items (``n_boot`` rounds, a
    stream of ``seed`` per judge id, so a judge's interval does not depend on the others).

    Returns ``{"agreement": share or None, "n": judge ratings compared,
    "n_no_majority": judge ratings on tied items, "n_unmatched": judge ratings on items with
    too few reference ratings, "by_judge": [{"annotator", "agreement", "n",
    "cohen_kappa": {"value", "ci"}}, ...]}``.
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
    # Each compared rating is one (majority, judge) cell of the judge's k x k table.
    cells = np.bincount(
        (judge_index * k + label.clip(0)) * k + judge_code,
        weights=compared,
        minlength=len(judge_ids) * k * k,
    ).reshape(len(judge_ids), k * k)
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
                "cohen_kappa": _table_kappa(
                    cells[j], k, n_boot, np.random.default_rng([seed, 3, int(judge_ids[j])])
                ),
            }
            for j in range(len(judge_ids))
        ],
    }


def _kappa_of_tables(tables: FloatArray, k: int) -> FloatArray:
    """Cohen's kappa of (B, k * k) two-rater tables (row-major cells) -> (B, 1); nan where
    chance agreement is 1 or a table is empty."""
    t = tables.reshape(-1, k, k)
    n = t.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        po = np.trace(t, axis1=1, axis2=2) / n
        pe = np.einsum("ba,ba->b", t.sum(axis=2), t.sum(axis=1)) / (n * n)
        kappa = (po - pe) / (1 - pe)
    kappa[~np.isfinite(kappa) | (pe > 1 - 1e-12)] = np.nan
    return kappa[:, None]


def _table_kappa(
    cells: FloatArray, k: int, n_boot: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Cohen's kappa of one two-rater table and its item bootstrap: every item is one cell,
    so resampling items is a multinomial draw over the nonempty cells."""
    point = _kappa_of_tables(cells[None, :], k)[0, 0]
    nonempty = np.flatnonzero(cells > 0)
    if n_boot <= 0 or len(nonempty) == 0:
        return ci_entry(point, np.empty(0))
    features = np.zeros((len(nonempty), k * k))
    features[np.arange(len(nonempty)), nonempty] = 1.0
    boot = bootstrap(
        features,
        cells[nonempty].astype(np.int64),
        n_boot,
        rng,
        lambda sums: _kappa_of_tables(sums, k),
    )
    return ci_entry(point, boot[:, 0])


def reference_agreement(
    label: npt.ArrayLike,
    reference: npt.ArrayLike,
    item: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """How often a label (e.g. the annotators' majority) equals an outside reference label
    (e.g. the original dataset's), with a bootstrap 95% interval over items.

    One entry per unit (a task): ``label`` and ``reference`` are category codes, negative
    where there is none (no decided majority, no reference); only units with both count.
    ``item`` groups units: the bootstrap resamples items with all their units (the pairs of
    one prompt are not independent). Returns ``{"value": share or None, "ci": [lo, hi],
    "n": units compared}``.
    """
    label = np.asarray(label, dtype=np.int64).reshape(-1)
    reference = np.asarray(reference, dtype=np.int64).reshape(-1)
    item = np.asarray(item, dtype=np.int64).reshape(-1)
    if not (len(label) == len(reference) == len(item)):
        raise ValueError("label, reference and item must have the same length")
    counted = (label >= 0) & (reference >= 0)
    n = int(counted.sum())
    if n == 0:
        return {"value": None, "ci": [None, None], "n": 0}
    _, cluster = _compact(item[counted])
    hits = np.bincount(cluster, weights=label[counted] == reference[counted])
    units = np.bincount(cluster).astype(np.float64)
    # Items with the same (hits, units) are interchangeable in a resample: draw patterns.
    first, _, multiplicity = _unique_rows(np.column_stack([hits, units]).astype(np.int64))
    features = np.column_stack([hits[first], units[first]])
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = bootstrap(
            features,
            multiplicity,
            max(int(n_boot), 0),
            np.random.default_rng([seed, 4]),
            lambda sums: sums[:, :1] / sums[:, 1:],
        )
    entry = ci_entry(float(hits.sum() / n), boot[:, 0] if boot.size else np.empty(0))
    return {**entry, "n": n}
