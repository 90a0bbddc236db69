"""stats.groups: k-anonymous groups, rating differences between groups, and whether groups'
majority labels agree."""

from __future__ import annotations

import numpy as np
import pytest

from annotation.stats import aggregate_votes, leaderboard_from_counts
from annotation.stats.groups import (
    OTHER,
    groups_at_least_k,
    majority_agreement_between,
    rating_differences,
)


def test_groups_under_k_are_merged_into_other_and_other_under_k_left_out():
    rows = np.array([1, 1, 2, 3, 4, 5, 6, 7, 8, 9])  # one judgment each, annotator 1 twice
    member = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9])
    group = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3])  # a: 3 people, b: 2, c: 3, d: 1
    masks, sizes = groups_at_least_k(rows, member, group, ["a", "b", "c", "d"], k=3)
    assert list(masks) == ["a", "c", OTHER] and sizes == {"a": 3, "c": 3, OTHER: 3}
    assert masks[OTHER].tolist() == [False] * 4 + [True, True] + [False] * 3 + [True]
    masks, sizes = groups_at_least_k(rows, member, group, ["a", "b", "c", "d"], k=4)
    assert sizes == {OTHER: 9}
    masks, sizes = groups_at_least_k(rows, member, group, ["a", "b", "c", "d"], k=10)
    assert masks == {} and sizes == {}


def test_a_small_remainder_takes_the_smallest_group_with_it_into_other():
    # a: 6 people, b: 5, c: 2 with k = 5. Leaving c out alone would let anyone read c's
    # figures as the pooled ones minus a's and b's: b goes into other with c instead.
    member = np.arange(1, 14)
    group = np.array([0] * 6 + [1] * 5 + [2] * 2)
    masks, sizes = groups_at_least_k(member, member, group, ["a", "b", "c"], k=5)

    assert sizes == {"a": 6, OTHER: 7}
    assert masks[OTHER].tolist() == [False] * 6 + [True] * 7


def test_one_shown_group_and_a_small_remainder_are_one_group_other():
    member = np.arange(1, 9)
    masks, sizes = groups_at_least_k(member, member, np.array([0] * 6 + [1] * 2), ["a", "b"], k=5)

    assert sizes == {OTHER: 8} and masks[OTHER].all()


def test_a_few_annotators_without_an_answer_join_other_so_no_subtraction_reveals_them():
    # a: 6 people, b: 5 and two (12, 13) who did not answer, with k = 5: showing a and b
    # alone would give 12 and 13's figures as the pooled ones minus a's and b's.
    rows = np.arange(1, 14)
    member = np.arange(1, 12)
    group = np.array([0] * 6 + [1] * 5)
    masks, sizes = groups_at_least_k(rows, member, group, ["a", "b"], k=5)

    assert sizes == {"a": 6, OTHER: 7}
    left_out = ~np.any(list(masks.values()), axis=0)
    assert not left_out.any()  # pooled minus the shown groups is nobody
    assert masks[OTHER].tolist() == [False] * 6 + [True] * 7


def test_as_many_as_k_annotators_without_an_answer_are_simply_in_no_group():
    rows = np.arange(1, 17)
    member = np.arange(1, 12)
    masks, sizes = groups_at_least_k(rows, member, np.array([0] * 6 + [1] * 5), ["a", "b"], k=5)

    assert sizes == {"a": 6, "b": 5}
    assert (~np.any(list(masks.values()), axis=0)).sum() == 5


def test_members_without_judgments_do_not_count_towards_k():
    masks, sizes = groups_at_least_k(
        np.array([1, 2]), np.array([1, 2, 3, 4, 5]), np.zeros(5, int), ["a"], k=3
    )
    assert masks == {} and sizes == {}


def test_an_annotator_in_two_groups_counts_in_both():
    masks, sizes = groups_at_least_k(
        np.array([1, 2, 3]), np.array([1, 2, 3, 1, 2, 3]), np.array([0, 0, 0, 1, 1, 1]),
        ["en", "fr"], k=3,
    )  # fmt: skip
    assert sizes == {"en": 3, "fr": 3} and masks["en"].all() and masks["fr"].all()


def _fit(p_first_wins: float, seed: int, n: int = 400) -> dict:
    rng = np.random.default_rng(seed)
    a = np.tile([0, 0, 1], n // 3)
    b = np.tile([1, 2, 2], n // 3)
    p = np.where((a == 0) & (b == 1), p_first_wins, 0.5)
    outcome = (rng.random(len(a)) < p).astype(float)
    wins, ties = aggregate_votes(a, b, outcome, 3)
    return leaderboard_from_counts(wins, ties, n_boot=300, seed=seed, keep_boot=True)


def test_rating_differences_separate_opposite_groups_and_not_the_neutral_model():
    first, second = _fit(0.85, seed=1), _fit(0.15, seed=2)
    rows = {r["model"]: r for r in rating_differences(first, second, ["x", "y", "z"])}
    assert rows["x"]["ci"][0] > 0 > rows["y"]["ci"][1]
    assert rows["z"]["ci"][0] < 0 < rows["z"]["ci"][1]
    assert rows["x"]["difference"] == pytest.approx(first["rating"][0] - second["rating"][0])


def test_differences_between_groups_alike_cover_zero_about_95_percent_of_the_time():
    covered = [
        row["ci"][0] <= 0 <= row["ci"][1]
        for seed in range(40)
        for row in rating_differences(
            _fit(0.7, seed=2 * seed), _fit(0.7, seed=2 * seed + 1), ["x", "y", "z"]
        )
    ]
    assert 0.88 <= np.mean(covered) <= 1.0


def test_majority_agreement_between_groups():
    # Tasks 0-3 on items 0-3; group g says a (0) everywhere, group h a on 0-1, b on 2-3, and
    # is split on task 3 (no majority: not compared).
    task = np.array([0, 0, 1, 1, 2, 2, 3, 3, 0, 1, 2, 3, 3])
    label = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1])
    g = np.array([True] * 8 + [False] * 5)
    (row,) = majority_agreement_between(
        task, label, task, {"g": g, "h": ~g}, n_labels=4, n_boot=200
    )
    assert row["groups"] == ["g", "h"] and row["n_tasks"] == 3
    assert row["value"] == pytest.approx(2 / 3)
    assert row["ci"][0] <= row["value"] <= row["ci"][1]


def test_a_model_only_one_group_rated_does_not_shift_the_others_differences():
    rng = np.random.default_rng(5)
    a, b = np.tile([0, 0, 1], 200), np.tile([1, 2, 2], 200)
    outcome = (rng.random(600) < 0.6).astype(float)
    first = leaderboard_from_counts(*aggregate_votes(a, b, outcome, 4), n_boot=200, keep_boot=True)
    # The second group cast the same votes, and also rated a fourth model (w) that lost every
    # game against the three others alike: far below them, it would drag their mean down.
    a2, b2 = np.concatenate([a, np.full(90, 3)]), np.concatenate([b, np.tile([0, 1, 2], 30)])
    outcome2 = np.concatenate([outcome, np.zeros(90)])
    second = leaderboard_from_counts(
        *aggregate_votes(a2, b2, outcome2, 4), n_boot=200, seed=1, keep_boot=True
    )
    assert second["rating"][3] < second["rating"][:3].min() - 300
    rows = {r["model"]: r for r in rating_differences(first, second, ["x", "y", "z", "w"])}
    assert set(rows) == {"x", "y", "z"}  # w is in one board only
    assert all(abs(r["difference"]) < 5 for r in rows.values())
    assert all(r["ci"][0] < 0 < r["ci"][1] for r in rows.values())
