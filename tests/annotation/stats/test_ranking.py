"""Bradley-Terry leaderboard: against choix, and the behaviours the leaderboard page needs."""

import choix
import numpy as np
import pytest

from annotation.stats import ranking as rk
from annotation.stats.ranking import (
    ELO_SCALE,
    aggregate_votes,
    fit_bradley_terry,
    leaderboard,
    leaderboard_from_counts,
    win_rate_matrix,
)


def simulate_votes(seed: int, n_models: int = 6, n_votes: int = 3000, tie_rate: float = 0.0):
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 1, n_models)
    a = rng.integers(0, n_models, n_votes)
    b = rng.integers(0, n_models - 1, n_votes)
    b = b + (b >= a)
    p_a = 1 / (1 + np.exp(strength[b] - strength[a]))
    u = rng.random(n_votes)
    outcome = np.where(u < tie_rate, 0.5, np.where(u < tie_rate + (1 - tie_rate) * p_a, 1.0, 0.0))
    return a, b, outcome, strength


def centred(x):
    return x - x.mean()


def test_aggregate_votes_counts_wins_and_ties():
    wins, ties = aggregate_votes([0, 0, 1, 2, 2], [1, 1, 0, 0, 1], [1, 0.5, 1, 0, 0.5], 3)
    assert wins.tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert ties.tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]


@pytest.mark.parametrize("seed", range(4))
def test_strengths_match_choix_ilsr_on_random_votes(seed):
    a, b, outcome, _ = simulate_votes(seed)
    wins, ties = aggregate_votes(a, b, outcome)
    winners = np.where(outcome == 1, a, b)
    losers = np.where(outcome == 1, b, a)
    expected = choix.ilsr_pairwise(len(wins), list(zip(winners, losers, strict=True)))
    assert centred(fit_bradley_terry(wins, ties)) == pytest.approx(centred(expected), abs=1e-4)


def test_strengths_match_choix_mm_pairwise():
    a, b, outcome, _ = simulate_votes(7, n_models=4, n_votes=400)
    winners = np.where(outcome == 1, a, b)
    losers = np.where(outcome == 1, b, a)
    expected = choix.mm_pairwise(4, list(zip(winners, losers, strict=True)), tol=1e-10)
    wins, ties = aggregate_votes(a, b, outcome)
    assert centred(fit_bradley_terry(wins, ties)) == pytest.approx(centred(expected), abs=1e-4)


def test_ties_count_as_half_a_win_each_way():
    a, b, outcome, _ = simulate_votes(3, tie_rate=0.3)
    wins, ties = aggregate_votes(a, b, outcome)
    expected = choix.ilsr_pairwise_dense(wins + 0.5 * ties)
    assert centred(fit_bradley_terry(wins, ties)) == pytest.approx(centred(expected), abs=1e-4)


def test_known_strong_model_ranks_first():
    a, b, outcome, strength = simulate_votes(1, n_models=8, n_votes=5000)
    result = leaderboard(a, b, outcome, n_boot=50)
    assert result["leaderboard"][0]["model_index"] == int(np.argmax(strength))
    ratings = [row["rating"] for row in result["leaderboard"]]
    assert ratings == sorted(ratings, reverse=True)


def test_model_with_zero_wins_gets_a_finite_last_place():
    a, b, outcome, _ = simulate_votes(2, n_models=5)
    outcome = np.where(a == 4, 0.0, np.where(b == 4, 1.0, outcome))  # model 4 always loses
    result = leaderboard(a, b, outcome, n_boot=50)
    last = result["leaderboard"][-1]
    assert last["model_index"] == 4
    assert last["wins"] == 0
    assert np.isfinite(last["rating"])
    assert np.all(np.isfinite(last["ci"]))


def test_model_without_games_is_left_out():
    a, b, outcome, _ = simulate_votes(4, n_models=4, n_votes=500)
    result = leaderboard(a, b, outcome, n_models=6, n_boot=20)
    assert sorted(row["model_index"] for row in result["leaderboard"]) == [0, 1, 2, 3]
    assert np.isnan(result["win_rate"][5]).all()


