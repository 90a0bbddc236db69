"""Wall time of the style-controlled leaderboard (stats.style) over 1M votes, and how close its
shortcuts come to the slow way.

Run:  .venv/bin/python bench/bench_style.py [--votes 1000000] [--models 30] [--n-boot 200]
                                            [--reference-boot 1000] [--seed 0]

The votes are simulated as Arena's look: each model has its own habits (a usual length, how
often it writes headers, lists, bold and code), each response varies around them, and the voters
prefer longer, richer answers (true coefficients below) beside the models' strengths; 10% ties.
Timed: covariates and cells (`style_covariates`, `style_cells`), then `style_leaderboard` (point
fit and bootstrap). Then the shortcuts are checked:

* binned covariates (1/256 of the ratio scale) against the exact ones: the point estimates;
* the fast bootstrap rounds (steps with the point estimate's Hessian) are exact refits up to
  1e-5 in log-odds (tests/annotation/stats/test_style.py checks them against full Newton fits);
* `--n-boot` rounds against `--reference-boot` rounds (0 to skip): the interval ends.
No database: the fit is the whole cost (reading 1M judgments is bench_report.py's business).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotation.stats.ranking import ELO_SCALE
from annotation.stats.style import (
    STYLE_COVARIATES,
    fit_style_bradley_terry,
    style_cells,
    style_covariates,
    style_leaderboard,
)

#: Log-odds per standard deviation of each covariate's ratio, as the voters weigh them.
TRUE_BETA = np.array([0.35, 0.10, 0.05, 0.08, 0.02])


def simulate(n_votes: int, n_models: int, seed: int):
    """Model indices, outcomes and the (N, 5) features of each side."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 0.4, n_models)
    length = rng.lognormal(np.log(250), 0.6, n_models)
    markdown = rng.uniform(0, 1, n_models) * (rng.random(n_models) < 0.7)  # some never use it
    a = rng.integers(0, n_models, n_votes)
    b = rng.integers(0, n_models - 1, n_votes)
    b = b + (b >= a)

    def features(model):
        md = markdown[model]
        return np.column_stack(
            [
                np.rint(length[model] * rng.lognormal(0, 0.5, n_votes)),
                rng.poisson(3 * md),
                rng.poisson(6 * md),
                rng.poisson(4 * md),
                rng.poisson(0.3, n_votes) * (rng.random(n_votes) < 0.2),
            ]
        )

    fa, fb = features(a), features(b)
    x, _ = style_covariates(fa, fb)
    p = expit(strength[a] - strength[b] + x @ TRUE_BETA)
    u = rng.random(n_votes)
    outcome = np.where(u < 0.1, 0.5, np.where(u < 0.1 + 0.9 * p, 1.0, 0.0))
    return a, b, outcome, fa, fb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--reference-boot", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    a, b, outcome, fa, fb = simulate(args.votes, args.models, args.seed)
    m = args.models
    started = time.perf_counter()
    cpu = time.process_time()
    x, scale = style_covariates(fa, fb)
    cells = style_cells(a, b, outcome, x, scale=scale)
    prepared = time.perf_counter() - started
    board = style_leaderboard(cells, m, n_boot=args.n_boot)
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu
    print(
        f"{args.votes:,} votes, {m} models -> {len(cells['count']):,} cells; covariates and "
        f"cells {prepared:.1f} s; leaderboard with {args.n_boot} rounds: {total:.1f} s wall "
        f"({cpu:.1f} s CPU)"
    )
    widths = [r["ci"][1] - r["ci"][0] for r in board["leaderboard"]]
    print(f"interval widths (rating points): median {np.median(widths):.1f}, max {max(widths):.1f}")
    for name, c in board["style_coefficients"].items():
        print(f"  {name:12s} {c['value']:+.4f} [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]")

    started = time.perf_counter()
    theta_exact, beta_exact = fit_style_bradley_terry(style_cells(a, b, outcome, x, bins=None), m)
    exact_time = time.perf_counter() - started
    theta_binned, beta_binned = fit_style_bradley_terry(cells, m)
    shift = ELO_SCALE * np.abs(
        (theta_binned - theta_binned.mean()) - (theta_exact - theta_exact.mean())
    )
    print(
        f"binned vs exact covariates (exact point fit {exact_time:.1f} s): ratings differ by "
        f"at most {shift.max():.3f} points, coefficients by at most "
        f"{np.abs(beta_binned - beta_exact).max():.5f}"
    )

    if args.reference_boot:
        started = time.perf_counter()
        reference = style_leaderboard(cells, m, n_boot=args.reference_boot, seed=1)
        took = time.perf_counter() - started
        ours = {r["model_index"]: r["ci"] for r in board["leaderboard"]}
        ends = np.array(
            [np.subtract(ours[r["model_index"]], r["ci"]) for r in reference["leaderboard"]]
        )
        ref_widths = [r["ci"][1] - r["ci"][0] for r in reference["leaderboard"]]
        coef = np.array(
            [
                np.subtract(
                    board["style_coefficients"][n]["ci"], reference["style_coefficients"][n]["ci"]
                )
                for n in STYLE_COVARIATES
            ]
        )
        print(
            f"{args.n_boot} vs {args.reference_boot} rounds ({took:.1f} s): interval ends differ "
            f"by median {np.median(np.abs(ends)):.2f}, max {np.abs(ends).max():.2f} points "
            f"(median width {np.median(ref_widths):.1f}); coefficient ends by at most "
            f"{np.abs(coef).max():.4f}"
        )


if __name__ == "__main__":
    main()
