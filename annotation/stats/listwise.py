"""Listwise rankings: agreement (Kendall's W, Krippendorff's alpha over ranks) and the
Plackett-Luce leaderboard, with Bradley-Terry over the pairs the rankings imply.

Input is long format, one row per ranked response, as the database gives it:
``ranking[k]`` (which judgment), ``item[k]``, ``annotator[k]``, ``response[k]`` or
``model[k]``, and ``group[k]``, the place of the response's tie group (0 = best). A ranking
``[[12], [10, 13], [11]]`` is four rows with groups 0, 1, 1, 2.

Every interval is a bootstrap over items (all rankings of an item travel together: the
rankings of one item are not independent draws), 95% percentile, as everywhere else in the
statistics report.

Ties in Plackett-Luce follow Breslow's rule (as for tied event times in a Cox model): each
member of a tied group is chosen from the same set, the group and everything ranked below
it. Without ties this is the plain Plackett-Luce likelihood; with ties it needs no extra
parameter (Davidson-Luce's tie prevalence) and keeps Hunter's MM update as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from annotation.stats.agreement import alpha_from_coincidences
from annotation.stats.ranking import (
    DEFAULT_REG,
    bootstrap_start,
    elo_ratings,
    fit_bradley_terry,
    incidence,
    newton,
    win_rate_matrix,
)
from annotation.stats.resampling import bootstrap, ci_entry, resample_counts

__all__ = [
    "DEFAULT_ALPHA",
    "first_shown_first",
    "implied_pairs",
    "kendall_w",
    "mid_ranks",
    "plackett_luce",
    "rank_alpha",
    "ranking_agreement",
    "ranking_leaderboards",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Pseudo-count of Plackett-Luce's MM update, (wins + alpha) / (denominator + alpha), as
#: choix's ``alpha``: negligible next to real data, but keeps a model that was never ranked
#: above anything at a finite (very low) strength.
DEFAULT_ALPHA = 0.01
#: Bootstrap rounds are fitted this many at a time (memory: rounds x distinct events).
_CHUNK = 200


def _ints(x: npt.ArrayLike) -> IntArray:
    return np.asarray(x, dtype=np.int64).reshape(-1)


def mid_ranks(ranking: npt.ArrayLike, group: npt.ArrayLike) -> FloatArray:
    """The rank of each row within its ranking, tied rows sharing the mean of their places:
    groups [0, 1, 1, 2] give ranks 1, 2.5, 2.5, 4."""
    r, g = _ints(ranking), _ints(group)
    if len(r) == 0:
        return np.zeros(0)
    _, key = np.unique(np.column_stack([r, g]), axis=0, return_inverse=True)
    key = key.reshape(-1)
    size = np.bincount(key)
    # Keys sort by (ranking, group): the rows ranked above a group are the rows of the
    # earlier keys of the same ranking.
    key_ranking = np.zeros(len(size), np.int64)
    key_ranking[key] = r
    before = np.cumsum(size) - size
    first_key = np.searchsorted(key_ranking, key_ranking)
    above = before - before[first_key]
    return (above + (size + 1) / 2.0)[key]


def _complete(item: IntArray, ranking: IntArray, response: IntArray) -> npt.NDArray[np.bool_]:
    """Rows of the rankings that rank every response of their item (the others are left
    out: an item re-imported with another response since, say)."""
    items, item_index = np.unique(item, return_inverse=True)
    pairs = np.unique(np.column_stack([item_index, response]), axis=0)
    n_responses = np.bincount(pairs[:, 0], minlength=len(items))
    rankings, ranking_index = np.unique(ranking, return_inverse=True)
    per_ranking = np.bincount(ranking_index, minlength=len(rankings))
    return per_ranking[ranking_index] == n_responses[item_index]


def _per_item_w(
    ranking: IntArray, item: IntArray, response: IntArray, group: IntArray
) -> tuple[IntArray, FloatArray, IntArray]:
    """(items, W of each, raters of each) over items ranked by at least two rankings."""
    keep = _complete(item, ranking, response)
    ranking, item, response, group = ranking[keep], item[keep], response[keep], group[keep]
    items, item_index = np.unique(item, return_inverse=True)
    item_index = item_index.reshape(-1)
    rank = mid_ranks(ranking, group)
    _, first = np.unique(ranking, return_index=True)
    m = np.bincount(item_index[first], minlength=len(items)).astype(np.float64)
    cells, cell_index = np.unique(
        np.column_stack([item_index, response]), axis=0, return_inverse=True
    )
    cell_item = cells[:, 0]
    n = np.bincount(cell_item, minlength=len(items)).astype(np.float64)
    rank_sum = np.bincount(cell_index.reshape(-1), weights=rank, minlength=len(cells))
    centre = (m * (n + 1) / 2.0)[cell_item]
    s = np.bincount(cell_item, weights=(rank_sum - centre) ** 2, minlength=len(items))
    _, tie_key = np.unique(np.column_stack([ranking, group]), axis=0, return_inverse=True)
    tie_key = tie_key.reshape(-1)
    t = np.bincount(tie_key).astype(np.float64)
    tie_item = np.zeros(len(t), np.int64)
    tie_item[tie_key] = item_index
    ties = np.bincount(tie_item, weights=t**3 - t, minlength=len(items))
    denominator = m * m * (n**3 - n) - m * ties
    with np.errstate(divide="ignore", invalid="ignore"):
        w = 12.0 * s / denominator
    usable = (m >= 2) & (denominator > 0)
    return items[usable], w[usable], m[usable].astype(np.int64)


def kendall_w(
    ranking: npt.ArrayLike, item: npt.ArrayLike, response: npt.ArrayLike, group: npt.ArrayLike
) -> float:
    """Kendall's coefficient of concordance with the tie correction, per item, averaged
    over the items that at least two rankings ranked in full (nan without any).

    Per item, with m rankings of n responses, R_j the sum of response j's mid-ranks and
    T = sum over rankings and tie groups of t^3 - t:
    W = 12 sum_j (R_j - m (n + 1) / 2)^2 / (m^2 (n^3 - n) - m T)  (Kendall & Babington
    Smith 1939; Friedman's chi-square is m (n - 1) W).
    """
    _, w, _ = _per_item_w(_ints(ranking), _ints(item), _ints(response), _ints(group))
    return float(w.mean()) if len(w) else float("nan")


def _rank_coincidences(
    ranking: IntArray, item: IntArray, annotator: IntArray, response: IntArray, group: IntArray
) -> tuple[FloatArray, FloatArray, int]:
    """Per item, its responses' coincidence matrices over the mid-rank values, summed
    (items x K*K), the K values, and how many items have a pairable response."""
    rank = mid_ranks(ranking, group)
    domain, code = np.unique(rank, return_inverse=True)
    code = code.reshape(-1)
    k = len(domain)
    units, unit_index = np.unique(np.column_stack([item, response]), axis=0, return_inverse=True)
    unit_index = unit_index.reshape(-1)
    # One value per (unit, annotator): an annotator ranks an item once.
    counts = np.zeros((len(units), k))
    np.add.at(counts, (unit_index, code), 1.0)
    m = counts.sum(axis=1)
    pairable = m >= 2
    counts, unit_item, m = counts[pairable], units[pairable, 0], m[pairable]
    coinc = (counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(k)) / (m - 1)[
        :, None, None
    ]
    items, unit_item_index = np.unique(unit_item, return_inverse=True)
    per_item = np.zeros((len(items), k * k))
    np.add.at(per_item, unit_item_index.reshape(-1), coinc.reshape(len(coinc), k * k))
    return per_item, domain, len(items)


def rank_alpha(
    ranking: npt.ArrayLike,
    item: npt.ArrayLike,
    annotator: npt.ArrayLike,
    response: npt.ArrayLike,
    group: npt.ArrayLike,
) -> float:
    """Krippendorff's alpha, ordinal, over ranks: each (item, response) is a unit, each
    annotator's mid-rank of it a value (as ``krippendorff.alpha`` with a units x annotators
    table of ranks and ``level_of_measurement="ordinal"``)."""
    per_item, domain, n_items = _rank_coincidences(
        _ints(ranking), _ints(item), _ints(annotator), _ints(response), _ints(group)
    )
    if n_items == 0:
        return float("nan")
    k = len(domain)
    return float(
        alpha_from_coincidences(per_item.sum(axis=0).reshape(1, k, k), domain, "ordinal")[0]
    )


def ranking_agreement(
    ranking: npt.ArrayLike,
    item: npt.ArrayLike,
    annotator: npt.ArrayLike,
    response: npt.ArrayLike,
    group: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Kendall's W and ordinal alpha over ranks, each with a bootstrap 95% interval over
    items, and the counts: ``{"kendall_w": {"value", "ci", "n_items"},
    "krippendorff_alpha": {"value", "ci", "level": "ordinal"}, "n_items", "n_annotators",
    "n_judgments", "n_boot"}``; None where a figure is undefined."""
    r, i, a, resp, g = (_ints(x) for x in (ranking, item, annotator, response, group))
    rng = np.random.default_rng(seed)
    n_boot = max(int(n_boot), 0)
    _, w, _ = _per_item_w(r, i, resp, g)
    w_point = float(w.mean()) if len(w) else float("nan")
    w_boot = np.empty(0)
    if len(w) and n_boot:
        features = np.column_stack([np.ones(len(w)), w])
        w_boot = bootstrap(
            features, np.ones(len(w), np.int64), n_boot, rng, lambda s: s[:, 1:] / s[:, :1]
        )[:, 0]
    per_item, domain, n_pairable = _rank_coincidences(r, i, a, resp, g)
    k = len(domain)

    def alpha(sums: FloatArray) -> FloatArray:
        return alpha_from_coincidences(sums.reshape(-1, k, k), domain, "ordinal")[:, None]

    alpha_point, alpha_boot = float("nan"), np.empty(0)
    if n_pairable:
        alpha_point = float(alpha(per_item.sum(axis=0)[None])[0, 0])
        if n_boot:
            alpha_boot = bootstrap(per_item, np.ones(n_pairable, np.int64), n_boot, rng, alpha)[
                :, 0
            ]
    return {
        "kendall_w": {**ci_entry(w_point, w_boot), "n_items": len(w)},
        "krippendorff_alpha": {**ci_entry(alpha_point, alpha_boot), "level": "ordinal"},
        "n_items": len(np.unique(i)),
        "n_annotators": len(np.unique(a)),
        "n_judgments": len(np.unique(r)),
        "n_boot": n_boot,
    }


