"""Active pair sampling: which two models a vote should compare next.

A Bradley-Terry leaderboard's interval for model k is roughly proportional to the standard
deviation of its (mean-centred) log-strength, whose variance is read off the inverse of the
Fisher information ``I = sum_ij n_ij p_ij (1 - p_ij) (e_i - e_j)(e_i - e_j)^T``. One more vote
on pair (i, j) adds ``w = p_ij (1 - p_ij)`` along ``x = e_i - e_j``, so by Sherman-Morrison
each centred variance drops by ``w (P C x)_k^2 / (1 + w x^T C x)`` (C = I^-1, P the centring).
A pair's score is the resulting first-order drop of the *sum of standard deviations*
(``sum_k dvar_k / (2 sd_k)``), i.e. of the mean interval width the leaderboard shows.

The strengths ``theta`` come from a fit that may be a few hundred votes old; the games
``n_ij`` are the current ones, so scores move with every vote without a refit: an M x M
inverse and a few M x M products per call (bench/bench_sampling.py times the pick).

What any rule can gain is bounded: ``best_width_ratio`` finds the split of the votes over
the pairs that gives the narrowest mean interval when the true strengths are known. For
strengths spread as on Chatbot Arena's boards (300-400 rating points over 12 models) that
is only 1-2.4% narrower than uniform: every pair there is still informative. Most is gained
when a new model joins a board that already has votes (README, Active pair sampling).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from annotation.stats.ranking import ELO_SCALE

__all__ = [
    "PRIOR_PRECISION",
    "best_width_ratio",
    "choose_pair",
    "earlier_votes",
    "information_width",
    "interval_widths_and_coverage",
    "pair_scores",
    "simulate_votes",
]

FloatArray = npt.NDArray[np.float64]

#: Precision of a weak N(0, 1/PRIOR) prior on each log-strength: keeps the information
#: invertible before a model has any game, and is negligible once it has a few.
PRIOR_PRECISION = 0.05


def pair_scores(games: npt.ArrayLike, theta: npt.ArrayLike) -> FloatArray:
    """(M, M) symmetric expected drop in the sum of rating standard deviations (in
    log-strength units) from one more vote on each pair; 0 on the diagonal.

    ``games[i, j]`` (symmetric): votes between i and j so far, ties included.
    ``theta`` (M,): current log-strengths (e.g. ``fit_bradley_terry``), only used for the
    win probabilities, so a slightly stale fit is fine.
    """
    n = np.asarray(games, dtype=np.float64)
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    m = len(th)
    if n.shape != (m, m):
        raise ValueError("games must be (M, M) with M = len(theta)")
    if n.min(initial=0.0) < 0 or not np.array_equal(n, n.T):  # counts: exactly symmetric
        raise ValueError("games must be symmetric and non-negative")
    if m < 2:
        return np.zeros((m, m))
    p = 1.0 / (1.0 + np.exp(th[None, :] - th[:, None]))
    w = p * (1.0 - p)
    weight = n * w
    np.fill_diagonal(weight, 0.0)
    info = np.diag(weight.sum(axis=1) + PRIOR_PRECISION) - weight
    cov = np.linalg.inv(info)
    centred = cov - cov.mean(axis=0)  # column j: P C e_j
    sd = np.sqrt(np.maximum(centred.diagonal() - centred.mean(axis=1), 1e-12))  # (P C P)_kk
    # For x = e_i - e_j, P C x = centred[:, i] - centred[:, j], so the weighted sum of its
    # squares is g_ii + g_jj - 2 g_ij with g = centred^T diag(1 / 2 sd) centred; and
    # x^T C x = c_ii + c_jj - 2 c_ij. Matrix products: no (M, M, M) array.
    gram = centred.T @ (centred / (2.0 * sd)[:, None])
    spread = gram.diagonal()[:, None] + gram.diagonal()[None, :] - 2.0 * gram
    d = cov.diagonal()
    quad = d[:, None] + d[None, :] - 2.0 * cov
    scores = w / (1.0 + w * quad) * spread
    np.fill_diagonal(scores, 0.0)
    return scores


def _centred_sds(weight: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Standard deviations of the mean-centred log-strengths and their covariance (the
    pseudo-inverse of the Fisher information), from the (M, M) information per pair,
    ``n_ij p_ij (1 - p_ij)``."""
    cov = np.linalg.pinv(np.diag(weight.sum(axis=1)) - weight)
    return np.sqrt(np.maximum(cov.diagonal(), 0.0)), cov


