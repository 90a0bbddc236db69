"""Wall-time of the count-based Bradley-Terry leaderboard vs a one-row-per-vote logistic fit.

Run:  .venv/bin/python bench/bench_leaderboard.py [n_votes] [n_models] [n_boot]

The comparison follows Chatbot Arena's original notebook: a design matrix with +1 in the
column of model_a and -1 in the column of model_b per vote, ties entered as one win for each
side (the data set is doubled), fitted by logistic regression without intercept; its
bootstrap refits that regression on resampled rows, so 1000 rounds cost 1000 such fits.
sklearn is not a dependency, so the per-vote fit is done with statsmodels' Logit (dense
design, Newton) and with scipy's L-BFGS on a sparse design.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize, sparse
from scipy.special import expit, log_expit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotation.stats.ranking import (
    ELO_SCALE,
    aggregate_votes,
    fit_bradley_terry,
    leaderboard_from_counts,
)


def simulate(n_votes: int, n_models: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1, n_models)
    a = rng.integers(0, n_models, n_votes)
    b = rng.integers(0, n_models - 1, n_votes)
    b = b + (b >= a)
    p_a = expit(strength[a] - strength[b])
    u = rng.random(n_votes)
    outcome = np.where(u < 0.1, 0.5, np.where(u < 0.1 + 0.9 * p_a, 1.0, 0.0))
    return a, b, outcome


def arena_rows(a, b, outcome):
    """Doubled rows as in the Arena notebook: decisive votes twice, ties once each way."""
    first = np.where(outcome == 0.5, 1.0, outcome)
    second = np.where(outcome == 0.5, 0.0, outcome)
    return np.concatenate([a, a]), np.concatenate([b, b]), np.concatenate([first, second])


def sparse_design(a, b, n_models):
    n = len(a)
    rows = np.repeat(np.arange(n), 2)
    cols = np.stack([a, b], axis=1).ravel()
    vals = np.tile([1.0, -1.0], n)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n_models))


def fit_lbfgs(x: sparse.csr_matrix, y: np.ndarray, reg: float = 1e-4) -> np.ndarray:
    """Logistic regression (no intercept) on the per-vote sparse design."""

    def loss(theta):
        z = x @ theta
        value = -(y * log_expit(z) + (1 - y) * log_expit(-z)).sum() + 0.5 * reg * theta @ theta
        grad = -(x.T @ (y - expit(z))) + reg * theta
        return value, grad

    result = optimize.minimize(
        loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"gtol": 1e-8}
    )
    return result.x


def fit_statsmodels(a, b, y, n_models) -> np.ndarray:
    """statsmodels Logit on the dense design, model 0 dropped as the reference."""
    import statsmodels.api as sm

    n = len(a)
    x = np.zeros((n, n_models))
    x[np.arange(n), a] = 1.0
    x[np.arange(n), b] = -1.0
    fitted = sm.Logit(y, x[:, 1:]).fit(method="newton", disp=False, tol=1e-10)
    return np.concatenate([[0.0], fitted.params])


def centred_elo(theta: np.ndarray) -> np.ndarray:
    return ELO_SCALE * (theta - theta.mean())


def timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"{label:<58} {elapsed:8.3f} s")
    return out, elapsed


def main() -> None:
    n_votes = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n_models = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    n_boot = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    print(f"{n_votes:,} votes, {n_models} models, {n_boot} bootstrap rounds, ~10% ties\n")
    a, b, outcome = simulate(n_votes, n_models)

    print("count-based (annotation.stats.ranking)")
    (wins, ties), t_agg = timed(
        "  aggregate votes into M x M tables", aggregate_votes, a, b, outcome
    )
    theta, _ = timed("  point fit (Newton on M x M)", fit_bradley_terry, wins, ties)
    _, t_board = timed(
        f"  leaderboard incl. point fit + {n_boot} bootstrap fits",
        leaderboard_from_counts,
        wins,
        ties,
        n_boot=n_boot,
    )
    print(f"  {'TOTAL votes -> leaderboard with 95% CIs':<56} {t_agg + t_board:8.3f} s\n")

    print("one row per vote (Arena notebook style, ties doubled)")
    ra, rb, ry = arena_rows(a, b, outcome)
    x, t_design = timed("  build sparse design (2 x n_votes rows)", sparse_design, ra, rb, n_models)
    theta_lbfgs, t_lbfgs = timed("  one fit: scipy L-BFGS on sparse design", fit_lbfgs, x, ry)
    theta_sm, t_sm = timed(
        "  one fit: statsmodels Logit (dense design, Newton)", fit_statsmodels, ra, rb, ry, n_models
    )
    print(
        f"  => {n_boot} bootstrap refits: ~{n_boot * t_lbfgs:,.0f} s with L-BFGS, "
        f"~{n_boot * t_sm:,.0f} s with statsmodels (extrapolated from one fit)\n"
    )

    ours = centred_elo(theta)
    print("agreement of the point estimates (max |difference| in rating points)")
    for name, other in [("L-BFGS", theta_lbfgs), ("statsmodels", theta_sm)]:
        gap = np.abs(ours - centred_elo(other)).max()
        print(f"  count-based vs {name} per vote: {gap:.2e}")
    speedup = (t_design + n_boot * t_lbfgs) / (t_agg + t_board)
    print(f"\nspeed-up of the bootstrap leaderboard vs per-vote L-BFGS refits: ~{speedup:,.0f}x")
    variants(a, b, outcome, n_models, n_boot, t_board)


def variants(a, b, outcome, n_models: int, n_boot: int, t_board: float) -> None:
    """What a report with an imported judge and flagged annotators adds: the
    same votes plus a judge's on a fifth of them, 1% of people's votes from flagged
    annotators; the win and tie tables of all six variants (kind x flagged) counted, and the
    three the report fits in its run (people, judges, all) fitted."""
    rng = np.random.default_rng(1)
    n_judge = len(a) // 5
    pick = rng.choice(len(a), n_judge, replace=False)
    judge_outcome = np.where(rng.random(n_judge) < 0.8, outcome[pick], 1.0 - outcome[pick])
    model_a = np.concatenate([a, a[pick]])
    model_b = np.concatenate([b, b[pick]])
    result = np.concatenate([outcome, judge_outcome])
    is_model = np.concatenate([np.zeros(len(a), bool), np.ones(n_judge, bool)])
    flagged = np.concatenate([rng.random(len(a)) < 0.01, np.zeros(n_judge, bool)])
    print(f"\nvariants: + {n_judge:,} judge votes, 1% of people's votes flagged")
    start = time.perf_counter()
    kinds = {"human": ~is_model, "model": is_model, "all": np.ones(len(result), bool)}
    tables = {}
    for kind, mask in kinds.items():
        for name, keep in ((kind, mask & ~flagged), (f"{kind}+flagged", mask)):
            tables[name] = aggregate_votes(model_a[keep], model_b[keep], result[keep], n_models)
    t_counts = time.perf_counter() - start
    print(f"  {'count the six variants (kind x flagged)':<56} {t_counts:8.3f} s")
    t_fits = 0.0
    for name in ("human", "model", "all"):
        _, elapsed = timed(
            f"  leaderboard of {name} ({n_boot} bootstrap fits)",
            leaderboard_from_counts,
            *tables[name],
            n_boot=n_boot,
        )
        t_fits += elapsed
    print(
        f"  {'TOTAL added by the variants':<56} {t_counts + t_fits - t_board:8.3f} s "
        f"(beyond the people's leaderboard alone, {t_board:.3f} s)"
    )


if __name__ == "__main__":
    main()