# --------------------------------------------------------------------------------------------
# Plackett-Luce
# --------------------------------------------------------------------------------------------


class _Events:
    """The choices the rankings make, folded into distinct events: ``chosen[e]`` is picked
    from the multiset of models ``sets[e]`` (D x M counts); ``by_item`` (items x D) counts
    each event per item, so an item resample is a product."""

    def __init__(self, ranking: IntArray, item: IntArray, model: IntArray, group: IntArray, m: int):
        self.n_models = m
        if len(ranking) == 0:
            self.chosen = np.zeros(0, np.int64)
            self.sets = np.zeros((0, m))
            self.by_item = sparse.csr_matrix((0, 0))
            self.n_items = 0
            return
        # Keys are (ranking, group) in order; a key's set is its rows and those of every
        # later key of the same ranking (the groups ranked below it).
        keys, key = np.unique(np.column_stack([ranking, group]), axis=0, return_inverse=True)
        key = key.reshape(-1)
        counts = np.zeros((len(keys), m))
        np.add.at(counts, (key, model), 1.0)
        suffix = np.cumsum(counts[::-1], axis=0)[::-1]
        last_of_ranking = np.r_[np.flatnonzero(keys[1:, 0] != keys[:-1, 0]) + 1, len(keys)]
        next_start = np.repeat(last_of_ranking, np.diff(np.r_[0, last_of_ranking]))
        below_ranking = np.vstack([suffix, np.zeros((1, m))])[next_start]
        sets = suffix - below_ranking
        row_sets = sets[key]
        choice = row_sets.sum(axis=1) >= 2  # a choice from one response tells nothing
        rows = np.column_stack([model[choice], row_sets[choice]])
        distinct, event = np.unique(rows, axis=0, return_inverse=True)
        self.chosen = distinct[:, 0].astype(np.int64)
        self.sets = distinct[:, 1:]
        items, item_index = np.unique(item[choice], return_inverse=True)
        self.n_items = len(np.unique(item))
        self.by_item = sparse.csr_matrix(
            (np.ones(len(event)), (item_index.reshape(-1), event.reshape(-1))),
            shape=(len(items), len(distinct)),
        )

    def totals(self) -> FloatArray:
        return np.asarray(self.by_item.sum(axis=0)).reshape(-1)


