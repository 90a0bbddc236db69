"""Measures of an LLM judge (annotation.stats.judges) against direct computations and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from annotation.stats.judges import (
    item_kendall_tau,
    leaderboard_kendall_tau,
    position_bias,
    quadratic_weighted_kappa,
    ranking_leaderboard_kendall_tau,
    ranking_position_bias,
    score_agreement,
    score_leaderboard_kendall_tau,
    share_with_interval,
    swap_consistency,
)
from annotation.stats.ranking import fit_bradley_terry


def test_position_bias_pools_answers_and_resamples_tasks_whole():
    # Three tasks of two answers each: five of six picked the first position.
    bias = position_bias([2, 2, 1], [2, 2, 2], n_boot=2000)

    assert bias["value"] == pytest.approx(5 / 6) and bias["n"] == 6
    low, high = bias["ci"]
    # Resampling whole tasks: a round drawing the third task thrice (1 in 27) gives 3/6,
    # one without it (8 in 27) gives 6/6, so the interval runs from the one to the other.
    assert (low, high) == (pytest.approx(0.5), 1.0)


def test_a_judge_that_always_picks_the_first_has_bias_one_with_a_degenerate_interval():
    bias = position_bias(np.full(50, 2), np.full(50, 2), n_boot=200)
    assert bias["value"] == 1.0 and bias["ci"] == [1.0, 1.0]


def test_tasks_without_a_decisive_answer_do_not_count_and_none_at_all_is_undefined():
    assert position_bias([1, 0], [1, 0], n_boot=10)["n"] == 1
    assert position_bias([0], [0], n_boot=10) == {"value": None, "ci": [None, None], "n": 0}


def test_swap_consistency_is_the_share_of_tasks_whose_orders_agreed():
    consistency = swap_consistency([True, False, True, True], n_boot=500)
    assert consistency["value"] == 0.75 and consistency["n"] == 4


def test_the_share_interval_covers_a_planted_rate_about_95_percent_of_the_time():
    rng = np.random.default_rng(4)
    covered = 0
    for _ in range(200):
        hits = rng.random(200) < 0.3
        low, high = share_with_interval(hits, np.ones(200), n_boot=300, seed=1)["ci"]
        covered += low <= 0.3 <= high
    assert 0.9 <= covered / 200 <= 0.99


def _votes(strengths: np.ndarray, n: int, rng: np.random.Generator) -> tuple:
    m = len(strengths)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(strengths[b] - strengths[a]))
    return np.arange(n), a, b, (rng.random(n) < p).astype(float)


def test_kendall_tau_compares_the_two_bradley_terry_fits_like_scipy():
    rng = np.random.default_rng(0)
    strengths = np.array([1.5, 1.0, 0.5, 0.0, -0.5])
    human, judge = _votes(strengths, 600, rng), _votes(strengths[::-1], 600, rng)

    tau = leaderboard_kendall_tau(human, judge, 5, n_boot=50)

    def fit(votes: tuple) -> np.ndarray:
        _, a, b, y = votes
        half = np.zeros((5, 5))
        np.add.at(half, (a, b), y)
        np.add.at(half, (b, a), 1 - y)
        return fit_bradley_terry(half)

    expected = scipy_stats.kendalltau(fit(human), fit(judge)).statistic
    assert tau["value"] == pytest.approx(expected) and tau["value"] < -0.5
    assert tau["n_models"] == 5
    low, high = tau["ci"]
    assert low <= tau["value"] <= high


def test_kendall_tau_of_agreeing_leaderboards_is_near_one_and_counts_models_both_rank():
    rng = np.random.default_rng(1)
    strengths = np.array([2.0, 1.0, 0.0, -1.0])
    human = _votes(strengths, 800, rng)
    item, a, b, y = _votes(strengths, 800, rng)
    keep = (a != 3) & (b != 3)  # the judge never saw model 3
    tau = leaderboard_kendall_tau(human, (item[keep], a[keep], b[keep], y[keep]), 4, n_boot=50)
    assert tau["n_models"] == 3 and tau["value"] == 1.0


def test_kendall_tau_without_two_common_models_is_undefined():
    tau = leaderboard_kendall_tau(([0], [0], [1], [1.0]), ([], [], [], []), 2, n_boot=20)
    assert tau["value"] is None and tau["ci"] == [None, None]


def _scored_responses(n_items: int, seed: int) -> tuple:
    """Two responses an item; people's mean and median scores on 0..4 and a judge that
    follows them with noise."""
    rng = np.random.default_rng(seed)
    item = np.repeat(np.arange(n_items), 2)
    truth = rng.integers(0, 5, len(item))
    people = np.clip(truth[:, None] + rng.integers(-1, 2, (len(item), 3)), 0, 4)
    judge = np.clip(truth + rng.integers(-1, 2, len(item)), 0, 4)
    return item, judge, people.mean(axis=1), np.median(people, axis=1)


def test_quadratic_kappa_matches_statsmodels():
    from statsmodels.stats.inter_rater import cohens_kappa

    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, 300)
    y = np.clip(x + rng.integers(-2, 3, 300), 0, 4)
    table = np.zeros((5, 5))
    np.add.at(table, (x, y), 1)

    expected = cohens_kappa(table, wt="quadratic").kappa
    assert quadratic_weighted_kappa(x, y, 5) == pytest.approx(expected)
    assert quadratic_weighted_kappa(x, x, 5) == 1.0


def test_score_agreement_matches_statsmodels_and_scipy_with_intervals_over_items():
    from statsmodels.stats.inter_rater import cohens_kappa

    item, judge, mean, median = _scored_responses(150, seed=5)
    median[:4] = [1.5, 2.5, 0.5, 3.5]  # an even count of people: halves round up

    figures = score_agreement(item, judge, mean, median, low=0, high=4, n_boot=200)

    rounded = np.floor(median + 0.5).astype(int)
    assert rounded[:4].tolist() == [2, 3, 1, 4]
    table = np.zeros((5, 5))
    np.add.at(table, (judge, rounded), 1)
    assert figures["quadratic_kappa"]["value"] == pytest.approx(
        cohens_kappa(table, wt="quadratic").kappa
    )
    assert figures["spearman"]["value"] == pytest.approx(
        scipy_stats.spearmanr(judge, mean).statistic
    )
    assert figures["pearson"]["value"] == pytest.approx(scipy_stats.pearsonr(judge, mean).statistic)
    assert figures["n"] == 300
    for name in ("quadratic_kappa", "spearman", "pearson"):
        low, high = figures[name]["ci"]
        assert low < figures[name]["value"] < high
        assert high - low < 0.3


def test_score_agreement_on_a_scale_not_starting_at_zero_and_a_judge_without_spread():
    item = np.arange(6)
    people = np.array([1, 2, 3, 1, 2, 3], dtype=float)
    same = score_agreement(item, people, people, people, low=1, high=3, n_boot=50)
    assert same["quadratic_kappa"]["value"] == 1.0 and same["pearson"]["value"] == 1.0

    flat = score_agreement(item, np.full(6, 2.0), people, people, low=1, high=3, n_boot=50)
    assert flat["spearman"]["value"] is None and flat["quadratic_kappa"]["value"] == 0.0


def test_score_leaderboard_tau_is_scipys_tau_of_the_mean_scores_per_model():
    rng = np.random.default_rng(2)
    model = np.tile(np.arange(4), 50)
    item = np.repeat(np.arange(50), 4)
    people = 4 - model + rng.normal(0, 1, len(model))
    judge = 4 - model + rng.normal(0, 1, len(model))
    judge[model == 3] += 2.5  # the judge likes model 3 more than people do

    tau = score_leaderboard_kendall_tau(model, judge, people, item, n_boot=100)

    means = [(judge[model == m].mean(), people[model == m].mean()) for m in range(4)]
    expected = scipy_stats.kendalltau(*zip(*means, strict=True)).statistic
    assert tau["value"] == pytest.approx(expected) and tau["n_models"] == 4
    low, high = tau["ci"]
    assert low <= tau["value"] <= high


def test_score_leaderboard_tau_needs_three_models():
    tau = score_leaderboard_kendall_tau([0, 1, 0, 1], [1, 2, 1, 2], [2, 1, 2, 1], [0, 0, 1, 1])
    assert tau["value"] is None and tau["ci"] == [None, None]


def test_ranking_position_bias_counts_a_shared_top_as_a_fraction_and_gives_the_expected():
    # Task 1: two answers, both put the first shown on top; task 2: one answer, top shared
    # by the first shown and another (half a hit).
    bias = ranking_position_bias([2, 0.5], [2, 1], expected=1 / 3, n_boot=200)
    assert bias["value"] == pytest.approx(2.5 / 3) and bias["n"] == 3
    assert bias["expected"] == pytest.approx(1 / 3)
    assert bias["ci"] == [pytest.approx(0.5), 1.0]


def test_item_kendall_tau_is_the_mean_of_scipys_tau_per_item():
    rng = np.random.default_rng(6)
    sizes = rng.integers(2, 6, 40)
    item = np.repeat(np.arange(40), sizes)
    human = rng.normal(size=len(item)).round(1)
    judge = (human + rng.normal(0, 0.8, len(item))).round(0)  # rounding leaves ties
    shuffled = rng.permutation(len(item))

    tau = item_kendall_tau(item[shuffled], judge[shuffled], human[shuffled], n_boot=300)

    per_item = [
        scipy_stats.kendalltau(judge[item == i], human[item == i]).statistic for i in range(40)
    ]
    defined = [t for t in per_item if np.isfinite(t)]
    assert tau["value"] == pytest.approx(np.mean(defined)) and tau["n_items"] == len(defined)
    low, high = tau["ci"]
    assert low < tau["value"] < high


def test_ranking_leaderboard_tau_compares_plackett_luce_fits_like_scipy():
    from annotation.stats.listwise import plackett_luce

    rng = np.random.default_rng(8)
    strengths = np.array([1.5, 0.8, 0.0, -0.7])

    def rankings(worths: np.ndarray, n: int, start: int) -> tuple:
        ranking, item, model, group = [], [], [], []
        for r in range(n):
            noisy = worths + rng.gumbel(size=4)
            for place, m in enumerate(np.argsort(-noisy)):
                ranking.append(start + r)
                item.append(r)
                model.append(m)
                group.append(place)
        return tuple(np.array(c) for c in (ranking, item, model, group))

    human = rankings(strengths, 150, 0)
    judge = rankings(strengths[[0, 2, 1, 3]], 150, 1000)

    tau = ranking_leaderboard_kendall_tau(human, judge, 4, n_boot=30)

    fitted = [plackett_luce(r, m, g, 4) for r, _, m, g in (human, judge)]
    assert tau["value"] == pytest.approx(scipy_stats.kendalltau(*fitted).statistic)
    assert tau["value"] == pytest.approx(2 / 3) and tau["n_models"] == 4
    low, high = tau["ci"]
    assert low <= tau["value"] <= high


def test_the_score_agreement_interval_covers_a_planted_correlation_about_95_percent():
    rng = np.random.default_rng(12)
    rho, covered, runs = 0.6, 0, 150
    for run in range(runs):
        judge, people = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], 120).T
        figures = score_agreement(
            np.arange(120), judge, people, np.zeros(120), low=0, high=4, n_boot=200, seed=run
        )
        low, high = figures["pearson"]["ci"]
        covered += low <= rho <= high
    assert 0.88 <= covered / runs <= 0.99


def test_a_bootstrap_round_by_weights_equals_scipy_on_the_drawn_copies():
    from annotation.stats.judges import _midranks, _weighted_pearson

    rng = np.random.default_rng(13)
    judge = rng.integers(0, 5, 60).astype(float)
    people = rng.integers(0, 9, 60) / 2
    weights = rng.integers(0, 4, 60).astype(float)
    copies = np.repeat(np.arange(60), weights.astype(int))

    _, judge_codes = np.unique(judge, return_inverse=True)
    _, people_codes = np.unique(people, return_inverse=True)
    spearman = _weighted_pearson(
        _midranks(judge_codes, judge_codes.max() + 1, weights),
        _midranks(people_codes, people_codes.max() + 1, weights),
        weights,
    )
    assert spearman == pytest.approx(scipy_stats.spearmanr(judge[copies], people[copies]).statistic)
    assert _weighted_pearson(judge, people, weights) == pytest.approx(
        scipy_stats.pearsonr(judge[copies], people[copies]).statistic
    )
    assert quadratic_weighted_kappa(
        judge.astype(int), (2 * people).astype(int) // 2, 5, weights
    ) == pytest.approx(
        quadratic_weighted_kappa(
            judge[copies].astype(int), (2 * people[copies]).astype(int) // 2, 5
        )
    )