def test_ratings_average_1000_and_400_points_mean_10_to_1_odds():
    wins = np.array([[0, 10], [1, 0]])  # odds 10:1, so the gap is exactly 400 points
    result = leaderboard_from_counts(wins, n_boot=0, reg=0.0)
    by_model = {row["model_index"]: row["rating"] for row in result["leaderboard"]}
    assert by_model[0] + by_model[1] == pytest.approx(2000)
    assert by_model[0] - by_model[1] == pytest.approx(400)
    assert np.log(10) * ELO_SCALE == pytest.approx(400)


def test_leaderboard_rows_have_documented_fields():
    result = leaderboard([0, 1, 0], [1, 2, 2], [1, 0.5, 0], 3, n_boot=30)
    row = next(r for r in result["leaderboard"] if r["model_index"] == 0)
    assert row == {
        "model_index": 0,
        "rating": row["rating"],
        "ci": row["ci"],
        "wins": 1,
        "losses": 1,
        "ties": 0,
        "n": 2,
    }
    assert result["n_votes"] == 3
    assert result["n_boot"] == 30


def test_bootstrap_interval_contains_estimate_and_is_reproducible():
    a, b, outcome, _ = simulate_votes(5, tie_rate=0.1)
    first = leaderboard(a, b, outcome, n_boot=200, seed=1)
    assert first["leaderboard"] == leaderboard(a, b, outcome, n_boot=200, seed=1)["leaderboard"]
    for row in first["leaderboard"]:
        lo, hi = row["ci"]
        assert lo < row["rating"] < hi


def test_cell_bootstrap_matches_resampling_vote_rows():
    # Multinomial redraw of the (pair, outcome) cells == resampling the vote rows.
    a, b, outcome, _ = simulate_votes(6, n_models=4, n_votes=800, tie_rate=0.1)
    rng = np.random.default_rng(0)
    naive = []
    for _ in range(300):
        idx = rng.integers(0, len(a), len(a))
        wins, ties = aggregate_votes(a[idx], b[idx], outcome[idx], 4)
        theta = fit_bradley_terry(wins, ties)
        naive.append(ELO_SCALE * centred(theta))
    lo, hi = np.percentile(naive, [2.5, 97.5], axis=0)
    fast = {
        r["model_index"]: r["ci"] for r in leaderboard(a, b, outcome, n_boot=300)["leaderboard"]
    }
    for model in range(4):
        width, fast_width = hi[model] - lo[model], fast[model][1] - fast[model][0]
        assert fast_width == pytest.approx(width, rel=0.2)


def test_win_rate_is_wins_plus_half_ties_over_games():
    wins = np.array([[0, 3, 0], [1, 0, 0], [0, 0, 0]])
    ties = np.array([[0, 2, 0], [2, 0, 0], [0, 0, 0]])
    rate = win_rate_matrix(wins, ties)
    assert rate[0, 1] == pytest.approx((3 + 1) / 6)
    assert rate[1, 0] == pytest.approx((1 + 1) / 6)
    assert np.isnan(rate[0, 2])
    assert np.isnan(rate[0, 0])


def test_votes_and_counts_give_the_same_leaderboard():
    a, b, outcome, _ = simulate_votes(8, tie_rate=0.2)
    wins, ties = aggregate_votes(a, b, outcome)
    from_votes = leaderboard(a, b, outcome, n_boot=40, seed=2)
    from_counts = leaderboard_from_counts(wins, ties, n_boot=40, seed=2)
    assert from_votes["leaderboard"] == from_counts["leaderboard"]


def test_invalid_outcome_is_rejected():
    with pytest.raises(ValueError, match="outcome"):
        aggregate_votes([0], [1], [2])
    with pytest.raises(ValueError, match="itself"):
        aggregate_votes([1], [1], [1])