def information_width(games: npt.ArrayLike, theta: npt.ArrayLike) -> float:
    """Mean width (rating points) of 95% normal intervals that these games per pair give
    models of true log-strengths ``theta``: what the votes' allocation is worth, free of the
    noise of one simulated outcome and of the bootstrap."""
    n = np.asarray(games, dtype=np.float64)
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    p = 1.0 / (1.0 + np.exp(th[None, :] - th[:, None]))
    weight = n * p * (1.0 - p)
    np.fill_diagonal(weight, 0.0)
    return float(2.0 * 1.959964 * ELO_SCALE * _centred_sds(weight)[0].mean())


def best_width_ratio(
    theta: npt.ArrayLike, *, explore_share: float = 0.0, iterations: int = 3000
) -> float:
    """The narrowest mean interval width that any split of a large vote budget over the
    pairs gives, as a fraction of the uniform split's, for models of true log-strengths
    ``theta``: the ceiling of what any active rule can gain (it cannot beat the best
    allocation chosen knowing the true strengths). With ``explore_share`` that share of the
    votes stays uniform. Found by the multiplicative algorithm of optimal design on the sum
    of standard deviations (convex in the shares).
    """
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    if len(th) < 3:
        return 1.0  # one pair: nothing to choose
    first, second = np.triu_indices(len(th), k=1)
    p = 1.0 / (1.0 + np.exp(th[second] - th[first]))
    w = p * (1.0 - p)
    uniform = np.full(len(first), 1.0 / len(first))

    def centred_sds(shares: FloatArray) -> tuple[FloatArray, FloatArray]:
        weight = np.zeros((len(th), len(th)))
        weight[first, second] = shares * w
        return _centred_sds(weight + weight.T)

    shares = uniform.copy()
    for _ in range(iterations):
        sd, cov = centred_sds(shares)
        along = cov[:, first] - cov[:, second]  # (model, pair): C x for x = e_i - e_j
        gain = w * (along**2 / (2.0 * sd[:, None])).sum(axis=0)  # -d(sum sd)/d(share)
        shares = shares * np.sqrt(gain)
        shares /= shares.sum()
    mixed = explore_share * uniform + (1.0 - explore_share) * shares
    return float(centred_sds(mixed)[0].sum() / centred_sds(uniform)[0].sum())


def choose_pair(
    scores: npt.ArrayLike,
    explore_share: float,
    rng: np.random.Generator,
    allowed: npt.ArrayLike | None = None,
) -> tuple[int, int]:
    """A pair (i < j): with probability ``explore_share`` uniform over the allowed pairs,
    else the best-scoring one (ties broken at random). The uniform floor keeps every pair
    sampled, so a wrong early fit cannot starve the pairs that would correct it.

    ``allowed`` (M, M) bool masks pairs that can be shown at all (e.g. no task left).
    """
    s = np.asarray(scores, dtype=np.float64)
    m = len(s)
    if not 0.0 <= explore_share <= 1.0:
        raise ValueError("explore_share must be within 0..1")
    first, second = _upper_pairs(m)
    if allowed is None:
        candidates = np.arange(len(first))
    else:
        candidates = np.flatnonzero(np.asarray(allowed, bool)[first, second])
    if not len(candidates):
        raise ValueError("no pair is allowed")
    if rng.random() >= explore_share:
        values = s[first[candidates], second[candidates]]
        candidates = candidates[values >= values.max() * (1.0 - 1e-12)]
    pick = candidates[rng.integers(len(candidates))]
    return int(first[pick]), int(second[pick])


