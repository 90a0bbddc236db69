"""Cyclic triads in majority preference graphs."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation.stats.consistency import (
    choice_criteria_conflicts,
    cyclic_triads,
    transitivity_global,
    transitivity_per_item,
)


def brute_force(preference: np.ndarray) -> dict[str, int]:
    """Check every triad one by one."""
    beats = preference > preference.T
    cycles = checked = 0
    for i, j, k in itertools.combinations(range(len(preference)), 3):
        pairs = [(i, j), (j, k), (i, k)]
        if any(not beats[x, y] and not beats[y, x] for x, y in pairs):
            continue
        checked += 1
        if (beats[i, j] and beats[j, k] and beats[k, i]) or (
            beats[j, i] and beats[k, j] and beats[i, k]
        ):
            cycles += 1
    return {"cycles": cycles, "triads_checked": checked}


def test_rock_paper_scissors_is_one_cycle():
    assert transitivity_global([0, 1, 2], [1, 2, 0], [1, 1, 1]) == {
        "cycles": 1,
        "triads_checked": 1,
    }


def test_transitive_order_has_no_cycle():
    a, b = zip(*itertools.combinations(range(5), 2), strict=True)
    assert transitivity_global(a, b, np.ones(len(a))) == {"cycles": 0, "triads_checked": 10}


def test_tied_or_unseen_pairs_leave_the_triad_unchecked():
    # 0 > 1 and 1 > 2, but 0-2 is split one vote each and 3 never met 0.
    result = transitivity_global([0, 1, 0, 2, 1, 2], [1, 2, 2, 0, 3, 3], [1, 1, 1, 1, 1, 1])
    assert result == {"cycles": 0, "triads_checked": 1}  # only {1, 2, 3}


def test_ties_do_not_create_edges():
    assert transitivity_global([0, 1, 2], [1, 2, 0], [0.5, 0.5, 0.5]) == {
        "cycles": 0,
        "triads_checked": 0,
    }


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(3, 9))
def test_global_count_matches_brute_force(seed, m):
    rng = np.random.default_rng(seed)
    preference = rng.integers(0, 3, size=(m, m))
    np.fill_diagonal(preference, 0)
    assert cyclic_triads(preference) == brute_force(preference)


def test_per_item_counts_each_item_separately():
    # Item 5 is a rock-paper-scissors cycle, item 7 transitive; pooled they would cancel out.
    item = [5, 5, 5, 7, 7, 7]
    a = [0, 1, 2, 0, 1, 0]
    b = [1, 2, 0, 1, 2, 2]
    result = transitivity_per_item(item, a, b, [1, 1, 1, 1, 1, 1])
    assert result == {"cycles": 1, "triads_checked": 2, "items_checked": 2}


def test_items_with_fewer_than_three_models_are_ignored():
    result = transitivity_per_item([1, 1, 2], [0, 0, 3], [1, 1, 4], [1, 0, 1])
    assert result == {"cycles": 0, "triads_checked": 0, "items_checked": 0}


def per_item_by_loop(item, a, b, outcome, n_models=7):
    """The per-item count, one item at a time through the brute force."""
    expected = {"cycles": 0, "triads_checked": 0, "items_checked": 0}
    for value in np.unique(item):
        mask = item == value
        net = np.zeros((n_models, n_models))
        np.add.at(net, (a[mask], b[mask]), 2 * outcome[mask] - 1)
        net = net - net.T
        models = np.union1d(a[mask], b[mask])
        counts = brute_force(net[np.ix_(models, models)])
        expected["cycles"] += counts["cycles"]
        expected["triads_checked"] += counts["triads_checked"]
        expected["items_checked"] += int(len(models) >= 3)
    return expected


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_per_item_matches_looping_over_items(seed):
    rng = np.random.default_rng(seed)
    n = 400
    item = rng.integers(0, 30, n) * 11
    a = rng.integers(0, 7, n)
    b = (a + rng.integers(1, 7, n)) % 7
    outcome = rng.choice([0.0, 0.5, 1.0], n)
    assert transitivity_per_item(item, a, b, outcome) == per_item_by_loop(item, a, b, outcome)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_per_item_matches_looping_when_most_items_compare_one_pair(seed):
    # The usual project: one pair of models per item, a few items with several pairs.
    rng = np.random.default_rng(seed)
    single = np.repeat(np.arange(100), 3)
    a_single = np.repeat(rng.integers(0, 7, 100), 3)
    b_single = (a_single + np.repeat(rng.integers(1, 7, 100), 3)) % 7
    several = rng.integers(100, 105, 60)
    a_several = rng.integers(0, 7, 60)
    b_several = (a_several + rng.integers(1, 7, 60)) % 7
    order = rng.permutation(360)
    item = np.concatenate([single, several])[order]
    a = np.concatenate([a_single, a_several])[order]
    b = np.concatenate([b_single, b_several])[order]
    outcome = rng.choice([0.0, 0.5, 1.0], 360)
    assert transitivity_per_item(item, a, b, outcome) == per_item_by_loop(item, a, b, outcome)


def test_a_choice_against_most_of_its_own_criteria_is_a_conflict():
    choice = [0, 0, 1, 2, 0]
    criteria = [[0, 0], [1, 1], [1, 2], [0, 1], [-1, -1]]
    # 1: agrees; 2: chose a, both criteria b -> conflict; 3: agrees; 4: a tie is not
    # checked; 5: no criterion picks a side.
    assert choice_criteria_conflicts(choice, criteria) == {"conflicts": 1, "checked": 3}


def test_conflicts_over_no_judgments_are_none_checked():
    """A pairwise project with criteria and no human judgment reached this with empty
    columns (numpy cannot reshape an empty array to (0, -1))."""
    assert choice_criteria_conflicts(np.empty(0, np.int64), np.empty((0, 2), np.int64)) == {
        "conflicts": 0,
        "checked": 0,
    }
    assert choice_criteria_conflicts([], []) == {"conflicts": 0, "checked": 0}
