"""Exports of ranking projects (README "Exports"): a stored ranking in response ids as the
`judgments` export writes it, and the `dpo` pairs rankings imply.

A ranking gives votes on pairs of its responses by the query's `expand`:

* `adjacent` (the default): each response against each of the next group down, and each
  pair within a group a tie;
* `all`: every pair, the higher-ranked one winning, a pair within a group a tie;
* `best_worst`: each response of the first group against each of the last (a ranking that
  ties everything gives a tie on each pair).

Those votes are then counted per pair of responses as a pairwise task's votes are: decided by
their majority (or Dawid-Skene label), filtered by `min_agreement` and `min_judgments`, one
row per decided pair.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from django.db.models import QuerySet

from annotation.exports.query import ExportFilters
from annotation.models import Judgment, Project, Response, Task
from annotation.selectors.judgment_table import CHOICES
from annotation.stats import task_labels

DETAIL_CHUNK = 500
#: A pair's `pair_id`: the smaller response id shifted by this many bits, plus the larger.
PAIR_ID_SHIFT = 32


def response_external_ids(*, project: Project) -> dict[int, str]:
    """Every response's id as imported, by database id (rankings are stored in the latter)."""
    return dict(Response.objects.filter(item__project=project).values_list("pk", "external_id"))


def ranking_in_ids(stored: Any, external: dict[int, str]) -> list[list[str]] | None:
    """A stored ranking (groups of database ids) in the response ids of the import."""
    if stored is None:
        return None
    return [[external[pk] for pk in group] for group in stored]


def shown_in_ids(stored: Any, external: dict[int, str]) -> list[str] | None:
    """A stored shown order (database ids) in the response ids of the import."""
    return None if stored is None else [external[pk] for pk in stored]


def ranking_votes(ranking: Sequence[Sequence[int]], expand: str) -> Iterator[tuple[int, int, str]]:
    """The pair votes one ranking gives: (smaller id, larger id, "a" when the smaller one
    is ranked above, "b" below, "tie" in one group), by `expand` (module docstring)."""
    groups = [list(group) for group in ranking]

    def between(upper: list[int], lower: list[int]) -> Iterator[tuple[int, int, str]]:
        for x, y in itertools.product(upper, lower):
            yield (x, y, "a") if x < y else (y, x, "b")

    def within(group: list[int]) -> Iterator[tuple[int, int, str]]:
        for x, y in itertools.combinations(sorted(group), 2):
            yield x, y, "tie"

    if expand == "best_worst":
        if len(groups) == 1:
            yield from within(groups[0])
        else:
            yield from between(groups[0], groups[-1])
        return
    for place, group in enumerate(groups):
        yield from within(group)
        below = groups[place + 1 :] if expand == "all" else groups[place + 1 : place + 2]
        for lower in below:
            yield from between(group, lower)


def pair_id(lower: int, higher: int) -> int:
    return (lower << PAIR_ID_SHIFT) + higher


def _counted(
    judgments: QuerySet[Judgment], expand: str
) -> tuple[dict[tuple[int, int, int], list[int]], list[tuple[int, int, int]]]:
    """Votes per (task, smaller response, larger response) as [a, b, tie] counts, and one
    (pair id, annotator, choice code) per vote for Dawid-Skene."""
    counts: dict[tuple[int, int, int], list[int]] = {}
    votes: list[tuple[int, int, int]] = []
    code = {choice: CHOICES.index(choice) for choice in ("a", "b", "tie")}
    slot = {"a": 0, "b": 1, "tie": 2}
    rows = judgments.values_list("task_id", "annotator_id", "ranking")
    for task_id, annotator_id, ranking in rows.iterator(chunk_size=2000):
        for x, y, outcome in ranking_votes(ranking, expand):
            counts.setdefault((task_id, x, y), [0, 0, 0])[slot[outcome]] += 1
            votes.append((pair_id(x, y), annotator_id, code[outcome]))
    return counts, votes


