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

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

__all__ = [
    "ELO_BASE",
    "ELO_SCALE",
    "aggregate_votes",
    "bootstrap_start",
    "elo_ratings",
    "fit_bradley_terry",
    "incidence",
    "leaderboard",
    "leaderboard_from_counts",
    "newton",
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


@functools.lru_cache(maxsize=8)
def incidence(
    m: int,
) -> tuple[np.ndarray, np.ndarray, sparse.csr_matrix, sparse.csr_matrix, np.ndarray]:
    """The upper-triangle pairs (i < j) of M models and the maps between pairs and models.

    ``signed`` (M, P) adds a per-pair term to model i and subtracts it from model j (the
    gradient), ``unsigned`` adds it to both (Laplacian diagonals, games per model), and
    ``to_square`` picks, for each entry of an (M, M) matrix, its pair, or P (a zero column)
    on the diagonal.
    """
    first, second = np.triu_indices(m, k=1)
    n_pairs = len(first)
    rows = np.concatenate([first, second])
    cols = np.tile(np.arange(n_pairs), 2)
    signs = np.repeat([1.0, -1.0], n_pairs)
    signed = sparse.csr_matrix((signs, (rows, cols)), shape=(m, n_pairs))
    unsigned = sparse.csr_matrix((np.abs(signs), (rows, cols)), shape=(m, n_pairs))
    to_square = np.full(m * m, n_pairs)
    to_square[first * m + second] = np.arange(n_pairs)
    to_square[second * m + first] = np.arange(n_pairs)
    for shared in (first, second, to_square):  # cached: nobody may write into them
        shared.flags.writeable = False
    return first, second, signed, unsigned, to_square


def _objective(theta: FloatArray, won: FloatArray, games: FloatArray, reg: float) -> FloatArray:
    """Penalised log-likelihood sum_ij w_ij log sigma(theta_i - theta_j) - reg/2 |theta|^2.

    ``theta`` is (B, M), ``won`` and ``games`` are (B, P) over the upper triangle: with
    d = theta_i - theta_j and n_ij = w_ij + w_ji,
    w_ij log sigma(d) + w_ji log sigma(-d) = n_ij log sigma(d) - w_ji d.
    """
    first, second, *_ = incidence(theta.shape[1])
    d = theta[:, first] - theta[:, second]
    loglik = (games * -np.logaddexp(0.0, -d) - (games - won) * d).sum(axis=1)
    return loglik - 0.5 * reg * (theta**2).sum(axis=1)


#: Bound on |d^3/dx^3 log sigma(x)| = |p (1 - p) (1 - 2p)|, divided by the 3! of Taylor.
_CUBIC = 1.0 / (6.0 * math.sqrt(3.0)) / 6.0


def _line_search(
    th: FloatArray, step: FloatArray, won: FloatArray, games: FloatArray, reg: float
) -> FloatArray:
    """Step lengths 1, 1/2, 1/4, ... until the objective does not drop, one per row.

    Only for the rounds whose full Newton step could not be shown to climb; ``won`` and
    ``games`` are (B, P).
    """
    value = _objective(th, won, games, reg)
    t = np.ones(len(th))
    new = th + step
    new_value = _objective(new, won, games, reg)
    for _ in range(50):
        worse = new_value < value - 1e-12 * np.abs(value)
        if not worse.any():
            break
        t[worse] *= 0.5
        new[worse] = th[worse] + t[worse, None] * step[worse]
        new_value[worse] = _objective(new[worse], won[worse], games[worse], reg)
    return t


def _win_probability(theta: FloatArray) -> FloatArray:
    """sigma(theta_i - theta_j) for every upper-triangle pair, (P, B) from ``theta`` (B, M)."""
    first, second, *_ = incidence(theta.shape[1])
    by_model = np.ascontiguousarray(theta.T)
    p = np.take(by_model, second, axis=0)
    p -= np.take(by_model, first, axis=0)
    with np.errstate(over="ignore"):  # exp -> inf gives p = 0, as it should
        np.exp(p, out=p)
    p += 1.0
    return np.reciprocal(p, out=p)


def _laplacian(s: FloatArray, m: int, damping: float) -> FloatArray:
    """(B, M, M) graph Laplacian of the pair weights ``s`` (P, B), plus ``damping`` I."""
    n_pairs, b = s.shape
    *_, unsigned, to_square = incidence(m)
    off = np.empty((b, n_pairs + 1))
    np.negative(s.T, out=off[:, :n_pairs])
    off[:, n_pairs] = 0.0
    full = np.take(off, to_square, axis=1)
    full[:, :: m + 1] = np.asarray(unsigned @ s).T + damping
    return full.reshape(b, m, m)


def _surely_climbs(
    grad: FloatArray, hess: FloatArray, step: FloatArray, played: FloatArray, extra: float
) -> npt.NDArray[np.bool_]:
    """Whether the full Newton step surely does not lower the objective (Taylor bound).

    Along the step, phi(t) = objective(theta + t step) has phi'(0) = grad . step and
    phi''(0) = -step' (hess - extra I) step (``extra`` is damping beyond the ridge), and
    |phi'''| <= sum_ij n_ij |step_i - step_j|^3 / (6 sqrt 3), at most spread(step) times
    2 sum_i played_i step_i^2.  Rounds that pass skip the objective and its logarithms.
    """
    slope = np.einsum("bm,bm->b", grad, step)
    curve = np.einsum("bm,bm->b", np.matmul(hess, step[..., None])[..., 0], step)
    curve -= extra * np.einsum("bm,bm->b", step, step)
    spread = step.max(axis=1) - step.min(axis=1)
    cubic = _CUBIC * spread * 2.0 * np.einsum("bm,bm->b", played, step * step)
    return slope - 0.5 * curve - cubic >= 0.0


def newton(
    won: FloatArray,
    games: FloatArray,
    theta0: FloatArray,
    reg: float,
    tol: float = 1e-9,
    max_iter: int = 200,
) -> FloatArray:
    """Maximise the penalised BT likelihood for a batch of B win tables.

    ``won`` and ``games`` are (P, B), one row per upper-triangle pair i < j (see
    ``incidence``): w_ij and n_ij = w_ij + w_ji, ties already split in halves; pairs lead so
    that gathering and summing over pairs walks whole rows.  Damped Newton: the Hessian is the
    graph Laplacian of n_ij p_ij (1 - p_ij) plus ``reg`` I, always positive definite; a step
    is halved while it fails to increase the objective.  ``tol`` is on log-strengths.
    """
    *_, signed, unsigned, _ = incidence(theta0.shape[1])
    theta = np.array(theta0, dtype=np.float64)
    # Games per model: with the spread of a step it bounds the cubic term of the objective
    # along the step, so a step that surely climbs is taken without evaluating the objective.
    played = np.asarray(unsigned @ games).T
    # A hair of damping keeps the system solvable when reg == 0 (the Laplacian is singular
    # along "add a constant to every theta", a direction the gradient never has).
    damping = max(reg, 1e-10)
    active = np.arange(len(theta))
    for _ in range(max_iter):
        if active.size == 0:
            break
        th = theta[active]
        if active.size == len(theta):  # all still moving (the first rounds): no copies
            wa, ga, pa = won, games, played
        else:
            wa, ga, pa = won[:, active], games[:, active], played[active]
        p = _win_probability(th)
        residual = ga * p
        np.subtract(wa, residual, out=residual)
        s = 1.0 - p
        s *= p
        s *= ga
        grad = np.asarray(signed @ residual).T - reg * th
        hess = _laplacian(s, th.shape[1], damping)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        new = th + step
        t = np.ones(len(th))
        unsure = np.flatnonzero(~_surely_climbs(grad, hess, step, pa, damping - reg))
        if unsure.size:
            t[unsure] = _line_search(
                th[unsure],
                step[unsure],
                np.ascontiguousarray(wa[:, unsure].T),
                np.ascontiguousarray(ga[:, unsure].T),
                reg,
            )
            new[unsure] = th[unsure] + t[unsure, None] * step[unsure]
        theta[active] = new
        done = np.abs(t[:, None] * step).max(axis=1) < tol
        active = active[~done]
    return theta


def bootstrap_start(
    theta: FloatArray,
    games_hat: FloatArray,
    won: FloatArray,
    games: FloatArray,
    reg: float,
    tol: float,
    max_sweeps: int = 6,
) -> FloatArray:
    """Starts (B, M) for the bootstrap fits, near enough that Newton mostly needs one step.

    From the point estimate ``theta`` (M,), sweeps start += H0^-1 grad(start), where H0 is
    the Hessian at ``theta`` for the data's own games ``games_hat`` (P,), shared by every
    round.  A round's Hessian differs from H0 only by the noise in its counts, so with
    plenty of votes a sweep gains ~30x, for the price of a gradient (a fifth of a Newton
    iteration; the first, where all rounds share p, even less).  A round stops once its next
    update should be below ``tol``, or when it gains less than 4x (few votes per pair: Newton's
    quadratic steps are then cheaper); an update that does not shrink is not taken.
    """
    m = len(theta)
    *_, signed, _, _ = incidence(m)
    p = _win_probability(theta[None])
    inverse = np.linalg.inv(_laplacian(games_hat[:, None] * p * (1.0 - p), m, max(reg, 1e-10))[0])
    # Products with the shared inverse go through the stacked matmul, one small product per
    # round: a single (M, M) @ (M, B) product wakes OpenBLAS's threads, which then spin and
    # bill a second core through the numpy work that follows.
    grad = np.asarray(signed @ (won - games * p)).T - reg * theta
    start = theta + np.matmul(inverse, grad[..., None])[..., 0]
    last = np.abs(start - theta).max(axis=1)
    sweeping = last >= tol
    everyone = np.arange(len(start))
    for _ in range(max_sweeps - 1):
        n_sweeping = np.count_nonzero(sweeping)
        if n_sweeping == 0:
            break
        # While most rounds still sweep, sweep them all: cheaper than copying their counts.
        rows = everyone if 2 * n_sweeping >= len(start) else np.flatnonzero(sweeping)
        th = start[rows]
        wa, ga = (won, games) if rows is everyone else (won[:, rows], games[:, rows])
        residual = ga * _win_probability(th)
        np.subtract(wa, residual, out=residual)
        grad = np.asarray(signed @ residual).T - reg * th
        update = np.matmul(inverse, grad[..., None])[..., 0]
        size = np.abs(update).max(axis=1)
        before = last[rows]
        shrinking = sweeping[rows] & (size < before)
        start[rows[shrinking]] = th[shrinking] + update[shrinking]
        # Linear convergence: the next update would be about size * (size / before).
        sweeping[rows] = shrinking & (size < 0.25 * before) & (size * size >= tol * before)
        last[rows] = size
    return start


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
    half = w + 0.5 * t
    first, second, *_ = incidence(len(w))
    won = half[first, second]
    games = won + half[second, first]
    return newton(won[:, None], games[:, None], theta0[None], reg)[0]


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
    """Non-empty (pair, outcome) cells and the map from cell counts to per-pair counts.

    The map is (2P, cells): its product with a column of cell counts stacks the half-split
    wins w_ij of the upper-triangle pairs (see ``incidence``) over their games n_ij.
    """
    m = len(w)
    i, j, *_ = incidence(m)
    n_pairs = len(i)
    counts = np.concatenate([w[i, j], w[j, i], t[i, j]])
    pair = np.tile(np.arange(n_pairs), 3)
    share_won = np.repeat([1.0, 0.0, 0.5], n_pairs)
    keep = counts > 0
    counts, pair, share_won = counts[keep], pair[keep], share_won[keep]
    cell = np.arange(len(counts))
    won = share_won > 0
    rows = np.concatenate([pair[won], n_pairs + pair])
    cols = np.concatenate([cell[won], cell])
    vals = np.concatenate([share_won[won], np.ones(len(cell))])
    to_pairs = sparse.csr_matrix((vals, (rows, cols)), shape=(2 * n_pairs, len(counts)))
    return counts, to_pairs


def _as_count(x: float) -> int | float:
    return round(x) if float(x).is_integer() else float(x)


def leaderboard_from_counts(
    wins: npt.ArrayLike,
    ties: npt.ArrayLike | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    reg: float = DEFAULT_REG,
    keep_boot: bool = False,
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
    "n_votes": int, "n_boot": int}``; with ``keep_boot`` also "rating": (M,) the ratings by
    model index and "boot": (n_boot, M) each round's (to compare two leaderboards' rounds).
    """
    w, t = _check_counts(wins, ties)
    m = len(w)
    games = w + w.T + t
    played = games.sum(axis=1) > 0
    theta = fit_bradley_terry(w, t, reg=reg)
    rating = elo_ratings(theta, played)

    counts, to_pairs = _cells(w, t)
    games_hat = np.split(to_pairs @ counts, 2)[1]
    n_votes = float(counts.sum())
    lo = np.full(m, np.nan)
    hi = np.full(m, np.nan)
    boot = np.empty((0, m))
    if n_boot > 0 and n_votes > 0:
        rng = np.random.default_rng(seed)
        p = counts / n_votes
        chunk = max(1, _CHUNK_ELEMENTS // max(m * m, 1))
        boot = np.empty((n_boot, m))
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            drawn = rng.multinomial(round(n_votes), p, size=b)
            # One cell per row, as the sparse product wants it: a single converting copy.
            by_cell = np.ascontiguousarray(drawn.T, dtype=np.float64)
            pair_won, pair_games = np.split(np.asarray(to_pairs @ by_cell), 2)
            # 1e-6 in log-strength is 1e-4 rating points: far below any interval's width.
            start_at = bootstrap_start(theta, games_hat, pair_won, pair_games, reg, 1e-6)
            fitted = newton(pair_won, pair_games, start_at, reg, tol=1e-6)
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
    result = {
        "leaderboard": rows,
        "win_rate": win_rate_matrix(w, t),
        "n_votes": _as_count(n_votes),
        "n_boot": int(n_boot),
    }
    if keep_boot:
        result |= {"rating": rating, "boot": boot}
    return result


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
