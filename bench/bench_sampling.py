"""Active vs uniform pair sampling at a fixed vote budget: mean bootstrap-interval width,
coverage of the true ratings, the ceiling no sampling rule can pass, and the cost of a pick
(no database needed).

Run:  .venv/bin/python bench/bench_sampling.py [--budget 3000] [--seeds 20] [--span 400]

12 models with true ratings evenly spread over ``--span`` rating points (Chatbot Arena's
twelve-model boards span about 300-400); each vote's pair is drawn as the site draws it
(``annotation.stats.sampling``: uniform, or active with explore_share 0.2 and the strengths
refitted every 100 votes); uniform and active runs share each seed; 200 bootstrap rounds.

Per run it prints two widths: the leaderboard's (the bootstrap's 95% intervals: what a user
sees) and the information width (95% normal intervals from the Fisher information of the
run's games per pair at the true strengths: what the allocation of votes is worth, free of
outcome and bootstrap noise). The ceiling is ``best_width_ratio``: the best split of the
votes over the pairs, chosen knowing the true strengths, relative to uniform.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotation.stats.ranking import ELO_SCALE
from annotation.stats.sampling import (
    best_width_ratio,
    earlier_votes,
    information_width,
    interval_widths_and_coverage,
    simulate_votes,
)

SAMPLINGS = ("uniform", "active")
#: Picks timed together; under REFIT_EVERY, so no batch refits.
BATCH = 100


def ratio_interval(active: np.ndarray, uniform: np.ndarray) -> tuple[float, float, float]:
    """Ratio of the mean widths and its 95% interval, resampling the seeds (paired)."""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(active), (4000, len(active)))
    rounds = active[rows].mean(axis=1) / uniform[rows].mean(axis=1)
    low, high = np.percentile(rounds, [2.5, 97.5])
    return float(active.mean() / uniform.mean()), float(low), float(high)


def coverage_text(hits: int, total: int) -> str:
    """The share with its 95% Wilson interval."""
    share, z = hits / total, 1.96
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    half /= 1 + z * z / total
    return f"{share:.1%} (95% {centre - half:.1%}-{centre + half:.1%})"


def compare(args: argparse.Namespace) -> None:
    theta = np.linspace(-args.span / 2, args.span / 2, args.models) / ELO_SCALE
    newcomer = args.models - 1  # the strongest, as a new release often is
    shown = {sampling: [] for sampling in SAMPLINGS}
    informed = {sampling: [] for sampling in SAMPLINGS}
    newest = {sampling: [] for sampling in SAMPLINGS}
    covered = dict.fromkeys(SAMPLINGS, 0)
    print(f"{args.models} models over {args.span:g} points, {args.budget} votes a run", end="")
    if args.earlier:
        print(
            f", after {args.earlier} uniform votes among all but the strongest, which joins",
            end="",
        )
    print("\nseed  leaderboard width (uniform active ratio)  information width (same)  covered")
    for seed in range(args.seeds):
        start = None
        if args.earlier:
            others = [k for k in range(args.models) if k != newcomer]
            start = earlier_votes(theta, args.earlier, among=others, seed=10_000 + seed)
        hits = {}
        for sampling in SAMPLINGS:
            wins = simulate_votes(
                theta,
                args.budget,
                sampling=sampling,
                explore_share=args.explore_share,
                seed=seed,
                start=start,
            )
            widths, holds = interval_widths_and_coverage(wins, theta, seed=seed)
            shown[sampling].append(widths.mean())
            newest[sampling].append(widths[newcomer])
            informed[sampling].append(information_width(wins + wins.T, theta))
            hits[sampling] = int(holds.sum())
            covered[sampling] += hits[sampling]
        print(
            f"{seed:4d}  {shown['uniform'][-1]:6.1f} {shown['active'][-1]:6.1f}"
            f"  {shown['active'][-1] / shown['uniform'][-1]:.3f}"
            f"  {informed['uniform'][-1]:14.1f} {informed['active'][-1]:6.1f}"
            f"  {informed['active'][-1] / informed['uniform'][-1]:.3f}"
            f"  {hits['uniform']}, {hits['active']} of {args.models}"
        )
    total = args.seeds * args.models
    ratio, low, high = ratio_interval(np.array(shown["active"]), np.array(shown["uniform"]))
    info, info_low, info_high = ratio_interval(
        np.array(informed["active"]), np.array(informed["uniform"])
    )
    print(f"leaderboard width ratio {ratio:.3f} (95% {low:.3f}-{high:.3f} over seeds)")
    print(f"information width ratio {info:.3f} (95% {info_low:.3f}-{info_high:.3f})")
    if args.earlier:
        new, new_low, new_high = ratio_interval(
            np.array(newest["active"]), np.array(newest["uniform"])
        )
        print(
            f"the newcomer's width: uniform {np.mean(newest['uniform']):.1f}, "
            f"active {np.mean(newest['active']):.1f}, ratio {new:.3f} "
            f"(95% {new_low:.3f}-{new_high:.3f})"
        )
    else:
        print(
            f"ceiling (best split of the votes): {best_width_ratio(theta):.3f}, "
            f"{best_width_ratio(theta, explore_share=args.explore_share):.3f} "
            f"with explore_share {args.explore_share:g}"
        )
    print(
        f"coverage uniform {coverage_text(covered['uniform'], total)}, "
        f"active {coverage_text(covered['active'], total)}"
    )


def time_picks(sizes: list[int], calls: int) -> None:
    """Microseconds per ``sampling_models_pick`` of an active project, its fit cached in
    Django's local-memory cache (Redis adds its two round trips, a get and a set), against
    a floor of what any pick must do: read and write the state, invert one matrix. Median and
    best of batches of ``BATCH`` calls, alternating with the floor's (the machine is shared)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.cache import cache

    from annotation.models import Project
    from annotation.services import sampling

    project = Project(pk=10**9, sampling=Project.Sampling.ACTIVE, explore_share=0.2)
    rng = np.random.default_rng(0)
    for m in sizes:
        names = [f"model-{i}" for i in range(m)]
        games = np.triu(rng.integers(20, 200, (m, m)), 1).astype(float)
        state = {
            "models": names,
            "theta": rng.normal(0.0, 1.0, m),
            "games": games + games.T,
            "open": np.ones((m, m), bool),
            "leases": 0,
        }
        key = sampling._key(project.pk)
        picks, floors = [], []
        for _ in range(calls // BATCH):  # batches alternate, so both see the same load
            cache.set(key, state, None)  # fresh: no refit within a batch
            started = time.perf_counter()
            for _ in range(BATCH):
                sampling.sampling_models_pick(project=project, names=names)
            picks.append((time.perf_counter() - started) / BATCH)
            started = time.perf_counter()
            for _ in range(BATCH):
                cache.set(key, cache.get(key), None)
                np.linalg.inv(state["games"] + np.eye(m))
            floors.append((time.perf_counter() - started) / BATCH)
        print(
            f"sampling_models_pick, {m} models: {np.median(picks) * 1e6:.0f} µs a call, "
            f"best batch {min(picks) * 1e6:.0f} µs (floor: the state's cache get and set and "
            f"one {m} x {m} inverse, {np.median(floors) * 1e6:.0f} µs, "
            f"best {min(floors) * 1e6:.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--span", type=float, default=400.0)
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--explore-share", type=float, default=0.2)
    parser.add_argument(
        "--earlier",
        type=int,
        default=0,
        help="votes the board already holds among all but the strongest model, which joins",
    )
    parser.add_argument("--pick-calls", type=int, default=2000, help="0: skip the timing")
    args = parser.parse_args()
    if args.seeds:
        compare(args)
    if args.pick_calls:
        time_picks([12, 50], args.pick_calls)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - started:.0f} s")
