"""Cyclic triads in majority preference graphs."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation.stats.consistency import (
    annotator_inconsistencies,
    choice_criteria_conflicts,
    choice_criteria_conflicts_by_annotator,
    cyclic_triads,
    transitivity_global,
    transitivity_items,
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


def _net_matrix(a, b, outcome, size: int) -> np.ndarray:
    """net[i, j]: votes for i over j minus votes for j over i (ties count for neither)."""
    net = np.zeros((size, size))
    for x, y, o in zip(a, b, outcome, strict=True):
        net[x, y] += 2 * o - 1
        net[y, x] -= 2 * o - 1
    return net


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_items_with_cycles_match_checking_each_items_triads_one_by_one(seed):
    rng = np.random.default_rng(seed)
    n = 300
    item = rng.integers(0, 25, n) * 7 + 3
    a = rng.integers(0, 6, n)
    b = (a + rng.integers(1, 6, n)) % 6
    outcome = rng.choice([0.0, 0.5, 1.0], n)
    found = transitivity_items(item, a, b, outcome)
    expected = {}
    for value in np.unique(item):
        here = item == value
        models = np.unique(np.concatenate([a[here], b[here]]))
        if len(models) < 3:
            continue
        counts = brute_force(
            _net_matrix(a[here], b[here], outcome[here], 6)[np.ix_(models, models)]
        )
        expected[int(value)] = (counts["cycles"], counts["triads_checked"])
    got = {
        int(i): (int(c), int(t))
        for i, c, t in zip(found["item"], found["cycles"], found["triads_checked"], strict=True)
    }
    assert got == expected
    assert transitivity_per_item(item, a, b, outcome)["cycles"] == sum(c for c, _ in got.values())


def test_an_item_whose_majorities_go_round_is_listed_with_its_cycle():
    # q1: m0 > m1 > m2 > m0 by majority; q2: an order; q3: two models only.
    item = [1, 1, 1, 1, 2, 2, 2, 3]
    a = [0, 1, 2, 2, 0, 1, 0, 0]
    b = [1, 2, 0, 0, 1, 2, 2, 1]
    outcome = [1, 1, 1, 1, 1, 1, 1, 0]
    found = transitivity_items(item, a, b, outcome)
    assert found["item"].tolist() == [1, 2]
    assert found["cycles"].tolist() == [1, 0]


def _weakly_ordered(relation: dict[tuple[int, int], int], triad: tuple[int, int, int]) -> bool:
    """Whether some ranking with ties (ranks 0-2, lower is better) agrees with every relation
    ((x, y): +1 x preferred, -1 y preferred, 0 a tie)."""
    for ranks in itertools.product(range(3), repeat=3):
        rank = dict(zip(triad, ranks, strict=True))
        if all(np.sign(rank[y] - rank[x]) == r for (x, y), r in relation.items()):
            return True
    return False


def inconsistencies_by_brute_force(annotator, item, a, b, outcome) -> dict[int, tuple]:
    """Each annotator's triads on each item, one by one: (checked, intransitive, tie)."""
    counts: dict[int, list[int]] = {}
    for who, what in {(int(w), int(i)) for w, i in zip(annotator, item, strict=True)}:
        here = (annotator == who) & (item == what)
        net: dict[tuple[int, int], float] = {}
        for x, y, o in zip(a[here], b[here], outcome[here], strict=True):
            x, y, o = (int(x), int(y), o) if x < y else (int(y), int(x), 1 - o)
            net[(x, y)] = net.get((x, y), 0.0) + 2 * o - 1
        models = sorted({m for pair in net for m in pair})
        for triad in itertools.combinations(models, 3):
            pairs = list(itertools.combinations(triad, 2))
            if any(pair not in net for pair in pairs):
                continue
            # relation (x, y) = +1: x preferred, so x ranks better (lower) than y.
            relation = {pair: int(np.sign(net[pair])) for pair in pairs}
            row = counts.setdefault(who, [0, 0, 0])
            row[0] += 1
            if _weakly_ordered(relation, triad):
                continue
            row[1 if 0 not in relation.values() else 2] += 1
    return {w: tuple(c) for w, c in counts.items()}


def _by_annotator(found) -> dict[int, tuple]:
    return {
        int(w): (int(c), int(i), int(t))
        for w, c, i, t in zip(
            found["annotator"],
            found["triads_checked"],
            found["intransitive"],
            found["tie_contradictions"],
            strict=True,
        )
    }


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_annotator_inconsistencies_match_checking_every_triad_one_by_one(seed):
    rng = np.random.default_rng(seed)
    n = 400
    annotator = rng.integers(0, 8, n) * 5 + 1
    item = rng.integers(0, 12, n) * 3
    a = rng.integers(0, 5, n)
    b = (a + rng.integers(1, 5, n)) % 5
    outcome = rng.choice([0.0, 0.5, 1.0], n)
    found = annotator_inconsistencies(annotator, item, a, b, outcome)
    assert _by_annotator(found) == inconsistencies_by_brute_force(annotator, item, a, b, outcome)


def test_a_cycle_a_tie_between_two_strict_steps_and_a_tie_chain_broken_by_a_preference():
    # Annotator 1 on item 10: A>B, B>C, C>A. Annotator 2 on item 10: A>B, B>C, A=C.
    # Annotator 3 on item 11: A=B, B=C, A>C. Annotator 4: A>B, A>C, B=C (a ranking with ties).
    annotator = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    item = [10] * 6 + [11] * 6
    a = [0, 1, 2, 0, 1, 0, 0, 1, 0, 0, 0, 1]
    b = [1, 2, 0, 1, 2, 2, 1, 2, 2, 1, 2, 2]
    outcome = [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 1, 1, 1, 0.5]
    found = _by_annotator(annotator_inconsistencies(annotator, item, a, b, outcome))
    assert found == {1: (1, 1, 0), 2: (1, 0, 1), 3: (1, 0, 1), 4: (1, 0, 0)}


def test_votes_on_different_items_never_form_an_annotators_triad():
    found = annotator_inconsistencies([1, 1, 1], [1, 2, 3], [0, 1, 2], [1, 2, 0], [1, 1, 1])
    assert len(found["annotator"]) == 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_choice_conflicts_by_annotator_are_each_annotators_own_count(seed):
    rng = np.random.default_rng(seed)
    n = 200
    annotator = rng.integers(0, 9, n) * 4
    choice = rng.integers(-1, 4, n)
    criteria = rng.integers(-1, 3, (n, 3))
    found = choice_criteria_conflicts_by_annotator(annotator, choice, criteria)
    expected = {
        int(who): choice_criteria_conflicts(choice[annotator == who], criteria[annotator == who])
        for who in np.unique(annotator)
    }
    expected = {who: counts for who, counts in expected.items() if counts["checked"]}
    got = {
        int(w): {"conflicts": int(c), "checked": int(k)}
        for w, c, k in zip(found["annotator"], found["conflicts"], found["checked"], strict=True)
    }
    assert got == expected