def _mm(
    counts: FloatArray,
    chosen: IntArray,
    sets: FloatArray,
    theta0: FloatArray,
    alpha: float,
    tol: float,
    max_iter: int,
) -> FloatArray:
    """Hunter's (2004) MM iteration for a batch of B event-count vectors (B x D).

    w_i <- (wins_i + alpha) / (sum_e n_e [i in e] / sum_{j in e} w_j + alpha), then
    log-strengths centred, exactly as choix's ``mm_rankings`` (weights scaled to sum to M
    before each step; a model with two responses in a set counts twice there). Stops a round
    when the L1 change of its log-strengths is below ``tol`` (choix's test).
    """
    m = sets.shape[1]
    wins = np.zeros((len(counts), m))
    for model in range(m):
        wins[:, model] = counts[:, chosen == model].sum(axis=1)
    theta = np.array(theta0, dtype=np.float64)
    active = np.arange(len(theta))
    for _ in range(max_iter):
        if active.size == 0:
            break
        th, n = theta[active], counts[active]
        # Weights scaled to sum to M, as choix's exp_transform: alpha's pull depends on it.
        weight = np.exp(th - th.mean(axis=1, keepdims=True))
        weight *= m / weight.sum(axis=1, keepdims=True)
        set_sum = weight @ sets.T
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(n > 0, n / set_sum, 0.0)
            new = np.log((wins[active] + alpha) / (share @ sets + alpha))
        new -= new.mean(axis=1, keepdims=True)
        moved = np.abs(new - th).sum(axis=1)
        theta[active] = new
        active = active[~(moved < tol)]
    return theta


