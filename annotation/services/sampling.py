"""Active pair sampling for pairwise projects: which two models the next task should compare.

The Bradley-Terry fit behind the scores is cached per project (Django's cache, Redis in
production) with the games per pair it was fitted on. Each lease adds one game to its pair in
that cached state, so the scores (``annotation.stats.sampling.pair_scores``, an M x M inverse)
move with every task handed out, without a query or a refit. The fit is redone, in one
aggregate query, after ``REFIT_EVERY`` leases, when the project's report is recomputed, or
when the cache entry lapses (``STATE_SECONDS``). Concurrent leases may overwrite each other's
increment of the cached games: the state is a hint for ordering, never a limit. While Redis
fails (the circuit breaker is open), active projects serve the ordinary queue.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db import connection

from annotation.breaker import RedisSkipped, redis_breaker
from annotation.models import MODEL_PAIR_SEPARATOR, Judgment, Project
from annotation.stats.ranking import fit_bradley_terry
from annotation.stats.sampling import choose_pair, pair_scores

#: Leases after which the strengths are refitted from the stored judgments.
REFIT_EVERY = 200
#: Lifetime of a cached fit: votes imported or deleted outside the lease path show up then.
STATE_SECONDS = 600


def _key(project_id: int) -> str:
    return f"sampling:{project_id}"


def sampling_forget(*, project_id: int) -> None:
    """Drop the cached fit, so the next lease refits (the report was just recomputed)."""
    cache.delete(_key(project_id))


def _fit(project: Project) -> dict[str, Any]:
    """Votes per (model a, model b, choice) and the pairs with open tasks, in one query
    (the second half an index-only scan of the pair queue), and the strengths fitted on
    the votes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ra.model, rb.model, j.choice, count(*) "
            "FROM annotation_judgment j JOIN annotation_task t ON t.id = j.task_id "
            "JOIN annotation_response ra ON ra.id = t.response_a_id "
            "JOIN annotation_response rb ON rb.id = t.response_b_id "
            "WHERE j.project_id = %s AND t.is_gold = %s AND j.choice IN (%s, %s, %s) "
            "GROUP BY ra.model, rb.model, j.choice "
            "UNION ALL SELECT t.model_pair, NULL, NULL, 0 FROM annotation_task t "
            "WHERE t.project_id = %s AND t.is_gold = %s AND t.model_pair <> '' "
            "AND t.judgment_count < %s GROUP BY t.model_pair",
            [
                project.pk,
                False,
                Judgment.Choice.A,
                Judgment.Choice.B,
                Judgment.Choice.TIE,
                project.pk,
                False,
                project.annotations_per_task,
            ],
        )
        rows = cursor.fetchall()
    votes = [row for row in rows if row[1] is not None and row[0] != row[1]]
    open_keys = [row[0].split(MODEL_PAIR_SEPARATOR, 1) for row in rows if row[1] is None]
    open_keys = [pair for pair in open_keys if len(pair) == 2 and pair[0] != pair[1]]
    models = sorted({name for row in votes for name in row[:2]} | {n for p in open_keys for n in p})
    index = {name: i for i, name in enumerate(models)}
    m = len(models)
    wins = np.zeros((m, m))
    ties = np.zeros((m, m))
    open_pairs = np.zeros((m, m), bool)
    for model_a, model_b, choice, count in votes:
        i, j = index[model_a], index[model_b]
        if choice == Judgment.Choice.A:
            wins[i, j] += count
        elif choice == Judgment.Choice.B:
            wins[j, i] += count
        else:
            ties[i, j] += count
            ties[j, i] += count
    for first, second in open_keys:
        i, j = index[first], index[second]
        open_pairs[i, j] = open_pairs[j, i] = True
    theta = fit_bradley_terry(wins, ties) if m else np.zeros(0)
    return {
        "models": models,
        "theta": theta.tolist(),
        "games": (wins + wins.T + ties).tolist(),
        "open": open_pairs.tolist(),
        "leases": 0,
    }


def sampling_pair_pick(*, project: Project) -> tuple[str, str] | None:
    """The two model names the next task of an active project should compare (uniformly
    drawn with probability ``explore_share``), or None when no pair has an open task.
    Costs one query only when the cached fit is refreshed; None while Redis fails."""
    try:
        with redis_breaker.guard():
            state = cache.get(_key(project.pk))
            if state is None or state["leases"] >= REFIT_EVERY:
                state = _fit(project)
                cache.set(_key(project.pk), state, STATE_SECONDS)
    except RedisSkipped:
        return None
    open_pairs = np.asarray(state["open"], bool)
    if not open_pairs.any():
        return None
    scores = pair_scores(np.asarray(state["games"]), np.asarray(state["theta"]))
    rng = np.random.default_rng(random.getrandbits(64))
    i, j = choose_pair(scores, project.explore_share, rng, open_pairs)
    return state["models"][i], state["models"][j]


def sampling_record(
    *, project: Project, models: tuple[str, str] | None, exhausted: tuple[str, str] | None = None
) -> None:
    """Count a lease of a task between ``models`` (None: no lease) in the cached state, and
    mark a pair that
    had no task for the annotator as closed until the next refit (whoever asks next would
    most likely miss it too)."""
    try:
        with redis_breaker.guard():
            _record(project.pk, models, exhausted)
    except RedisSkipped:
        pass  # a lost count only makes the next pick a little less informed


def _record(
    project_id: int, models: tuple[str, str] | None, exhausted: tuple[str, str] | None
) -> None:
    state = cache.get(_key(project_id))
    if state is None:
        return
    index = {name: i for i, name in enumerate(state["models"])}
    if models is not None and set(models) <= index.keys() and models[0] != models[1]:
        i, j = index[models[0]], index[models[1]]
        state["games"][i][j] += 1
        state["games"][j][i] += 1
    if exhausted is not None and set(exhausted) <= index.keys():
        i, j = index[exhausted[0]], index[exhausted[1]]
        state["open"][i][j] = state["open"][j][i] = False
    state["leases"] += 1
    cache.set(_key(project_id), state, STATE_SECONDS)
