"""Bradley-Terry leaderboard from pairwise votes, fitted on aggregated counts.

A million votes between M models carry no more information for Bradley-Terry than the
M x M table of who beat whom, so everything here works on that table: the fit is a Newton
solve on M parameters, and a bootstrap round redraws the table (a multinomial over the
distinct (pair, outcome) cells) instead of resampling a million rows.

Ties count as half a win for each side (the usual "tie = half a game each way" convention,
also used by Chatbot Arena's Bradley-Terry notebook): in the likelihood a tie between i and j
contributes 0.5 * log P(i beats j) + 0.5 * log P(j beats i).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.special import expit

__all__ = [
    "ELO_BASE",
    "ELO_SCALE",
    "aggregate_votes",
    "elo_ratings",
    "fit_bradley_terry",
    "leaderboard",
    "leaderboard_from_counts",
    "win_rate_matrix",
]

FloatArray = npt.NDArray[np.float64]

#: Rating of the average model.
ELO_BASE = 1000.0
#: Elo points per unit of log-strength: a 400-point gap means 10:1 odds.
ELO_SCALE = 400.0 / math.log(10.0)

#: Default ridge penalty on log-strengths.  Negligible next to real data (a model with a few
#: games has a Hessian of order 1), but keeps the fit finite for a model that never won (or
#: never lost) and pins down the scale of disconnected groups of models.
DEFAULT_REG = 1e-4

_CHUNK_ELEMENTS = 3_000_000


def aggregate_votes(
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    n_models: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Count votes into ``(wins, ties)``, both (M, M).

    ``outcome`` is 1 when model_a won, 0 when model_b won and 0.5 for a tie.
    ``wins[i, j]`` counts decisive votes where i beat j; ``ties[i, j]`` (symmetric) counts
    ties between i and j.
    """
    a = np.asarray(model_a, dtype=np.int64).reshape(-1)
    b = np.asarray(model_b, dtype=np.int64).reshape(-1)
    y = np.asarray(outcome, dtype=np.float64).reshape(-1)
    if not (len(a) == len(b) == len(y)):
        raise ValueError("model_a, model_b and outcome must have the same length")
    if len(a) and (min(a.min(), b.min()) < 0):
        raise ValueError("model indices must be non-negative")
    if np.any(a == b):
        raise ValueError("a model cannot be compared with itself")
    a_won, b_won, tie = y == 1.0, y == 0.0, y == 0.5
    if not np.all(a_won | b_won | tie):
        raise ValueError("outcome must be 1 (a wins), 0 (b wins) or 0.5 (tie)")
    m = int(n_models) if n_models is not None else int(max(a.max(), b.max()) + 1) if len(a) else 0
    if len(a) and max(a.max(), b.max()) >= m:
        raise ValueError("a model index is >= n_models")
    winner = np.where(a_won, a, b)[~tie]
    loser = np.where(a_won, b, a)[~tie]
    wins = np.bincount(winner * m + loser, minlength=m * m).reshape(m, m)
    ties = np.bincount(a[tie] * m + b[tie], minlength=m * m).reshape(m, m)
    return wins, ties + ties.T