def plackett_luce(
    ranking: npt.ArrayLike,
    model: npt.ArrayLike,
    group: npt.ArrayLike,
    n_models: int | None = None,
    *,
    alpha: float = DEFAULT_ALPHA,
    tol: float = 1e-8,
    max_iter: int = 10_000,
) -> FloatArray:
    """Plackett-Luce log-strengths (M,), centred, by Hunter's MM algorithm: the model
    ranked first is chosen from all with probability w_i / sum w, the next from the rest,
    and so on; tied groups by Breslow's rule (module docstring)."""
    r, mdl, g = _ints(ranking), _ints(model), _ints(group)
    m = int(n_models) if n_models is not None else int(mdl.max() + 1) if len(mdl) else 0
    events = _Events(r, np.zeros(len(r), np.int64), mdl, g, m)
    return _mm(
        events.totals()[None], events.chosen, events.sets, np.zeros((1, m)), alpha, tol, max_iter
    )[0]


def implied_pairs(
    ranking: npt.ArrayLike, model: npt.ArrayLike, group: npt.ArrayLike
) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    """The pairwise votes a ranking implies, every pair of its responses: (row of the first,
    model a, model b, outcome 1 / 0 / 0.5 for a above / below / tied with b); pairs of two
    responses of the same model are left out."""
    r, mdl, g = _ints(ranking), _ints(model), _ints(group)
    order = np.argsort(r, kind="stable")
    r, mdl, g = r[order], mdl[order], g[order]
    first, a, b, outcome = [], [], [], []
    longest = (
        int(np.bincount(np.unique(r, return_inverse=True)[1].reshape(-1)).max()) if len(r) else 0
    )
    for offset in range(1, longest):
        here = np.flatnonzero(r[:-offset] == r[offset:])
        there = here + offset
        keep = mdl[here] != mdl[there]
        here, there = here[keep], there[keep]
        first.append(order[here])
        a.append(mdl[here])
        b.append(mdl[there])
        outcome.append(np.select([g[here] < g[there], g[here] > g[there]], [1.0, 0.0], 0.5))
    if not first:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(first), np.concatenate(a), np.concatenate(b), np.concatenate(outcome)


def _pair_counts(
    a: IntArray, b: IntArray, outcome: FloatArray, m: int
) -> tuple[FloatArray, FloatArray]:
    wins = np.zeros((m, m))
    ties = np.zeros((m, m))
    decided = outcome != 0.5
    winner = np.where(outcome == 1.0, a, b)[decided]
    loser = np.where(outcome == 1.0, b, a)[decided]
    np.add.at(wins, (winner, loser), 1.0)
    np.add.at(ties, (a[~decided], b[~decided]), 1.0)
    return wins, ties + ties.T


