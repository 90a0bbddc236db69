"""Active vs uniform pair sampling at a fixed vote budget: mean bootstrap-interval width and
coverage of the true ratings, over several seeds (no database needed).

Run:  .venv/bin/python bench/bench_sampling.py [--budget 3000] [--seeds 8] [--span 600]

12 models with true ratings evenly spread over ``--span`` rating points; each vote's pair is
drawn as the site draws it (``annotation.stats.sampling``: uniform, or active with
explore_share 0.2 and the strengths refitted every 100 votes); 200 bootstrap rounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotation.stats.ranking import ELO_SCALE
from annotation.stats.sampling import interval_width_and_coverage, simulate_votes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--span", type=float, default=600.0)
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--explore-share", type=float, default=0.2)
    args = parser.parse_args()
    theta = np.linspace(-args.span / 2, args.span / 2, args.models) / ELO_SCALE
    ratios = []
    covered = {"uniform": 0, "active": 0}
    print(f"{args.models} models over {args.span:g} points, {args.budget} votes a run")
    print("seed  uniform width  active width  ratio  covered (uniform, active)")
    for seed in range(args.seeds):
        width = {}
        hits = {}
        for sampling in ("uniform", "active"):
            wins = simulate_votes(
                theta, args.budget, sampling=sampling, explore_share=args.explore_share, seed=seed
            )
            width[sampling], hits[sampling] = interval_width_and_coverage(wins, theta, seed=seed)
            covered[sampling] += hits[sampling]
        ratios.append(width["active"] / width["uniform"])
        print(
            f"{seed:4d}  {width['uniform']:13.1f}  {width['active']:12.1f}  {ratios[-1]:.3f}"
            f"  {hits['uniform']}/{args.models}, {hits['active']}/{args.models}"
        )
    total = args.seeds * args.models
    print(
        f"mean ratio {np.mean(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
        f"coverage uniform {covered['uniform'] / total:.1%}, active {covered['active'] / total:.1%}"
    )


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - started:.0f} s")