def _check_counts(wins: npt.ArrayLike, ties: npt.ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    w = np.asarray(wins, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError("wins must be a square (M, M) matrix")
    t = np.zeros_like(w) if ties is None else np.asarray(ties, dtype=np.float64)
    if t.shape != w.shape:
        raise ValueError("ties must have the same shape as wins")
    if np.any(w < 0) or np.any(t < 0):
        raise ValueError("counts must be non-negative")
    if not np.allclose(t, t.T):
        raise ValueError("ties must be symmetric")
    w = w.copy()
    t = t.copy()
    np.fill_diagonal(w, 0.0)
    np.fill_diagonal(t, 0.0)
    return w, t


def _objective(
    theta: FloatArray,
    games: FloatArray,
    lost: FloatArray,
    pairs: tuple[np.ndarray, np.ndarray],
    reg: float,
) -> FloatArray:
    """Penalised log-likelihood sum_ij w_ij log sigma(theta_i - theta_j) - reg/2 |theta|^2.

    Evaluated on the upper triangle only: with d = theta_i - theta_j and n_ij = w_ij + w_ji,
    w_ij log sigma(d) + w_ji log sigma(-d) = n_ij log sigma(d) - w_ji d.
    """
    d = theta[:, pairs[0]] - theta[:, pairs[1]]
    loglik = (games * -np.logaddexp(0.0, -d) - lost * d).sum(axis=1)
    return loglik - 0.5 * reg * (theta**2).sum(axis=1)


def _newton(
    w: FloatArray, theta0: FloatArray, reg: float, tol: float = 1e-9, max_iter: int = 200
) -> FloatArray:
    """Maximise the penalised BT likelihood for a batch of (M, M) win tables.

    ``w`` is (B, M, M) with ties already split in halves.  Damped Newton: the Hessian is the
    graph Laplacian of n_ij p_ij (1 - p_ij) plus ``reg`` I, always positive definite; a step
    is halved while it fails to increase the objective.  ``tol`` is on log-strengths.
    """
    n = w + w.transpose(0, 2, 1)
    m = w.shape[1]
    pairs = np.triu_indices(m, k=1)
    games, lost = n[:, pairs[0], pairs[1]], w[:, pairs[1], pairs[0]]
    theta = theta0.copy()
    value = _objective(theta, games, lost, pairs, reg)
    diag = np.arange(m)
    active = np.arange(len(w))
    for _ in range(max_iter):
        if active.size == 0:
            break
        th = theta[active]
        if active.size == len(w):  # all still moving (the first rounds): no copies
            wa, na, ga, la = w, n, games, lost
        else:
            wa, na, ga, la = w[active], n[active], games[active], lost[active]
        p = expit(th[:, :, None] - th[:, None, :])
        grad = (wa - na * p).sum(axis=2) - reg * th
        s = na * p * (1.0 - p)
        hess = -s
        # A hair of damping keeps the system solvable when reg == 0 (the Laplacian is
        # singular along "add a constant to every theta", a direction the gradient never has).
        hess[:, diag, diag] += s.sum(axis=2) + max(reg, 1e-10)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        t = np.ones(len(active))
        new = th + step
        new_value = _objective(new, ga, la, pairs, reg)
        for _ in range(50):
            worse = new_value < value[active] - 1e-12 * np.abs(value[active])
            if not worse.any():
                break
            t[worse] *= 0.5
            new[worse] = th[worse] + t[worse, None] * step[worse]
            new_value[worse] = _objective(new[worse], ga[worse], la[worse], pairs, reg)
        theta[active] = new
        value[active] = new_value
        done = np.abs(t[:, None] * step).max(axis=1) < tol
        active = active[~done]
    return theta


def fit_bradley_terry(
    wins: npt.ArrayLike,
    ties: npt.ArrayLike | None = None,
    *,
    reg: float = DEFAULT_REG,
    init: npt.ArrayLike | None = None,
) -> FloatArray:
    """Log-strengths theta (M,) maximising the ridge-penalised Bradley-Terry likelihood.

    P(i beats j) = 1 / (1 + exp(theta_j - theta_i)).  The ridge makes the optimum unique and
    sum(theta) == 0; models without any game get theta = 0.  ``reg=0`` gives the plain
    maximum-likelihood estimate, which exists only if the win graph is strongly connected.
    """
    w, t = _check_counts(wins, ties)
    theta0 = np.zeros(len(w)) if init is None else np.asarray(init, dtype=np.float64)
    return _newton((w + 0.5 * t)[None], theta0[None], reg)[0]


def elo_ratings(theta: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> FloatArray:
    """Elo-like scale: 1000 + 400/ln(10) * (theta - mean theta), mean over ``mask`` models."""
    th = np.asarray(theta, dtype=np.float64)
    keep = np.ones(th.shape[-1], bool) if mask is None else np.asarray(mask, bool)
    centre = th[..., keep].mean(axis=-1, keepdims=True) if keep.any() else 0.0
    return ELO_BASE + ELO_SCALE * (th - centre)


def win_rate_matrix(wins: npt.ArrayLike, ties: npt.ArrayLike | None = None) -> FloatArray:
    """(M, M) share of games i scored against j: (wins_ij + ties_ij / 2) / games_ij.

    ``nan`` where the pair never met (and on the diagonal).
    """
    w, t = _check_counts(wins, ties)
    games = w + w.T + t
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (w + 0.5 * t) / games
    rate[games == 0] = np.nan
    return rate


def _cells(w: FloatArray, t: FloatArray) -> tuple[FloatArray, sparse.csr_matrix]:
    """Non-empty (pair, outcome) cells and the map from cell counts to half-split win tables."""
    m = len(w)
    i, j = np.triu_indices(m, k=1)
    counts = np.concatenate([w[i, j], w[j, i], t[i, j]])
    first = np.concatenate([i, j, i])
    second = np.concatenate([j, i, j])
    is_tie = np.repeat([False, False, True], len(i))
    keep = counts > 0
    counts, first, second, is_tie = counts[keep], first[keep], second[keep], is_tie[keep]
    cell = np.arange(len(counts))
    rows = np.concatenate([cell, cell[is_tie]])
    cols = np.concatenate([first * m + second, (second * m + first)[is_tie]])
    vals = np.concatenate([np.where(is_tie, 0.5, 1.0), np.full(is_tie.sum(), 0.5)])
    to_table = sparse.csr_matrix((vals, (rows, cols)), shape=(len(counts), m * m))
    return counts, to_table


def _as_count(x: float) -> int | float:
    return round(x) if float(x).is_integer() else float(x)


def leaderboard_from_counts(
    wins: npt.ArrayLike,
    ties: npt.ArrayLike | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    reg: float = DEFAULT_REG,
) -> dict[str, Any]:
    """Bradley-Terry leaderboard with bootstrap 95% percentile intervals.

    ``wins[i, j]``: times i beat j; ``ties[i, j]`` (symmetric): ties between them.  If you only
    have a table with ties already folded in as half wins, pass it as ``wins`` and no ``ties``
    (the fit is the same; the "ties" column then reads 0).

    Each bootstrap round redraws all votes at once as Multinomial(n_votes, cell shares) over
    the distinct (pair, outcome) cells, i.e. exactly a resample of the votes, and is fitted
    from the point estimate.  Models without any game are left out of the leaderboard.  A model
    that never won (or never lost) has no finite maximum-likelihood strength; its rating and
    interval are then set by the ridge ``reg`` (far below / above the rest, narrow interval),
    so read them together with its "wins"/"losses".

    Returns ``{"leaderboard": [{"model_index", "rating", "ci": [lo, hi], "wins", "losses",
    "ties", "n"}, ...] best first, "win_rate": (M, M) array (see ``win_rate_matrix``),
    "n_votes": int, "n_boot": int}``.
    """
    w, t = _check_counts(wins, ties)
    m = len(w)
    games = w + w.T + t
    played = games.sum(axis=1) > 0
    theta = fit_bradley_terry(w, t, reg=reg)
    rating = elo_ratings(theta, played)

    counts, to_table = _cells(w, t)
    n_votes = float(counts.sum())
    lo = np.full(m, np.nan)
    hi = np.full(m, np.nan)
    if n_boot > 0 and n_votes > 0:
        rng = np.random.default_rng(seed)
        p = counts / n_votes
        chunk = max(1, _CHUNK_ELEMENTS // max(m * m, 1))
        boot = np.empty((n_boot, m))
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            drawn = rng.multinomial(round(n_votes), p, size=b).astype(np.float64)
            tables = np.asarray((to_table.T @ drawn.T).T).reshape(b, m, m)
            # 1e-6 in log-strength is 1e-4 rating points: far below any interval's width.
            fitted = _newton(tables, np.broadcast_to(theta, (b, m)), reg, tol=1e-6)
            boot[start : start + b] = elo_ratings(fitted, played)
        lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)

    won = w.sum(axis=1)
    lost = w.sum(axis=0)
    tied = t.sum(axis=1)
    order = sorted(np.flatnonzero(played), key=lambda i: (-rating[i], i))
    rows = [
        {
            "model_index": int(i),
            "rating": float(rating[i]),
            "ci": [float(lo[i]), float(hi[i])] if n_boot > 0 else [None, None],
            "wins": _as_count(won[i]),
            "losses": _as_count(lost[i]),
            "ties": _as_count(tied[i]),
            "n": _as_count(games[i].sum()),
        }
        for i in order
    ]
    return {
        "leaderboard": rows,
        "win_rate": win_rate_matrix(w, t),
        "n_votes": _as_count(n_votes),
        "n_boot": int(n_boot),
    }


def leaderboard(
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    n_models: int | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    reg: float = DEFAULT_REG,
) -> dict[str, Any]:
    """Leaderboard from one row per vote (1 = a wins, 0 = b wins, 0.5 = tie).

    Votes are aggregated into an M x M table first; see ``leaderboard_from_counts``.
    """
    wins, ties = aggregate_votes(model_a, model_b, outcome, n_models)
    return leaderboard_from_counts(wins, ties, n_boot=n_boot, seed=seed, reg=reg)
