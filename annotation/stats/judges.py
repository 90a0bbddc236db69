"""Measures of an LLM judge (README, LLM judges): how much it favours the position shown
first, how often its two orders agree, and how close its leaderboard is to the humans'.

Arrays in, numbers out; intervals are bootstrap percentile intervals over tasks (position
bias, swap consistency) or items (Kendall's tau), so the outputs of one task, which are not
independent, are resampled together."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats

from annotation.stats.listwise import DEFAULT_ALPHA, _Events, _mm
from annotation.stats.ranking import fit_bradley_terry
from annotation.stats.resampling import ci_entry, json_float

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Bootstrap rounds of Kendall's tau at most: each round fits two Bradley-Terry models.
MAX_TAU_ROUNDS = 200


def _task_rounds(n: int, n_boot: int, seed: int) -> IntArray:
    """How many times each of `n` tasks is drawn in each of `n_boot` rounds, (n_boot, n)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_boot, n))
    offsets = np.arange(n_boot)[:, None] * n
    return np.bincount((draws + offsets).reshape(-1), minlength=n_boot * n).reshape(n_boot, n)


def share_with_interval(
    hits: npt.ArrayLike, totals: npt.ArrayLike, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """sum(hits) / sum(totals) over tasks, with a bootstrap 95% interval resampling tasks
    (each task's hits out of its totals stay together); None without any total."""
    h = np.asarray(hits, dtype=np.float64).reshape(-1)
    t = np.asarray(totals, dtype=np.float64).reshape(-1)
    keep = t > 0
    h, t = h[keep], t[keep]
    if not t.size:
        return {"value": None, "ci": [None, None], "n": 0}
    value = h.sum() / t.sum()
    boot = np.empty(0)
    if n_boot > 0:
        weights = _task_rounds(len(t), n_boot, seed)
        boot = (weights @ h) / (weights @ t)
    return {**ci_entry(value, boot), "n": int(t.sum())}


def position_bias(
    first_position_wins: npt.ArrayLike,
    decisive_outputs: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The share of a judge's decisive answers (A or B) that chose the response shown first,
    before calibration: 0.5 for a judge without position bias, 1 for one that always picks
    the first. Inputs are per task; `n` counts the decisive answers."""
    return share_with_interval(first_position_wins, decisive_outputs, n_boot=n_boot, seed=seed)


def swap_consistency(
    consistent: npt.ArrayLike, *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """The share of tasks judged in both orders whose two orders gave the same answer."""
    c = np.asarray(consistent, dtype=np.float64).reshape(-1)
    return share_with_interval(c, np.ones_like(c), n_boot=n_boot, seed=seed)


def _votes_by_cluster(
    cluster: IntArray, model_a: IntArray, model_b: IntArray, outcome: FloatArray, m: int
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Votes summed per (cluster, ordered pair of models): (cluster, cell index in an m x m
    table, half-wins of the pair's first model, half-wins of its second)."""
    cell = model_a * m + model_b
    keys, index = np.unique(cluster * (m * m) + cell, return_inverse=True)
    index = index.reshape(-1)
    won_a = np.bincount(index, weights=outcome, minlength=len(keys))
    won_b = np.bincount(index, weights=1.0 - outcome, minlength=len(keys))
    return keys // (m * m), keys % (m * m), won_a, won_b


def _strengths(
    cells: IntArray, won_a: FloatArray, won_b: FloatArray, weights: FloatArray, m: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Bradley-Terry log-strengths from weighted half-wins, and which models played."""
    half = np.bincount(cells, weights=won_a * weights, minlength=m * m).reshape(m, m)
    half += np.bincount(cells, weights=won_b * weights, minlength=m * m).reshape(m, m).T
    played = (half + half.T).sum(axis=1) > 0
    # Half-wins as wins: ties were already split into halves.
    return fit_bradley_terry(half), played


def _tau(x: FloatArray, y: FloatArray) -> float:
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(scipy_stats.kendalltau(x, y).statistic)


def leaderboard_kendall_tau(
    human: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    judge: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    n_models: int,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Kendall's tau-b between the Bradley-Terry leaderboards of two sets of votes, over the
    models both rated; each set is (item, model_a, model_b, outcome) with outcome 1, 0 or
    0.5 (a tie). The interval resamples items, the same items for both sets (the humans'
    and the judge's leaderboards are paired by item), in at most MAX_TAU_ROUNDS rounds.
    `n_models` counts the models both leaderboards rank."""
    m = int(n_models)
    parts = []
    for item, a, b, y in (human, judge):
        parts.append(
            _votes_by_cluster(
                np.asarray(item, dtype=np.int64),
                np.asarray(a, dtype=np.int64),
                np.asarray(b, dtype=np.int64),
                np.asarray(y, dtype=np.float64),
                m,
            )
        )
    items, cluster = np.unique(np.concatenate([parts[0][0], parts[1][0]]), return_inverse=True)
    cluster = cluster.reshape(-1)
    split = len(parts[0][0])
    clusters = (cluster[:split], cluster[split:])

    def tau_with(item_weights: FloatArray) -> tuple[float, int]:
        fitted = [
            _strengths(cells, won_a, won_b, item_weights[c], m)
            for (_, cells, won_a, won_b), c in zip(parts, clusters, strict=True)
        ]
        both = fitted[0][1] & fitted[1][1]
        return _tau(fitted[0][0][both], fitted[1][0][both]), int(both.sum())

    value, n_ranked = tau_with(np.ones(len(items)))
    boot = np.empty(0)
    rounds = min(n_boot, MAX_TAU_ROUNDS)
    if rounds > 0 and len(items) and np.isfinite(value):
        weights = _task_rounds(len(items), rounds, seed).astype(np.float64)
        boot = np.array([tau_with(w)[0] for w in weights])
    entry = ci_entry(value, boot)
    return {**entry, "value": json_float(value), "n_models": n_ranked}


#: Bootstrap rounds of the rubric score agreement at most: each round ranks every response.
MAX_SCORE_ROUNDS = 200


def quadratic_weighted_kappa(
    x: IntArray, y: IntArray, n_levels: int, weights: FloatArray | None = None
) -> float:
    """Cohen's kappa with quadratic weights between two integer ratings 0..n_levels-1 of the
    same responses (each counted `weights` times): 1 for equal ratings, 0 for agreement by
    chance; nan when undefined."""
    if not len(x) or n_levels < 2:
        return float("nan")
    cells = n_levels * n_levels
    observed = np.bincount(x * n_levels + y, weights=weights, minlength=cells)
    observed = observed.reshape(n_levels, n_levels) / observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    levels = np.arange(n_levels)
    disagreement = (levels[:, None] - levels[None, :]) ** 2 / (n_levels - 1) ** 2
    chance = (disagreement * expected).sum()
    if chance == 0:
        return float("nan")
    return float(1 - (disagreement * observed).sum() / chance)


def _midranks(codes: IntArray, n_codes: int, weights: FloatArray) -> FloatArray:
    """The rank of each row among rows drawn `weights` times each (codes: the rows' values
    in ascending order of value), equal values sharing the middle of their places."""
    drawn = np.bincount(codes, weights=weights, minlength=n_codes)
    return ((np.cumsum(drawn) - drawn) + (drawn + 1) / 2)[codes]


def _weighted_pearson(x: FloatArray, y: FloatArray, weights: FloatArray) -> float:
    drawn = weights > 0
    if weights.sum() < 3 or np.ptp(x[drawn]) == 0 or np.ptp(y[drawn]) == 0:
        return float("nan")
    total = weights.sum()
    dx, dy = x - (weights @ x) / total, y - (weights @ y) / total
    return float((weights @ (dx * dy)) / np.sqrt((weights @ (dx * dx)) * (weights @ (dy * dy))))


def score_agreement(
    item: npt.ArrayLike,
    judge_score: npt.ArrayLike,
    human_mean: npt.ArrayLike,
    human_median: npt.ArrayLike,
    *,
    low: int,
    high: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """A judge's score of each response against the people's (rubric criterion scored
    low..high), one entry per response: quadratic-weighted kappa against the people's median
    rounded half up, Spearman's and Pearson's correlation with the people's mean. Intervals
    resample items (the responses of one item, judged side by side, stay together), in at
    most MAX_SCORE_ROUNDS rounds, each a reweighting of the responses (no copies)."""
    cluster = np.unique(np.asarray(item, dtype=np.int64).reshape(-1), return_inverse=True)[1]
    cluster = cluster.reshape(-1)
    judge = np.asarray(judge_score, dtype=np.float64).reshape(-1)
    mean = np.asarray(human_mean, dtype=np.float64).reshape(-1)
    median = np.floor(np.asarray(human_median, dtype=np.float64).reshape(-1) + 0.5)
    n_levels = int(high) - int(low) + 1
    judge_level = np.clip(np.rint(judge) - low, 0, n_levels - 1).astype(np.int64)
    human_level = np.clip(median - low, 0, n_levels - 1).astype(np.int64)
    judge_values, judge_codes = np.unique(judge, return_inverse=True)
    mean_values, mean_codes = np.unique(mean, return_inverse=True)
    judge_codes, mean_codes = judge_codes.reshape(-1), mean_codes.reshape(-1)

    def measured(weights: FloatArray) -> tuple[float, float, float]:
        kappa = quadratic_weighted_kappa(judge_level, human_level, n_levels, weights)
        spearman = _weighted_pearson(
            _midranks(judge_codes, len(judge_values), weights),
            _midranks(mean_codes, len(mean_values), weights),
            weights,
        )
        return kappa, spearman, _weighted_pearson(judge, mean, weights)

    values = measured(np.ones(len(judge)))
    rounds = min(n_boot, MAX_SCORE_ROUNDS)
    boot = np.empty((0, 3))
    n_items = int(cluster.max()) + 1 if len(cluster) else 0
    if rounds > 0 and n_items:
        counts = _task_rounds(n_items, rounds, seed).astype(np.float64)
        boot = np.array([measured(c[cluster]) for c in counts])
    names = ("quadratic_kappa", "spearman", "pearson")
    return {
        **{name: ci_entry(values[i], boot[:, i]) for i, name in enumerate(names)},
        "n": len(judge),
    }


def score_leaderboard_kendall_tau(
    model: npt.ArrayLike,
    judge_score: npt.ArrayLike,
    human_mean: npt.ArrayLike,
    item: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Kendall's tau-b between two leaderboards by mean score per model, the judge's and the
    people's, over the responses both scored (one entry each); undefined below three models.
    The interval resamples items."""
    model = np.asarray(model, dtype=np.int64).reshape(-1)
    judge = np.asarray(judge_score, dtype=np.float64).reshape(-1)
    mean = np.asarray(human_mean, dtype=np.float64).reshape(-1)
    cluster = np.unique(np.asarray(item, dtype=np.int64).reshape(-1), return_inverse=True)[1]
    cluster = cluster.reshape(-1)
    names, code = np.unique(model, return_inverse=True)
    code = code.reshape(-1)
    m = len(names)

    def tau_with(weights: FloatArray) -> float:
        count = np.bincount(code, weights=weights, minlength=m)
        rated = count > 0
        if rated.sum() < 3:
            return float("nan")
        by_judge = np.bincount(code, weights=judge * weights, minlength=m)[rated]
        by_people = np.bincount(code, weights=mean * weights, minlength=m)[rated]
        return _tau(by_judge / count[rated], by_people / count[rated])

    value = tau_with(np.ones(len(judge)))
    boot = np.empty(0)
    n_items = int(cluster.max()) + 1 if len(cluster) else 0
    rounds = min(n_boot, MAX_TAU_ROUNDS)
    if rounds > 0 and n_items and np.isfinite(value):
        counts = _task_rounds(n_items, rounds, seed).astype(np.float64)
        boot = np.array([tau_with(c[cluster]) for c in counts])
    return {**ci_entry(value, boot), "n_models": m}


#: Bootstrap rounds drawn at once over items: bounds the memory of a large project's rounds.
BOOT_CHUNK = 100

#: Bootstrap rounds of the Plackett-Luce leaderboards' tau at most: each fits two models.
MAX_RANKING_TAU_ROUNDS = 100


def ranking_position_bias(
    first_ranked_first: npt.ArrayLike,
    outputs: npt.ArrayLike,
    expected: float,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The share of a ranking judge's answers that ranked the response shown first at the
    top (a tied top group of k counts 1/k), per task its answers' sum out of their count,
    with a bootstrap interval over tasks; `expected` is what a judge without position bias
    gets (the mean of 1/n over its answers, n responses shown)."""
    share = share_with_interval(first_ranked_first, outputs, n_boot=n_boot, seed=seed)
    return {**share, "expected": json_float(expected)}


def _pairs_within(cluster: IntArray) -> tuple[IntArray, IntArray]:
    """Every two rows (i < j) of the same cluster; rows sorted by cluster."""
    firsts, seconds = [], []
    n = len(cluster)
    for offset in range(1, n):
        same = cluster[:-offset] == cluster[offset:]
        if not same.any():
            break
        rows = np.flatnonzero(same)
        firsts.append(rows)
        seconds.append(rows + offset)
    if not firsts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


def item_kendall_tau(
    item: npt.ArrayLike,
    judge_place: npt.ArrayLike,
    human_place: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The mean over items of Kendall's tau-b between a judge's places of an item's
    responses and people's mean places (one row per response both placed), items where
    either puts everything level left out; the interval resamples items."""
    item = np.asarray(item, dtype=np.int64).reshape(-1)
    order = np.argsort(item, kind="stable")
    item = item[order]
    x = np.asarray(judge_place, dtype=np.float64).reshape(-1)[order]
    y = np.asarray(human_place, dtype=np.float64).reshape(-1)[order]
    first, second = _pairs_within(item)
    sx, sy = np.sign(x[first] - x[second]), np.sign(y[first] - y[second])
    items, pair_item = np.unique(item[first], return_inverse=True)
    pair_item = pair_item.reshape(-1)
    concordance = np.bincount(pair_item, weights=sx * sy, minlength=len(items))
    untied_x = np.bincount(pair_item, weights=sx != 0, minlength=len(items))
    untied_y = np.bincount(pair_item, weights=sy != 0, minlength=len(items))
    defined = (untied_x > 0) & (untied_y > 0)
    taus = concordance[defined] / np.sqrt(untied_x[defined] * untied_y[defined])
    if not len(taus):
        return {"value": None, "ci": [None, None], "n_items": 0}
    boot = np.empty(0)
    if n_boot > 0:
        # In chunks of rounds: a (rounds, items) table of a large project is large.
        chunks = []
        for start in range(0, n_boot, BOOT_CHUNK):
            weights = _task_rounds(len(taus), min(BOOT_CHUNK, n_boot - start), seed + start)
            chunks.append((weights @ taus) / weights.sum(axis=1))
        boot = np.concatenate(chunks)
    return {**ci_entry(float(taus.mean()), boot), "n_items": len(taus)}


def _plackett_luce_rounds(
    rows: tuple[IntArray, IntArray, IntArray, IntArray], m: int, item_counts: IntArray
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Plackett-Luce log-strengths of rankings (ranking, item code, model, group), the same
    refitted in each round of `item_counts` (rounds, items: how often each item is drawn),
    and which models were ranked; fitted as listwise.plackett_luce fits them."""
    ranking, item, model, group = rows
    played = np.bincount(model, minlength=m)[:m] > 0
    events = _Events(ranking, item, model, group, m)
    if not len(events.chosen):
        return np.zeros(m), np.zeros((len(item_counts), m)), played
    fitted = _mm(
        events.totals()[None],
        events.chosen,
        events.sets,
        np.zeros((1, m)),
        DEFAULT_ALPHA,
        1e-8,
        10_000,
    )[0]
    # The events' rows are the items with a ranking of two responses or more, in order.
    _, first, size = np.unique(ranking, return_index=True, return_counts=True)
    items_with_choices = np.unique(item[first[size >= 2]])
    if not len(item_counts):
        return fitted, np.zeros((0, m)), played
    counts = np.asarray((events.by_item.T @ item_counts[:, items_with_choices].T).T)
    start = np.repeat(fitted[None], len(counts), axis=0)
    return (
        fitted,
        _mm(counts, events.chosen, events.sets, start, DEFAULT_ALPHA, 1e-6, 2_000),
        played,
    )


def ranking_leaderboard_kendall_tau(
    human: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    judge: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    n_models: int,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Kendall's tau-b between the Plackett-Luce leaderboards of two sets of rankings, over
    the models both rank; each set is (ranking, item, model, group), one row per ranked
    response. The interval resamples items, the same for both sets, in at most
    MAX_RANKING_TAU_ROUNDS rounds (all rounds fitted at once)."""
    m = int(n_models)
    sets = [
        tuple(np.asarray(c, dtype=np.int64).reshape(-1) for c in part) for part in (human, judge)
    ]
    items = np.unique(np.concatenate([sets[0][1], sets[1][1]]))
    if not len(items):
        return {"value": None, "ci": [None, None], "n_models": 0}
    rounds = min(max(n_boot, 0), MAX_RANKING_TAU_ROUNDS)
    item_counts = _task_rounds(len(items), rounds, seed) if rounds else np.zeros((0, len(items)))
    fits = [
        _plackett_luce_rounds((r, np.searchsorted(items, i), mdl, g), m, item_counts)
        for r, i, mdl, g in sets
    ]
    both = fits[0][2] & fits[1][2]
    value = _tau(fits[0][0][both], fits[1][0][both])
    boot = np.empty(0)
    if rounds and np.isfinite(value):
        boot = np.array(
            [_tau(h[both], j[both]) for h, j in zip(fits[0][1], fits[1][1], strict=True)]
        )
    return {**ci_entry(value, boot), "n_models": int(both.sum())}