def _count(x: float) -> int | float:
    return round(x) if float(x).is_integer() else float(x)


def _rows(
    rating: FloatArray, boot: FloatArray, wins: FloatArray, ties: FloatArray, extra: dict[str, Any]
) -> list[dict[str, Any]]:
    """Leaderboard rows best first, in the shape of ``ranking.leaderboard_from_counts``."""
    games = wins + wins.T + ties
    played = np.flatnonzero(games.sum(axis=1) > 0)
    lo = hi = np.full(len(rating), np.nan)
    if boot.size:
        lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    order = sorted(played, key=lambda i: (-rating[i], i))
    return [
        {
            "model_index": int(i),
            "rating": float(rating[i]),
            "ci": [float(lo[i]), float(hi[i])] if boot.size else [None, None],
            "wins": _count(wins[i].sum()),
            "losses": _count(wins[:, i].sum()),
            "ties": _count(ties[i].sum()),
            "n": _count(games[i].sum()),
            **{name: _count(values[i]) for name, values in extra.items()},
        }
        for i in order
    ]


def _item_weights(n_items: int, n_boot: int, rng: np.random.Generator):
    """Chunks of (rounds, items) counts of an item resample."""
    for start in range(0, n_boot, _CHUNK):
        rounds = min(_CHUNK, n_boot - start)
        yield resample_counts(np.ones(n_items, np.int64), n_items, rounds, rng)


def _plackett_luce_board(
    events: _Events, present: npt.NDArray[np.bool_], n_boot: int, seed: int, alpha: float
) -> tuple[FloatArray, FloatArray]:
    """Elo-scale Plackett-Luce ratings (M,) of the present models and their bootstrap rounds
    (n_boot, M), items resampled, each round fitted from the point estimate."""
    m = len(present)
    theta = np.zeros(m)
    boot = np.empty((0, m))
    if len(events.chosen) == 0:
        return elo_ratings(theta, present), boot
    idx = np.flatnonzero(present)
    sets = events.sets[:, idx]
    chosen = np.searchsorted(idx, events.chosen)
    start = np.zeros((1, len(idx)))
    fitted = _mm(events.totals()[None], chosen, sets, start, alpha, 1e-8, 10_000)[0]
    theta[idx] = fitted
    chunks = []
    for weights in _item_weights(events.by_item.shape[0], n_boot, np.random.default_rng(seed)):
        counts = np.asarray((events.by_item.T @ weights.T).T)
        start = np.repeat(fitted[None], len(counts), axis=0)
        round_theta = np.zeros((len(counts), m))
        round_theta[:, idx] = _mm(counts, chosen, sets, start, alpha, 1e-6, 2_000)
        chunks.append(elo_ratings(round_theta, present))
    return elo_ratings(theta, present), np.concatenate(chunks) if chunks else boot


def _bradley_terry_board(
    item: IntArray,
    pairs: tuple[IntArray, IntArray, IntArray, FloatArray],
    counts: tuple[FloatArray, FloatArray],
    n_boot: int,
    seed: int,
) -> tuple[FloatArray, FloatArray]:
    """Elo-scale Bradley-Terry ratings over the implied pairs and their bootstrap rounds,
    items resampled (all the pairs of an item's rankings together)."""
    rows_of_pair, a, b, outcome = pairs
    wins, ties = counts
    m = len(wins)
    theta = fit_bradley_terry(wins, ties, reg=DEFAULT_REG)
    played = (wins + wins.T + ties).sum(axis=1) > 0
    boot = np.empty((0, m))
    if not (n_boot and len(a)):
        return elo_ratings(theta, played), boot
    # Per item, half-split wins of the upper-triangle pairs (i < j) and their games.
    first, second, *_ = incidence(m)
    pair_index = np.full((m, m), -1)
    pair_index[first, second] = np.arange(len(first))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pair = pair_index[lo, hi]
    won_by_lo = np.where(outcome == 0.5, 0.5, np.where((outcome == 1.0) == (a == lo), 1.0, 0.0))
    items, item_index = np.unique(item[rows_of_pair], return_inverse=True)
    n_pairs = len(first)
    features = sparse.csr_matrix(
        (
            np.r_[won_by_lo, np.ones(len(pair))],
            (np.r_[item_index, item_index], np.r_[pair, n_pairs + pair]),
        ),
        shape=(len(items), 2 * n_pairs),
    )
    half = wins + 0.5 * ties
    games_hat = half[first, second] + half[second, first]
    chunks = []
    for weights in _item_weights(len(items), n_boot, np.random.default_rng(seed)):
        summed = np.asarray(features.T @ weights.T)
        won, games = summed[:n_pairs], summed[n_pairs:]
        start = bootstrap_start(theta, games_hat, won, games, DEFAULT_REG, 1e-6)
        fitted = newton(won, games, start, DEFAULT_REG, tol=1e-6)
        chunks.append(elo_ratings(fitted, played))
    return elo_ratings(theta, played), np.concatenate(chunks)