@functools.lru_cache(maxsize=64)
def _upper_pairs(m: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """``np.triu_indices(m, 1)``, kept: every pick on a board of m models needs it."""
    first, second = np.triu_indices(m, k=1)
    first.flags.writeable = second.flags.writeable = False
    return first, second


def simulate_votes(
    theta: npt.ArrayLike,
    budget: int,
    *,
    sampling: str,
    explore_share: float = 0.2,
    refit_every: int = 100,
    seed: int = 0,
    start: npt.ArrayLike | None = None,
) -> npt.NDArray[np.int64]:
    """Spend ``budget`` votes between models of true log-strengths ``theta`` and answer the
    (M, M) wins table, choosing each pair as the site does: ``uniform`` draws any pair,
    ``active`` uses ``choose_pair`` on ``pair_scores`` of the current games, with the
    strengths refitted every ``refit_every`` votes (as the site refreshes its cached fit).
    ``start``: a wins table of earlier votes the board already holds (the answer includes
    them). For the simulation test and bench/bench_sampling.py.
    """
    from annotation.stats.ranking import fit_bradley_terry

    true = np.asarray(theta, dtype=np.float64)
    m = len(true)
    rng = np.random.default_rng(seed)
    wins = np.zeros((m, m), dtype=np.int64) if start is None else np.array(start, np.int64)
    fitted = fit_bradley_terry(wins) if wins.any() else np.zeros(m)
    for vote in range(budget):
        games = wins + wins.T
        if sampling == "uniform":
            i, j = choose_pair(np.zeros((m, m)), 1.0, rng)
        elif sampling == "active":
            if vote % refit_every == 0 and vote:
                fitted = fit_bradley_terry(wins, init=fitted)
            i, j = choose_pair(pair_scores(games, fitted), explore_share, rng)
        else:
            raise ValueError("sampling must be uniform or active")
        if rng.random() < 1.0 / (1.0 + np.exp(true[j] - true[i])):
            wins[i, j] += 1
        else:
            wins[j, i] += 1
    return wins


def earlier_votes(
    theta: npt.ArrayLike, votes: int, *, among: npt.ArrayLike, seed: int = 0
) -> npt.NDArray[np.int64]:
    """A wins table of ``votes`` uniformly sampled votes between the models ``among`` (indices
    into ``theta``): a board that has run a while before a new model joins it."""
    true = np.asarray(theta, dtype=np.float64)
    rng = np.random.default_rng(seed)
    models = np.asarray(among, dtype=np.int64)
    first, second = _upper_pairs(len(models))
    i, j = models[first], models[second]
    games = rng.multinomial(votes, np.full(len(i), 1.0 / len(i)))
    won = rng.binomial(games, 1.0 / (1.0 + np.exp(true[j] - true[i])))
    wins = np.zeros((len(true), len(true)), dtype=np.int64)
    wins[i, j] = won
    wins[j, i] = games - won
    return wins


def interval_widths_and_coverage(
    wins: npt.ArrayLike, theta: npt.ArrayLike, *, n_boot: int = 200, seed: int = 0
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Per model (by index): the width (rating points) of the leaderboard's bootstrap 95%
    interval for this wins table, and whether it holds the true rating of ``theta``
    (mean-centred)."""
    from annotation.stats.ranking import elo_ratings, leaderboard_from_counts

    true = elo_ratings(np.asarray(theta, dtype=np.float64))
    widths = np.full(len(true), np.nan)
    covered = np.zeros(len(true), bool)
    for row in leaderboard_from_counts(wins, n_boot=n_boot, seed=seed)["leaderboard"]:
        k = row["model_index"]
        widths[k] = row["ci"][1] - row["ci"][0]
        covered[k] = row["ci"][0] <= true[k] <= row["ci"][1]
    return widths, covered
