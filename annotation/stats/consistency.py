"""Transitivity of pairwise preferences: how often A > B, B > C but C > A.

Preferences are reduced to a majority graph: an edge i -> j when i won more of its votes
against j than it lost (ties count for neither side; an evenly split pair has no edge).
Only triads whose three pairs all have an edge can be judged, so those are the
"triads_checked"; a checked triad is either transitive or a directed 3-cycle.  With A the
adjacency matrix and D = A + A^T, cycles = trace(A^3) / 3 and triads_checked =
trace(D^3) / 6, so the global count is two M x M matrix products.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "choice_criteria_conflicts",
    "cyclic_triads",
    "transitivity_global",
    "transitivity_per_item",
]


def _count(adjacency: npt.NDArray[np.float64]) -> tuple[int, int]:
    """Cycles and decided triads for one (M, M) or a batch (G, M, M) of 0/1 digraphs."""
    decided = adjacency + np.swapaxes(adjacency, -1, -2)
    a3 = np.trace(adjacency @ adjacency @ adjacency, axis1=-2, axis2=-1)
    d3 = np.trace(decided @ decided @ decided, axis1=-2, axis2=-1)
    return round(float(np.sum(a3)) / 3), round(float(np.sum(d3)) / 6)


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


def transitivity_per_item(
    item_index: npt.ArrayLike,
    model_a: npt.ArrayLike,
    model_b: npt.ArrayLike,
    outcome: npt.ArrayLike,
) -> dict[str, int]:
    """Cyclic triads within each item's own majority graph, summed over items.

    For a prompt whose responses (models) were compared pairwise, possibly by several
    annotators.  Items with fewer than 3 compared models have no triad.  Items are grouped by
    their number of models so the counting is a batched matrix product per group.
    Returns ``{"cycles", "triads_checked", "items_checked"}`` (items with >= 3 models).
    """
    item = np.asarray(item_index, dtype=np.int64).reshape(-1)
    low, high, score = _net_scores(model_a, model_b, outcome)
    if len(item) != len(low):
        raise ValueError("item_index must have one entry per vote")
    if len(item) == 0:
        return {"cycles": 0, "triads_checked": 0, "items_checked": 0}
    _, item = np.unique(item, return_inverse=True)
    item = item.reshape(-1)
    # An item holds a triad only if two different pairs of its models were compared (three
    # models or more): keep those items' votes, usually few (one pair per item is common).
    span = int(high.max()) + 1
    pair = low * span + high
    some_pair = np.empty(int(item.max()) + 1, dtype=np.int64)
    some_pair[item] = pair  # any one of each item's pairs
    several = np.bincount(item, weights=pair != some_pair[item]) > 0
    keep = several[item]
    if not keep.any():
        return {"cycles": 0, "triads_checked": 0, "items_checked": 0}
    item, low, high, score = item[keep], low[keep], high[keep], score[keep]
    # Local model numbering inside each item: rank among the item's distinct models.
    nodes = np.unique(np.concatenate([item * span + low, item * span + high]))
    size = np.bincount(nodes // span)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    local_low = np.searchsorted(nodes, item * span + low) - start[item]
    local_high = np.searchsorted(nodes, item * span + high) - start[item]
    # Net score per (item, pair) decides the edge; an evenly split pair has none.
    width = int(size.max())
    pair_key, pair = np.unique((item * width + local_low) * width + local_high, return_inverse=True)
    net = np.bincount(pair.reshape(-1), weights=score)
    pair_item = pair_key // (width * width)
    pair_low = (pair_key // width) % width
    pair_high = pair_key % width
    winner = np.where(net > 0, pair_low, pair_high)
    loser = np.where(net > 0, pair_high, pair_low)
    decided = net != 0

    cycles = checked = 0
    for s in np.unique(size[size >= 3]):
        group = np.flatnonzero(size == s)
        slot = np.full(len(size), -1)
        slot[group] = np.arange(len(group))
        edges = decided & (slot[pair_item] >= 0)
        adjacency = np.zeros((len(group), s, s))
        adjacency[slot[pair_item[edges]], winner[edges], loser[edges]] = 1.0
        c, t = _count(adjacency)
        cycles += c
        checked += t
    return {
        "cycles": cycles,
        "triads_checked": checked,
        "items_checked": int((size >= 3).sum()),
    }


def choice_criteria_conflicts(choice: npt.ArrayLike, criteria: npt.ArrayLike) -> dict[str, int]:
    """Judgments whose overall choice goes against their own per-criterion answers.

    ``choice`` holds one code per judgment (0 = response a, 1 = response b, anything else
    undecided); ``criteria`` is (n_judgments, n_criteria) with the same codes per criterion
    (2 = tie, -1 = missing). A decided judgment is checked when at least one criterion picks
    a side, and conflicts when more criteria pick the other response than the chosen one.
    """
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
    return {"conflicts": int(conflict.sum()), "checked": int(checked.sum())}
