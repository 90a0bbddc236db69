"""Active pair sampling: scores that follow the information a vote adds, and a simulation in
which it narrows the leaderboard's intervals at a fixed vote budget without losing coverage."""

import numpy as np
import pytest

from annotation.stats.ranking import ELO_SCALE
from annotation.stats.sampling import (
    choose_pair,
    interval_width_and_coverage,
    pair_scores,
    simulate_votes,
)

#: 12 models evenly spread over 600 rating points (700..1300), as in bench/bench_sampling.py.
TRUE_THETA = np.linspace(-300, 300, 12) / ELO_SCALE


def test_a_pair_with_fewer_votes_scores_higher():
    theta = np.zeros(4)
    games = np.full((4, 4), 50.0)
    np.fill_diagonal(games, 0)
    games[2, 3] = games[3, 2] = 5.0
    scores = pair_scores(games, theta)
    assert scores[2, 3] == scores[np.triu_indices(4, 1)].max()
    assert np.allclose(scores, scores.T) and np.all(np.diag(scores) == 0)


def test_choose_pair_takes_the_best_and_explores_at_the_given_share():
    scores = np.zeros((4, 4))
    scores[1, 3] = scores[3, 1] = 1.0
    rng = np.random.default_rng(0)
    picks = [choose_pair(scores, 0.2, rng) for _ in range(2000)]
    share_best = np.mean([p == (1, 3) for p in picks])
    # 80% exploit plus a sixth of the 20% uniform draws.
    assert share_best == pytest.approx(0.8 + 0.2 / 6, abs=0.03)
    assert {p for p in picks} == {(i, j) for i in range(4) for j in range(i + 1, 4)}


def test_choose_pair_keeps_to_allowed_pairs():
    scores = np.ones((3, 3))
    allowed = np.zeros((3, 3), bool)
    allowed[0, 2] = allowed[2, 0] = True
    rng = np.random.default_rng(1)
    assert {choose_pair(scores, 0.5, rng, allowed) for _ in range(50)} == {(0, 2)}
    with pytest.raises(ValueError):
        choose_pair(scores, 1.5, rng)


def test_bad_games_table_is_refused():
    with pytest.raises(ValueError):
        pair_scores(np.array([[0, 1], [2, 0]]), np.zeros(2))


def test_active_sampling_narrows_intervals_at_the_same_budget_and_still_covers():
    """3000 votes between 12 models, two seeds: the mean interval width under active sampling
    is below uniform's (measured 0.92-0.94 of it; bench/bench_sampling.py), and at least
    90% of the 24 intervals hold the true rating."""
    widths = {"uniform": [], "active": []}
    covered = {"uniform": 0, "active": 0}
    for seed in (0, 1):
        for sampling in widths:
            wins = simulate_votes(TRUE_THETA, 3000, sampling=sampling, seed=seed)
            width, hits = interval_width_and_coverage(wins, TRUE_THETA, seed=seed)
            widths[sampling].append(width)
            covered[sampling] += hits
            assert wins.sum() == 3000
    ratio = np.mean(widths["active"]) / np.mean(widths["uniform"])
    assert ratio < 0.97
    assert covered["active"] >= 0.9 * 24