def ranking_leaderboards(
    ranking: npt.ArrayLike,
    item: npt.ArrayLike,
    model: npt.ArrayLike,
    group: npt.ArrayLike,
    n_models: int,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, dict[str, Any]]:
    """The two leaderboards of a ranking project, each shaped as
    ``ranking.leaderboard_from_counts``'s (``{"leaderboard": rows best first, "win_rate":
    (M, M) over the implied pairs, "n_votes", "n_boot"}``), on its Elo-like scale
    (400 points = 10:1 odds of being ranked above), with bootstrap 95% intervals over items:

    * ``plackett_luce``: the rankings themselves (``n_votes`` counts rankings; each row also
      says in how many ``rankings`` the model appears);
    * ``bradley_terry``: every pair each ranking implies, a tie half a win each way
      (``n_votes`` counts those pairs). Resampling items rather than pairs keeps the pairs of
      one ranking together: they are not independent votes.

    Both rows count the implied pairs as ``wins``, ``losses``, ``ties`` and ``n``.
    """
    r, i, mdl, g = (_ints(x) for x in (ranking, item, model, group))
    n_boot = max(int(n_boot), 0)
    pairs = implied_pairs(r, mdl, g)
    wins, ties = _pair_counts(*pairs[1:], n_models)
    present = np.zeros(n_models, bool)
    present[mdl] = True
    events = _Events(r, i, mdl, g, n_models)
    pl_rating, pl_boot = _plackett_luce_board(events, present, n_boot, seed, alpha)
    bt_rating, bt_boot = _bradley_terry_board(i, pairs, (wins, ties), n_boot, seed)
    first_rows = np.unique(np.column_stack([r, mdl]), axis=0, return_index=True)[1]
    in_rankings = np.bincount(mdl[first_rows], minlength=n_models)
    shared = {"win_rate": win_rate_matrix(wins, ties), "n_boot": n_boot}
    return {
        "plackett_luce": {
            "leaderboard": _rows(pl_rating, pl_boot, wins, ties, {"rankings": in_rankings}),
            "n_votes": len(np.unique(r)),
            **shared,
        },
        "bradley_terry": {
            "leaderboard": _rows(bt_rating, bt_boot, wins, ties, {}),
            "n_votes": len(pairs[1]),
            **shared,
        },
    }


def first_shown_first(
    ranking: npt.ArrayLike, group: npt.ArrayLike, shown: npt.ArrayLike
) -> tuple[IntArray, npt.NDArray[np.bool_], FloatArray]:
    """Position bias: for each ranking with a shown order (rows with ``shown`` >= 0), whether
    the response shown first (label A) was ranked first, alone or tied, and the chance of
    that for an annotator blind to the order: the top group's share of the responses.

    Returns (rankings, first shown ranked first, chance), one entry per such ranking.
    """
    r, g, s = _ints(ranking), _ints(group), _ints(shown)
    rankings, index = np.unique(r, return_inverse=True)
    index = index.reshape(-1)
    has_order = np.bincount(index, weights=s == 0, minlength=len(rankings)) > 0
    first = np.bincount(index, weights=(s == 0) & (g == 0), minlength=len(rankings)) > 0
    top = np.bincount(index, weights=g == 0, minlength=len(rankings))
    size = np.bincount(index, minlength=len(rankings))
    with np.errstate(divide="ignore", invalid="ignore"):
        chance = top / size
    return rankings[has_order], first[has_order], chance[has_order]