def refit_intervals(wins, ties, n_boot, seed):
    """The bootstrap as a reader would write it: the same redraws, each fitted from zero."""
    w, t = rk._check_counts(wins, ties)
    m = len(w)
    counts, to_pairs = rk._cells(w, t)
    first, second, *_ = rk.incidence(m)
    drawn = np.random.default_rng(seed).multinomial(
        round(counts.sum()), counts / counts.sum(), size=n_boot
    )
    ratings = []
    for row in drawn:
        won, games = np.split(to_pairs @ row.astype(np.float64), 2)
        table = np.zeros((m, m))
        table[first, second] = won
        table[second, first] = games - won
        ratings.append(rk.elo_ratings(fit_bradley_terry(table)))
    return np.percentile(ratings, [2.5, 97.5], axis=0)


@pytest.mark.parametrize(
    ("n_models", "n_votes", "tie_rate", "never_wins"),
    [(6, 200_000, 0.1, False), (12, 400, 0.2, False), (6, 3000, 0.0, True)],
)
def test_bootstrap_intervals_equal_those_of_refitting_every_redraw(
    n_models, n_votes, tie_rate, never_wins
):
    # Rounds start near their optimum (shared-Hessian sweeps) and skip most objective
    # evaluations: the intervals must not move.
    a, b, outcome, _ = simulate_votes(9, n_models=n_models, n_votes=n_votes, tie_rate=tie_rate)
    if never_wins:
        outcome = np.where(a == 0, 0.0, np.where(b == 0, 1.0, outcome))
    wins, ties = aggregate_votes(a, b, outcome, n_models)
    lo, hi = refit_intervals(wins, ties, n_boot=200, seed=3)
    result = leaderboard_from_counts(wins, ties, n_boot=200, seed=3)
    for row in result["leaderboard"]:
        i = row["model_index"]
        assert row["ci"] == pytest.approx([lo[i], hi[i]], abs=1e-6)


def test_fit_from_a_far_start_halves_its_steps_and_finds_the_same_strengths(monkeypatch):
    halved = []
    line_search = rk._line_search

    def spy(*args):
        t = line_search(*args)
        halved.append(bool((t < 1).any()))
        return t

    monkeypatch.setattr(rk, "_line_search", spy)
    wins = np.random.default_rng(0).integers(0, 50, (6, 6))
    far = fit_bradley_terry(wins, init=[8.0, -8.0, 5.0, -5.0, 0.0, 3.0])
    assert any(halved)
    assert far == pytest.approx(fit_bradley_terry(wins), abs=1e-9)


@pytest.mark.parametrize("scale", [1e-4, 1e-2, 0.3, 3.0])
def test_a_step_the_taylor_bound_accepts_never_lowers_the_objective(scale):
    rng = np.random.default_rng(int(scale * 1e4))
    m, reg = 7, 1e-4
    first, _, signed, unsigned, _ = rk.incidence(m)
    games = rng.integers(0, 60, (len(first), 500)).astype(np.float64)
    won = np.floor(games * rng.random(games.shape))
    theta = rng.normal(0, 1.5, (500, m))
    step = rng.normal(0, scale, (500, m))
    p = rk._win_probability(theta)
    hess = rk._laplacian(games * p * (1 - p), m, reg)
    grad = np.asarray(signed @ (won - games * p)).T - reg * theta
    played = np.asarray(unsigned @ games).T
    sure = rk._surely_climbs(grad, hess, step, played, 0.0)
    before = rk._objective(theta, won.T, games.T, reg)
    after = rk._objective(theta + step, won.T, games.T, reg)
    assert np.all(after[sure] >= before[sure] - 1e-12 * np.abs(before[sure]))
    if scale <= 1e-2:  # small steps uphill are recognised as such
        uphill = np.linalg.solve(hess, grad[..., None])[..., 0] * scale
        assert rk._surely_climbs(grad, hess, uphill, played, 0.0).all()