def _dawid_skene(votes: list[tuple[int, int, int]]) -> dict[int, tuple[str | None, float]]:
    """Each pair's Dawid-Skene label (a or b, else None) and posterior as exported."""
    if not votes:
        return {}
    pair, annotator, code = (
        np.array(column, dtype=np.int64) for column in zip(*votes, strict=True)
    )
    labels = task_labels(pair, annotator, code, len(CHOICES))
    decided = ("a", "b")
    return {
        int(p): (decided[c] if c in (0, 1) else None, round(float(posterior), 6))
        for p, c, posterior in zip(
            labels.task, labels.weighted, labels.weighted_confidence, strict=True
        )
    }


def _details(task_ids: list[int]) -> tuple[dict[int, tuple[str, Any]], dict[int, tuple]]:
    """Item id and prompt of each task, and id, model and text of each of their responses."""
    items = {
        pk: (external_id, prompt)
        for pk, external_id, prompt in Task.objects.filter(pk__in=task_ids).values_list(
            "pk", "item__external_id", "item__prompt"
        )
    }
    responses = {
        pk: (external_id, model, text)
        for pk, external_id, model, text in Response.objects.filter(
            item__tasks__in=task_ids
        ).values_list("pk", "external_id", "model", "text")
    }
    return items, responses


def ranking_dpo_rows(
    *,
    filters: ExportFilters,
    passing: QuerySet[Judgment],
    scoped: QuerySet[Judgment],
    plurality: Callable[[int, int, int, int], str | None],
    row: Callable[..., dict[str, Any]],
    retraction: Callable[[int, str, int], dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    """One row per decided pair of responses from the rankings (format `dpo` of a ranking
    project), in (task, pair) order. `passing` are the judgments that count, `scoped` those
    whose pairs to give (with `since`, of the tasks ranked after the cursor); `row` and
    `retraction` make a row as the pairwise export does, from (pair id, item id, prompt,
    chosen and rejected (id, model, text), votes, agreement, margin) and from (pair id, item
    id, votes). With `label=dawid_skene` every pair is labelled from all passing votes, and
    with `since` every pair is given (a row or a retraction): a vote on one pair moves the
    annotators' reliabilities everywhere."""
    expand = filters.expand or "adjacent"
    rankings = passing.filter(ranking__isnull=False)
    labels: dict[int, tuple[str | None, float]] | None = None
    if filters.label == "dawid_skene":
        counts, votes = _counted(rankings.order_by("pk"), expand)
        labels = _dawid_skene(votes)
    else:
        counts, _ = _counted(scoped.filter(ranking__isnull=False).order_by("pk"), expand)
    keys = sorted(counts)
    for chunk_start in range(0, len(keys), DETAIL_CHUNK):
        chunk = keys[chunk_start : chunk_start + DETAIL_CHUNK]
        items, responses = _details(sorted({task for task, _, _ in chunk}))
        for task_id, lower, higher in chunk:
            n_a, n_b, n_tie = counts[(task_id, lower, higher)]
            total = n_a + n_b + n_tie
            key = pair_id(lower, higher)
            if labels is None:
                winner = plurality(n_a, n_b, n_tie, 0)
                agreement = round((n_a if winner == "a" else n_b) / total, 6) if winner else 0.0
            else:
                winner, agreement = labels.get(key, (None, 0.0))
            passes = not (
                winner is None
                or (filters.min_judgments and total < filters.min_judgments)
                or (filters.min_agreement is not None and agreement < filters.min_agreement)
            )
            item_id, prompt = items[task_id]
            if not passes:
                if filters.since is not None:
                    yield retraction(key, item_id, total)
                continue
            chosen, rejected = (lower, higher) if winner == "a" else (higher, lower)
            margin = round((n_a - n_b if winner == "a" else n_b - n_a) / total, 6)
            yield row(
                key,
                item_id,
                prompt,
                responses[chosen],
                responses[rejected],
                total,
                agreement,
                margin,
            )
