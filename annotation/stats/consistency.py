"""Transitivity of pairwise preferences: how often A > B, B > C but C > A.

Preferences are reduced to a majority graph: an edge i -> j when i won more of its votes
against j than it lost (ties count for neither side; an evenly split pair has no edge).
Only triads whose three pairs all have an edge can be judged, so those are the
"triads_checked"; a checked triad is either transitive or a directed 3-cycle.  With A the
adjacency matrix and D = A + A^T, cycles = trace(A^3) / 3 and triads_checked =
trace(D^3) / 6, so the global count is two M x M matrix products.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "annotator_inconsistencies",
    "choice_criteria_conflicts",
    "choice_criteria_conflicts_by_annotator",
    "cyclic_triads",
    "transitivity_global",
    "transitivity_items",
    "transitivity_per_item",
]


def _count_each(
    adjacency: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Cycles and decided triads of each 0/1 digraph of a batch (G, M, M)."""
    decided = adjacency + np.swapaxes(adjacency, -1, -2)
    a3 = np.trace(adjacency @ adjacency @ adjacency, axis1=-2, axis2=-1)
    d3 = np.trace(decided @ decided @ decided, axis1=-2, axis2=-1)
    return np.rint(a3 / 3).astype(np.int64), np.rint(d3 / 6).astype(np.int64)


def _count(adjacency: npt.NDArray[np.float64]) -> tuple[int, int]:
    """Cycles and decided triads for one (M, M) or a batch (G, M, M) of 0/1 digraphs."""
    cycles, checked = _count_each(adjacency)
    return int(np.sum(cycles)), int(np.sum(checked))


