"""Figures by group (README "Figures by group"): which judgments each group of annotators
holds once groups too small to show are merged (k-anonymity), how far two groups' ratings of
a model are apart, and how often two groups' majority labels agree.

Pure numpy: arrays of ids in, masks and numbers out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt

from annotation.stats.aggregation import majority_vote
from annotation.stats.agreement import reference_agreement
from annotation.stats.resampling import ci_entry

#: The group that holds every group too small to show on its own.
OTHER = "other"

BoolArray = npt.NDArray[np.bool_]


def groups_at_least_k(
    row_annotator: npt.ArrayLike,
    member_annotator: npt.ArrayLike,
    member_group: npt.ArrayLike,
    names: Sequence[str],
    k: int,
) -> tuple[dict[str, BoolArray], dict[str, int]]:
    """The rows (judgments, by their annotator) of each group of annotators that may be shown.

    ``member_annotator[i]`` belongs to group ``member_group[i]`` (an index into ``names``); an
    annotator may belong to several groups (a multiple-choice answer) and then counts in each.
    A group is shown when at least ``k`` of its members have rows; the rest are merged into
    ``OTHER`` as ``groups_shown`` does, with the annotators who have rows but no group (no
    answer) when they are fewer than ``k``. Returns (rows of each shown group, its number of
    annotators with rows), sorted by name with ``OTHER`` last.
    """
    row_annotator = np.asarray(row_annotator, dtype=np.int64).reshape(-1)
    member_annotator = np.asarray(member_annotator, dtype=np.int64).reshape(-1)
    member_group = np.asarray(member_group, dtype=np.int64).reshape(-1)
    present = np.unique(row_annotator)
    active = np.isin(member_annotator, present)
    member_annotator, member_group = member_annotator[active], member_group[active]
    members = {
        name: np.unique(member_annotator[member_group == code]) for code, name in enumerate(names)
    }
    unplaced = np.setdiff1d(present, member_annotator)
    shown = groups_shown(members, k, unplaced=unplaced)
    order = sorted(shown, key=lambda name: (name == OTHER, name))
    masks = {name: np.isin(row_annotator, shown[name]) for name in order}
    return masks, {name: len(shown[name]) for name in order}


def groups_shown(
    members: Mapping[str, npt.NDArray[np.int64]],
    k: int,
    *,
    unplaced: npt.NDArray[np.int64] | None = None,
) -> dict[str, npt.NDArray[np.int64]]:
    """The groups that may be shown, from each group's members (unique annotator ids): a
    group of at least ``k`` stays itself; the smaller ones (and one literally named
    ``OTHER``) are merged into ``OTHER``. ``unplaced`` are the pooled annotators in no group
    (they did not answer): fewer than ``k`` of them join ``OTHER`` too, since they count in
    the pooled figures and would otherwise be those minus every group's. Should that merge
    still be under ``k``, the smallest shown group joins it, since leaving it out alone would
    let anyone read its figures as the pooled ones minus the shown groups'; ``OTHER`` is left
    out only when every member together is under ``k``."""
    shown = {name: ids for name, ids in members.items() if len(ids) >= k and name != OTHER}
    merged = [ids for name, ids in members.items() if len(ids) and name not in shown]
    if unplaced is not None and 0 < len(unplaced) < k:
        merged.append(unplaced)
    if not merged:
        return shown
    others = np.unique(np.concatenate(merged))
    if len(others) < k and shown:
        smallest = min(shown, key=lambda name: (len(shown[name]), name))
        others = np.unique(np.concatenate([others, shown.pop(smallest)]))
    if len(others) >= k:
        shown[OTHER] = others
    return shown


def rating_differences(
    first: Mapping[str, Any], second: Mapping[str, Any], names: Sequence[str]
) -> list[dict[str, Any]]:
    """Each model's rating in the first leaderboard minus its rating in the second, with a
    95% interval from the two bootstraps' rounds paired by number (each leaderboard resampled
    its own votes: the groups are independent samples). Both are ``leaderboard_from_counts``
    results with ``keep_boot`` over the same model indices; only models in both count. Each
    board's ratings (and each round's) are first centred on the mean of those models, so a
    difference reads "how much higher, against the other models, this group rates it",
    whichever other models either group also rated."""
    played = [{row["model_index"] for row in board["leaderboard"]} for board in (first, second)]
    both = sorted(played[0] & played[1])
    if not both:
        return []

    def centred(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        kept = values[..., both]
        return kept - kept.mean(axis=-1, keepdims=True)

    value = centred(first["rating"]) - centred(second["rating"])
    rounds = min(len(first["boot"]), len(second["boot"]))
    boot = centred(first["boot"][:rounds]) - centred(second["boot"][:rounds])
    rows = [
        {"model": names[model], **_difference(float(value[column]), boot[:, column])}
        for column, model in enumerate(both)
    ]
    rows.sort(key=lambda row: (-abs(row["difference"]), row["model"]))
    return rows


def _difference(value: float, rounds: npt.NDArray[np.float64]) -> dict[str, Any]:
    entry = ci_entry(value, rounds)
    return {"difference": entry["value"], "ci": entry["ci"]}


def majority_agreement_between(
    task: npt.ArrayLike,
    label: npt.ArrayLike,
    item: npt.ArrayLike,
    groups: Mapping[str, BoolArray],
    *,
    n_labels: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """For each two groups: the share of tasks judged by both whose majority labels (each
    group's plurality; a tied top count is no majority) are the same, with a bootstrap 95%
    interval over items, and the number of tasks compared. One entry per judgment: its
    task, label code (0 .. n_labels - 1) and item; ``groups`` are masks over the entries."""
    task = np.asarray(task, dtype=np.int64).reshape(-1)
    label = np.asarray(label, dtype=np.int64).reshape(-1)
    item = np.asarray(item, dtype=np.int64).reshape(-1)
    task_ids, first, task_index = np.unique(task, return_index=True, return_inverse=True)
    task_index = task_index.reshape(-1)
    majorities = {}
    for name, mask in groups.items():
        majorities[name], _ = majority_vote(
            task_index[mask],
            np.zeros(int(mask.sum()), dtype=np.int64),
            label[mask],
            n_labels,
            n_tasks=len(task_ids),
        )
    rows = []
    for one, other in combinations(groups, 2):
        agreement = reference_agreement(
            majorities[one], majorities[other], item[first], n_boot=n_boot, seed=seed
        )
        rows.append(
            {
                "groups": [one, other],
                "value": agreement["value"],
                "ci": agreement["ci"],
                "n_tasks": agreement["n"],
            }
        )
    return rows
