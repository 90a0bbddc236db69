"""Style control: Bradley-Terry with the two responses' style differences as covariates.

Chatbot Arena's method (its "style control" leaderboard): for each vote, the difference of
each style feature between the two responses, as a ratio (a - b) / (a + b + 1) and scaled to
unit standard deviation over the votes, enters a logistic regression beside the model
indicators: P(a beats b) = sigma(theta_a - theta_b + x . beta). The ratings theta are then
what remains of a model's strength once length and Markdown are accounted for, and beta (the
``style_coefficients``) says how much each feature sways a vote.

Two departures from Arena, both said in the README: the differences are scaled but not
centred (a centred covariate would hand a fixed advantage to whichever response was imported
as ``a``), and the ridge is the plain leaderboard's negligible one, so the two boards are on
the same footing. Ties count half a win each way, as in ``ranking``.

Speed: votes with the same model pair, outcome and (binned) covariates are one cell with a
count; the fit is Newton on the cells, and a bootstrap round redraws the cell counts
(Multinomial(n_votes, shares)), exactly a resample of the votes. The rounds start at the point
estimate and take steps with its fixed Hessian, all rounds at once; a round that has not
converged after a few such steps gets its own full Newton fit.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from annotation.stats.ranking import DEFAULT_REG, elo_ratings

__all__ = [
    "STYLE_COVARIATES",
    "STYLE_FEATURES",
    "fit_style_bradley_terry",
    "style_cells",
    "style_covariates",
    "style_features",
    "style_leaderboard",
]

FloatArray = npt.NDArray[np.float64]

#: What is stored per response (Response.style): characters and whitespace tokens, Markdown
#: headers, list items (ordered and unordered), bold spans and fenced code blocks.
STYLE_FEATURES = ("chars", "tokens", "headers", "list_items", "bold", "code_blocks")
#: The covariates of the fit: Arena's four (length in tokens, headers, list items, bold) and
#: code blocks. Characters are stored but left out: nearly collinear with tokens.
STYLE_COVARIATES = ("tokens", "headers", "list_items", "bold", "code_blocks")

# Arena counts Markdown outside code blocks: a "# comment" in a shell script is no header.
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:\d+\.|[-*+])\s", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")

#: Covariates are rounded to 1/BINS of their ratio scale (-1..1) before votes are collapsed
#: into cells, so a million votes become a few thousand cells; None keeps them exact.
DEFAULT_BINS = 256
#: Steps with the point estimate's Hessian a bootstrap round may take before it is handed to
#: its own Newton fit.
MAX_SWEEPS = 8
_CHUNK_ELEMENTS = 4_000_000
#: A bootstrap round has converged when its last step moved no parameter by more than this
#: (in log-odds; 1e-4 is 0.02 rating points, far below any interval's width).
BOOT_TOL = 1e-4


def style_features(text: str) -> dict[str, int]:
    """The style features of one response (``STYLE_FEATURES``), counted as Arena counts them:
    Markdown outside fenced code blocks."""
    code_blocks = _CODE_BLOCK.findall(text)
    prose = _CODE_BLOCK.sub("", text)
    return {
        "chars": len(text),
        "tokens": len(text.split()),
        "headers": len(_HEADER.findall(prose)),
        "list_items": len(_LIST_ITEM.findall(prose)),
        "bold": len(_BOLD.findall(prose)),
        "code_blocks": len(code_blocks),
    }


def style_covariates(
    features_a: npt.ArrayLike, features_b: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Per vote the ratio (a - b) / (a + b + 1) of each feature column, divided by its
    standard deviation over the votes; returns (covariates (N, K), the scales (K,)). A
    feature that never differs keeps scale 1 (its column is all zeros, its coefficient 0)."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError("features_a and features_b must both be (N, K)")
    ratio = (a - b) / (a + b + 1.0)
    scale = ratio.std(axis=0) if len(ratio) else np.ones(a.shape[1])
    scale[~(scale > 0)] = 1.0
    return ratio / scale, scale


def style_cells(
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    covariates: npt.ArrayLike,
    *,
    bins: int | None = DEFAULT_BINS,
    scale: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """Votes collapsed into cells of identical (model pair, outcome, covariates).

    Each vote is first turned so that its lower model index is ``a`` (covariates negated and
    outcome flipped), so a pair's votes meet in the same cells whichever side each was shown
    on. With ``bins``, covariates are rounded to steps of ``1 / (bins * scale)`` (1/bins on
    the ratio scale) first. Returns {"a", "b", "y", "x", "count"}, one entry per cell.
    """
    a = np.asarray(model_a, dtype=np.int64).reshape(-1)
    b = np.asarray(model_b, dtype=np.int64).reshape(-1)
    y = np.asarray(outcome, dtype=np.float64).reshape(-1)
    x = np.asarray(covariates, dtype=np.float64)
    if x.ndim != 2 or not (len(a) == len(b) == len(y) == len(x)):
        raise ValueError("model_a, model_b, outcome and covariates (N, K) must have N rows")
    if np.any(a == b):
        raise ValueError("a model cannot be compared with itself")
    if not np.all((y == 0.0) | (y == 0.5) | (y == 1.0)):
        raise ValueError("outcome must be 1 (a wins), 0 (b wins) or 0.5 (tie)")
    swap = a > b
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    y = np.where(swap, 1.0 - y, y)
    x = np.where(swap[:, None], -x, x)
    if bins is not None:
        step = 1.0 / (bins * (np.ones(x.shape[1]) if scale is None else np.asarray(scale)))
        code = np.rint(x / step).astype(np.int64)
    else:
        code = x.view(np.int64) if x.size else x.astype(np.int64)
    columns = [a, b, np.rint(2 * y).astype(np.int64), *code.T]
    first, count = _distinct_rows(columns)
    cells_x = code[first] * step if bins is not None else x[first]
    return {"a": a[first], "b": b[first], "y": y[first], "x": cells_x, "count": count}


def _distinct_rows(columns: list[npt.NDArray[np.int64]]) -> tuple[npt.NDArray, npt.NDArray]:
    """The first row of each distinct combination of the integer columns, and its count. The
    columns are packed into one int64 key when their ranges fit (one sort of a million keys
    instead of a lexicographic one)."""
    lows = [int(c.min()) if len(c) else 0 for c in columns]
    widths = [int(c.max()) - low + 1 if len(c) else 1 for c, low in zip(columns, lows, strict=True)]
    if sum(int(w - 1).bit_length() for w in widths) <= 62:
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for column, low, width in zip(columns, lows, widths, strict=True):
            key = key * width + (column - low)
    else:
        key = np.column_stack(columns)
    _, first, count = np.unique(key, axis=0, return_index=True, return_counts=True)
    return first, count


def _design(a: npt.NDArray, b: npt.NDArray, m: int) -> sparse.csr_matrix:
    """(C, M) signed model indicators: +1 for a, -1 for b."""
    c = len(a)
    rows = np.concatenate([np.arange(c), np.arange(c)])
    vals = np.repeat([1.0, -1.0], c)
    return sparse.csr_matrix((vals, (rows, np.concatenate([a, b]))), shape=(c, m))


def _eta(cells: dict[str, Any], params: FloatArray, m: int) -> FloatArray:
    """Linear predictors theta_a - theta_b + x . beta: (C,) for params (P,), (C, B) for
    params (P, B)."""
    theta, beta = params[:m], params[m:]
    return theta[cells["a"]] - theta[cells["b"]] + cells["x"] @ beta


def _objective(params: FloatArray, cells: dict[str, Any], n: FloatArray, reg: float) -> float:
    eta = _eta(cells, params, len(params) - cells["x"].shape[1])
    y = cells["y"]
    loglik = n * (y * -np.logaddexp(0.0, -eta) + (1.0 - y) * -np.logaddexp(0.0, eta))
    return float(loglik.sum() - 0.5 * reg * params @ params)


def _gradient_hessian(
    params: FloatArray, cells: dict[str, Any], n: FloatArray, reg: float
) -> tuple[FloatArray, FloatArray]:
    """Gradient and negative Hessian of the penalised log-likelihood at params, each block
    from bincounts over the cells (the model block is a graph Laplacian)."""
    a, b, x = cells["a"], cells["b"], cells["x"]
    k = x.shape[1]
    m = len(params) - k
    p = 1.0 / (1.0 + np.exp(-_eta(cells, params, m)))
    residual = n * (cells["y"] - p)
    weight = n * p * (1.0 - p)
    grad = np.concatenate(
        [np.bincount(a, residual, m) - np.bincount(b, residual, m), x.T @ residual]
    )
    grad -= reg * params
    pairs = np.bincount(a * m + b, weight, m * m).reshape(m, m)
    pairs += pairs.T
    hess = np.empty((m + k, m + k))
    hess[:m, :m] = np.diag(pairs.sum(axis=1)) - pairs
    weighted = x * weight[:, None]
    cross = np.column_stack(
        [np.bincount(a, weighted[:, j], m) - np.bincount(b, weighted[:, j], m) for j in range(k)]
    ).reshape(m, k)
    hess[:m, m:] = cross
    hess[m:, :m] = cross.T
    hess[m:, m:] = x.T @ weighted
    hess[np.diag_indices_from(hess)] += max(reg, 1e-10)
    return grad, hess


def _newton(
    cells: dict[str, Any], n: FloatArray, start: FloatArray, reg: float, tol: float
) -> tuple[FloatArray, FloatArray]:
    """The penalised maximum (P,) for cell counts ``n`` from ``start``, and its negative
    Hessian; a step is halved while it lowers the objective."""
    params = np.array(start, dtype=np.float64)
    value = _objective(params, cells, n, reg)
    for _ in range(100):
        grad, hess = _gradient_hessian(params, cells, n, reg)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        for _ in range(40):
            new_value = _objective(params + t * step, cells, n, reg)
            if new_value >= value - 1e-12 * abs(value):
                break
            t *= 0.5
        params = params + t * step
        value = new_value
        if np.abs(t * step).max() < tol:
            break
    return params, _gradient_hessian(params, cells, n, reg)[1]


def fit_style_bradley_terry(
    cells: dict[str, Any], n_models: int, *, reg: float = DEFAULT_REG, tol: float = 1e-9
) -> tuple[FloatArray, FloatArray]:
    """Log-strengths theta (M,) and style coefficients beta (K,) maximising the penalised
    likelihood of P(a beats b) = sigma(theta_a - theta_b + x . beta) over ``style_cells``."""
    k = cells["x"].shape[1]
    count = cells["count"].astype(np.float64)
    params, _ = _newton(cells, count, np.zeros(n_models + k), reg, tol)
    return params[:n_models], params[n_models:]


def _bootstrap(
    cells: dict[str, Any],
    params: FloatArray,
    hess: FloatArray,
    n_boot: int,
    seed: int,
    reg: float,
    tol: float,
) -> FloatArray:
    """(n_boot, P) parameters refitted on resamples of the votes (each round's cell counts
    are a bincount of n_votes votes drawn with replacement)."""
    count = cells["count"]
    n_votes = int(count.sum())
    m = len(params) - cells["x"].shape[1]
    # The (C, P) design as a sparse matrix: its products with a block of rounds are one pass.
    design = sparse.hstack(
        [_design(cells["a"], cells["b"], m), sparse.csr_matrix(cells["x"])], format="csr"
    )
    design_t = design.T.tocsr()
    y = cells["y"]
    inverse = np.linalg.inv(hess)
    residual_hat = y - 1.0 / (1.0 + np.exp(-_eta(cells, params, m)))
    cell_of_vote = np.repeat(np.arange(len(count)), count)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, len(params)))
    chunk = max(1, _CHUNK_ELEMENTS // max(len(count), 1))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        drawn = np.empty((len(count), b))
        for column in range(b):
            votes = cell_of_vote[rng.integers(0, n_votes, n_votes)]
            drawn[:, column] = np.bincount(votes, minlength=len(count))
        # The first step needs no new probabilities: every round shares the point estimate.
        update = inverse @ (design_t @ (drawn * residual_hat[:, None]) - reg * params[:, None])
        fitted = params[:, None] + update
        moving = np.abs(update).max(axis=0) >= tol
        for _ in range(MAX_SWEEPS - 1):
            if not moving.any():
                break
            rows = np.flatnonzero(moving)
            th = fitted[:, rows]
            p = 1.0 / (1.0 + np.exp(-(design @ th)))
            update = inverse @ (design_t @ (drawn[:, rows] * (y[:, None] - p)) - reg * th)
            fitted[:, rows] = th + update
            moving[rows] = np.abs(update).max(axis=0) >= tol
        for column in np.flatnonzero(moving):  # few votes: H0 is no guide, fit it alone
            fitted[:, column], _ = _newton(cells, drawn[:, column], fitted[:, column], reg, tol)
        out[start : start + b] = fitted.T
    return out


def style_leaderboard(
    cells: dict[str, Any],
    n_models: int,
    *,
    names: tuple[str, ...] = STYLE_COVARIATES,
    n_boot: int = 1000,
    seed: int = 0,
    reg: float = DEFAULT_REG,
) -> dict[str, Any]:
    """Style-controlled Bradley-Terry ratings with bootstrap 95% percentile intervals.

    Returns ``{"leaderboard": [{"model_index", "rating", "ci", "n"}, ...] best first (models
    with votes only), "style_coefficients": {name: {"value", "ci"}}, "n_votes", "n_cells",
    "n_boot"}``; coefficients are in log-odds per standard deviation of the feature's ratio.
    """
    m = n_models
    count = cells["count"].astype(np.float64)
    games = np.bincount(cells["a"], count, m) + np.bincount(cells["b"], count, m)
    played = games > 0
    params, hess = _newton(cells, count, np.zeros(m + cells["x"].shape[1]), reg, 1e-9)
    rating = elo_ratings(params[:m], played)
    beta = params[m:]
    lo = np.full(len(params), np.nan)
    hi = np.full(len(params), np.nan)
    if n_boot > 0 and count.sum() > 0:
        boot = _bootstrap(cells, params, hess, n_boot, seed, reg, BOOT_TOL)
        boot_rating = elo_ratings(boot[:, :m], played)
        lo[:m], hi[:m] = np.percentile(boot_rating, [2.5, 97.5], axis=0)
        lo[m:], hi[m:] = np.percentile(boot[:, m:], [2.5, 97.5], axis=0)

    def interval(i: int) -> list[float | None]:
        return [float(lo[i]), float(hi[i])] if n_boot > 0 else [None, None]

    order = sorted(np.flatnonzero(played), key=lambda i: (-rating[i], i))
    return {
        "leaderboard": [
            {
                "model_index": int(i),
                "rating": float(rating[i]),
                "ci": interval(i),
                "n": int(games[i]),
            }
            for i in order
        ],
        "style_coefficients": {
            name: {"value": float(beta[k]), "ci": interval(m + k)} for k, name in enumerate(names)
        },
        "n_votes": int(count.sum()),
        "n_cells": len(count),
        "n_boot": int(n_boot),
    }