def cyclic_triads(preference: npt.ArrayLike) -> dict[str, int]:
    """Count cyclic triads in the majority graph of an (M, M) preference matrix.

    ``preference[i, j]`` is how much i was preferred to j (e.g. wins of i over j); i -> j when
    ``preference[i, j] > preference[j, i]``.  Returns ``{"cycles", "triads_checked"}``.
    """
    p = np.asarray(preference, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError("preference must be a square matrix")
    adjacency = (p > p.T).astype(np.float64)
    cycles, checked = _count(adjacency)
    return {"cycles": cycles, "triads_checked": checked}


def _net_scores(
    model_a: npt.ArrayLike, model_b: npt.ArrayLike, outcome: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(low, high, +1/-1/0) per vote: +1 when the lower-indexed model won."""
    a = np.asarray(model_a, dtype=np.int64).reshape(-1)
    b = np.asarray(model_b, dtype=np.int64).reshape(-1)
    y = np.asarray(outcome, dtype=np.float64).reshape(-1)
    if not (len(a) == len(b) == len(y)):
        raise ValueError("model_a, model_b and outcome must have the same length")
    if not np.all((y == 0) | (y == 0.5) | (y == 1)):
        raise ValueError("outcome must be 1 (a wins), 0 (b wins) or 0.5 (tie)")
    if np.any(a == b):
        raise ValueError("a model cannot be compared with itself")
    low, high = np.minimum(a, b), np.maximum(a, b)
    score = (2 * y - 1) * np.where(a < b, 1.0, -1.0)
    return low, high, score


def transitivity_global(
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
    n_models: int | None = None,
) -> dict[str, int]:
    """Cyclic triads in the majority graph of all votes (1 = a wins, 0 = b wins, 0.5 tie)."""
    low, high, score = _net_scores(model_a, model_b, outcome)
    m = int(n_models) if n_models is not None else int(high.max()) + 1 if len(high) else 0
    net = np.bincount(low * m + high, weights=score, minlength=m * m).reshape(m, m)
    return cyclic_triads(net - net.T)


class _GroupPairs(NamedTuple):
    """The compared pairs of each group (an item, or one annotator's votes on an item) that
    holds a triad: groups numbered 0..G-1 (``key`` gives each one's original key), models
    numbered inside their group (``size`` of them), and each pair's net score (> 0: the
    lower-numbered model won more of its votes)."""

    key: npt.NDArray[np.int64]
    size: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    low: npt.NDArray[np.int64]
    high: npt.NDArray[np.int64]
    net: npt.NDArray[np.float64]


def _group_pairs(
    group_key: npt.NDArray[np.int64],
    low: npt.NDArray[np.int64],
    high: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
) -> _GroupPairs | None:
    """Votes reduced to net scores per (group, pair), for the groups where two different
    pairs were compared (three models or more); None when there is no such group."""
    if len(group_key) == 0:
        return None
    keys, group = np.unique(group_key, return_inverse=True)
    group = group.reshape(-1)
    # A group holds a triad only if two different pairs of its models were compared: keep
    # those groups' votes, usually few (one pair per item is common).
    span = int(high.max()) + 1
    pair = low * span + high
    some_pair = np.empty(len(keys), dtype=np.int64)
    some_pair[group] = pair  # any one of each group's pairs
    several = np.bincount(group, weights=pair != some_pair[group], minlength=len(keys)) > 0
    keep = several[group]
    if not keep.any():
        return None
    group, low, high, score = group[keep], low[keep], high[keep], score[keep]
    kept = np.flatnonzero(several)
    group = np.searchsorted(kept, group)
    # Local model numbering inside each group: rank among the group's distinct models.
    nodes = np.unique(np.concatenate([group * span + low, group * span + high]))
    size = np.bincount(nodes // span, minlength=len(kept))
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    local_low = np.searchsorted(nodes, group * span + low) - start[group]
    local_high = np.searchsorted(nodes, group * span + high) - start[group]
    width = int(size.max())
    pair_key, pair = np.unique(
        (group * width + local_low) * width + local_high, return_inverse=True
    )
    net = np.bincount(pair.reshape(-1), weights=score)
    return _GroupPairs(
        key=keys[kept],
        size=size,
        group=pair_key // (width * width),
        low=(pair_key // width) % width,
        high=pair_key % width,
        net=net,
    )


def _by_size(
    pairs: _GroupPairs,
) -> Iterator[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]]:
    """For each group size of three models or more: the size, the groups of that size, each
    group's slot among them (-1 for the others) and which pairs belong to them, so a batch of
    (groups, size, size) matrices holds them."""
    for s in np.unique(pairs.size[pairs.size >= 3]):
        group = np.flatnonzero(pairs.size == s)
        slot = np.full(len(pairs.size), -1)
        slot[group] = np.arange(len(group))
        yield int(s), group, slot, slot[pairs.group] >= 0


def transitivity_items(
    item_index: npt.ArrayLike,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
) -> dict[str, npt.NDArray[np.int64]]:
    """Cyclic triads within each item's own majority graph, item by item.

    Returns ``{"item", "cycles", "triads_checked"}``: parallel arrays over the items with three
    compared models or more (``item`` holds their ids as given). Items are grouped by their
    number of models so the counting is a batched matrix product per group.
    """
    item = np.asarray(item_index, dtype=np.int64).reshape(-1)
    low, high, score = _net_scores(model_a, model_b, outcome)
    if len(item) != len(low):
        raise ValueError("item_index must have one entry per vote")
    pairs = _group_pairs(item, low, high, score)
    empty = np.zeros(0, dtype=np.int64)
    if pairs is None or not (pairs.size >= 3).any():
        return {"item": empty, "cycles": empty, "triads_checked": empty}
    # Net score per (item, pair) decides the edge; an evenly split pair has none.
    winner = np.where(pairs.net > 0, pairs.low, pairs.high)
    loser = np.where(pairs.net > 0, pairs.high, pairs.low)
    decided = pairs.net != 0
    cycles = np.zeros(len(pairs.size), dtype=np.int64)
    checked = np.zeros(len(pairs.size), dtype=np.int64)
    for s, group, slot, on in _by_size(pairs):
        edges = decided & on
        adjacency = np.zeros((len(group), s, s))
        adjacency[slot[pairs.group[edges]], winner[edges], loser[edges]] = 1.0
        cycles[group], checked[group] = _count_each(adjacency)
    triads = pairs.size >= 3
    return {"item": pairs.key[triads], "cycles": cycles[triads], "triads_checked": checked[triads]}


def transitivity_per_item(
    item_index: npt.ArrayLike,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
) -> dict[str, int]:
    """Cyclic triads within each item's own majority graph, summed over items.

    For a prompt whose responses (models) were compared pairwise, possibly by several
    annotators.  Items with fewer than 3 compared models have no triad.
    Returns ``{"cycles", "triads_checked", "items_checked"}`` (items with >= 3 models).
    """
    return _per_item_totals(transitivity_items(item_index, model_a, model_b, outcome))


def _per_item_totals(items: dict[str, npt.NDArray[np.int64]]) -> dict[str, int]:
    return {
        "cycles": int(items["cycles"].sum()),
        "triads_checked": int(items["triads_checked"].sum()),
        "items_checked": len(items["item"]),
    }


#: Triads classified per group at a time, so the (groups x triads) arrays stay small.
TRIAD_CELLS = 2_000_000


def annotator_inconsistencies(
    annotator_index: npt.ArrayLike,
    item_index: npt.ArrayLike,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
) -> dict[str, npt.NDArray[np.int64]]:
    """Each annotator's own inconsistent triads (TrustJudge's pairwise-transitivity
    inconsistencies), within an item whose responses they compared pairwise.

    An annotator's votes on one item give each compared pair a relation (>, < or =, a pair
    voted on several times by its net score: evenly split is =). A triad of models whose three
    pairs they compared is consistent when some weak order (a ranking with ties) agrees with
    all three. If not, it is *intransitive* when the three are strict (A>B, B>C, C>A), else a
    *tie contradiction*: a tie that the strict preferences contradict (A>B, B>C but A=C) or
    ties that a strict preference contradicts (A=B, B=C but A>C).

    Returns ``{"annotator", "triads_checked", "intransitive", "tie_contradictions"}``:
    parallel arrays over the annotators with at least one checked triad.
    """
    annotator = np.asarray(annotator_index, dtype=np.int64).reshape(-1)
    item = np.asarray(item_index, dtype=np.int64).reshape(-1)
    low, high, score = _net_scores(model_a, model_b, outcome)
    if not (len(annotator) == len(item) == len(low)):
        raise ValueError("annotator_index and item_index must have one entry per vote")
    empty = np.zeros(0, dtype=np.int64)
    nothing = {
        "annotator": empty,
        "triads_checked": empty,
        "intransitive": empty,
        "tie_contradictions": empty,
    }
    if len(item) == 0:
        return nothing
    _, item_code = np.unique(item, return_inverse=True)
    _, who = np.unique(annotator, return_inverse=True)
    n_items = int(item_code.max()) + 1
    pairs = _group_pairs(who.reshape(-1) * n_items + item_code.reshape(-1), low, high, score)
    if pairs is None or not (pairs.size >= 3).any():
        return nothing
    relation = np.sign(pairs.net)  # +1: the lower-numbered model preferred, 0: a tie
    checked = np.zeros(len(pairs.size), dtype=np.int64)
    cyclic = np.zeros(len(pairs.size), dtype=np.int64)
    tied = np.zeros(len(pairs.size), dtype=np.int64)
    for s, group, slot, on in _by_size(pairs):
        # r[g, i, j]: +1 i preferred to j, -1 j preferred, 0 tie, nan not compared.
        r = np.full((len(group), s, s), np.nan)
        r[slot[pairs.group[on]], pairs.low[on], pairs.high[on]] = relation[on]
        r[slot[pairs.group[on]], pairs.high[on], pairs.low[on]] = -relation[on]
        i, j, k = (np.asarray(v) for v in zip(*combinations(range(int(s)), 3), strict=True))
        step = max(1, TRIAD_CELLS // len(i))
        for first in range(0, len(group), step):
            chunk = r[first : first + step]
            # Around the triad i -> j -> k -> i: consistent unless every strict relation
            # points the same way round (a cycle, or ties closed by a strict step).
            around = np.stack([chunk[:, i, j], chunk[:, j, k], chunk[:, k, i]])
            seen = ~np.isnan(around).any(axis=0)
            forward = (around > 0).sum(axis=0)
            backward = (around < 0).sum(axis=0)
            one_way = seen & ((forward == 0) != (backward == 0))
            strict = (forward == 3) | (backward == 3)
            rows = group[first : first + step]
            checked[rows] = seen.sum(axis=1)
            cyclic[rows] = (one_way & strict).sum(axis=1)
            tied[rows] = (one_way & ~strict).sum(axis=1)
    owner = pairs.key // n_items
    n_annotators = int(who.max()) + 1
    totals = [
        np.bincount(owner, weights=v, minlength=n_annotators) for v in (checked, cyclic, tied)
    ]
    listed = np.flatnonzero(totals[0] > 0)
    return {
        "annotator": np.unique(annotator)[listed],
        "triads_checked": totals[0][listed].astype(np.int64),
        "intransitive": totals[1][listed].astype(np.int64),
        "tie_contradictions": totals[2][listed].astype(np.int64),
    }


def choice_criteria_conflicts(choice: npt.ArrayLike, criteria: npt.ArrayLike) -> dict[str, int]:
    """Judgments whose overall choice goes against their own per-criterion answers.

    ``choice`` holds one code per judgment (0 = response a, 1 = response b, anything else
    undecided); ``criteria`` is (n_judgments, n_criteria) with the same codes per criterion
    (2 = tie, -1 = missing). A decided judgment is checked when at least one criterion picks
    a side, and conflicts when more criteria pick the other response than the chosen one.
    """
    checked, conflict = _choice_conflicts(choice, criteria)
    return {"conflicts": int(conflict.sum()), "checked": int(checked.sum())}


def _choice_conflicts(
    choice: npt.ArrayLike, criteria: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per judgment: whether it is checked, and whether it conflicts (see above)."""
    choice = np.asarray(choice, dtype=np.int64).reshape(-1)
    answers = np.asarray(criteria, dtype=np.int64)
    if answers.ndim != 2:  # one criterion as a flat column (reshape(0, -1) is ambiguous)
        answers = answers.reshape(len(choice), -1 if len(choice) else 0)
    if len(answers) != len(choice):
        raise ValueError("criteria must have one row per judgment")
    for_a = (answers == 0).sum(axis=1)
    for_b = (answers == 1).sum(axis=1)
    checked = ((choice == 0) | (choice == 1)) & ((for_a + for_b) > 0)
    conflict = checked & (((choice == 0) & (for_b > for_a)) | ((choice == 1) & (for_a > for_b)))
    return checked, conflict


def choice_criteria_conflicts_by_annotator(
    annotator_index: npt.ArrayLike, choice: npt.ArrayLike, criteria: npt.ArrayLike
) -> dict[str, npt.NDArray[np.int64]]:
    """choice_criteria_conflicts per annotator (TrustJudge's score-comparison
    inconsistencies: a response chosen while the annotator's own criterion answers favour
    the other). Returns ``{"annotator", "conflicts", "checked"}``: parallel arrays over the
    annotators with at least one checked judgment."""
    annotator = np.asarray(annotator_index, dtype=np.int64).reshape(-1)
    checked, conflict = _choice_conflicts(choice, criteria)
    if len(annotator) != len(checked):
        raise ValueError("annotator_index must have one entry per judgment")
    ids, who = np.unique(annotator, return_inverse=True)
    n_checked = np.bincount(who.reshape(-1), weights=checked, minlength=len(ids))
    n_conflicts = np.bincount(who.reshape(-1), weights=conflict, minlength=len(ids))
    listed = n_checked > 0
    return {
        "annotator": ids[listed],
        "conflicts": n_conflicts[listed].astype(np.int64),
        "checked": n_checked[listed].astype(np.int64),
    }
