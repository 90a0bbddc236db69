"""Active pair sampling for pairwise projects: which two models the next task should compare.

The Bradley-Terry fit behind the scores is cached per project (Django's cache, Redis in
production) with the games per pair it was fitted on. Each lease adds one game to its pair in
that cached state, so the scores (``annotation.stats.sampling.pair_scores``, an M x M inverse)
move with every task handed out, without a query or a refit. The fit is redone, in one
aggregate query, after ``REFIT_EVERY`` leases, when the project's report is recomputed, or
when the cache entry lapses (``STATE_SECONDS``). Concurrent leases may overwrite each other's
increment of the cached games: the state is a hint for ordering, never a limit. While Redis
fails (the circuit breaker is open), active projects serve the ordinary queue.

Arena projects (``sampling_models_pick``) draw from the same cached fit: the votes per model
pair, whatever tasks are open, among the endpoints that can answer now.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.db.models import Q

from annotation.breaker import RedisSkipped, redis_breaker
from annotation.models import MODEL_PAIR_SEPARATOR, Annotator, Judgment, Project
from annotation.selectors.quality import flagged_annotator_ids
from annotation.stats.ranking import fit_bradley_terry
from annotation.stats.sampling import choose_pair, pair_scores

#: Leases after which the strengths are refitted from the stored judgments.
REFIT_EVERY = 200
#: Lifetime of a cached fit: votes imported or deleted outside the lease path show up then.
STATE_SECONDS = 600


def _key(project_id: int) -> str:
    return f"sampling:v2:{project_id}"  # v2: numpy arrays (v1 held nested lists)


_generator: tuple[int, np.random.Generator] | None = None


def _rng() -> np.random.Generator:
    """This process's generator, seeded afresh after a fork (workers of one gunicorn
    must not share their draws)."""
    global _generator
    if _generator is None or _generator[0] != os.getpid():
        _generator = (os.getpid(), np.random.default_rng())
    return _generator[1]


def sampling_forget(*, project_id: int) -> None:
    """Drop the cached fit, so the next lease refits (the report was just recomputed)."""
    cache.delete(_key(project_id))


def _fit(project: Project) -> dict[str, Any]:
    """Votes per (model a, model b, choice) and the pairs with open tasks, in one query
    (the second half an index-only scan of the pair queue), and the strengths fitted on
    the votes. The votes are those of the default leaderboard, whose intervals sampling
    narrows: not on gold, not on an answer that named its model (identity_leak), not by a
    model judge nor an annotator blocked or flagged (``flagged_annotator_ids``)."""
    left_out = (
        Annotator.objects.filter(
            Q(kind=Annotator.Kind.MODEL) | Q(pk__in=flagged_annotator_ids(project=project))
        )
        .values("pk")
        .order_by()
    )
    left_out_sql, left_out_params = left_out.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ra.model, rb.model, j.choice, count(*) "
            "FROM annotation_judgment j JOIN annotation_task t ON t.id = j.task_id "
            "JOIN annotation_response ra ON ra.id = t.response_a_id "
            "JOIN annotation_response rb ON rb.id = t.response_b_id "
            "WHERE j.project_id = %s AND t.is_gold = %s AND j.choice IN (%s, %s, %s) "
            # The few left out as a hashed list: cheaper than joining every annotator.
            f"AND j.annotator_id NOT IN ({left_out_sql}) "
            "AND NOT ra.identity_leak AND NOT rb.identity_leak "
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
                *left_out_params,
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
        "theta": theta,
        "games": wins + wins.T + ties,
        "open": open_pairs,
        "leases": 0,
    }


def _state(project: Project) -> dict[str, Any]:
    """The cached fit, refitted (one query) when missing or after ``REFIT_EVERY`` leases.
    Call within ``redis_breaker.guard()``."""
    state = cache.get(_key(project.pk))
    if state is None or state["leases"] >= REFIT_EVERY:
        state = _fit(project)
        cache.set(_key(project.pk), state, STATE_SECONDS)
    return state


def sampling_pair_pick(*, project: Project) -> tuple[str, str] | None:
    """The two model names the next task of an active project should compare (uniformly
    drawn with probability ``explore_share``), or None when no pair has an open task.
    Costs one query only when the cached fit is refreshed; None while Redis fails."""
    try:
        with redis_breaker.guard():
            state = _state(project)
    except RedisSkipped:
        return None
    if not state["open"].any():
        return None
    scores = pair_scores(state["games"], state["theta"])
    i, j = choose_pair(scores, project.explore_share, _rng(), state["open"])
    return state["models"][i], state["models"][j]


def sampling_models_pick(*, project: Project, names: list[str]) -> tuple[str, str]:
    """Two distinct model names among ``names`` (the endpoints able to answer now) for an
    arena battle, in random order.

    Uniform over the pairs unless the project samples actively; then the pair whose vote is
    expected to narrow the leaderboard most (a uniform pair with probability
    ``explore_share``), scored on the cached fit's votes per pair with no refit per call. A
    name without votes yet counts as an average model with no games. The pick counts as a
    game of its pair in the cached state, so concurrent battles spread over pairs. While
    Redis fails the draw is uniform. Fewer than two distinct names is a ValueError.
    """
    candidates = list(dict.fromkeys(names))
    if len(candidates) < 2:
        raise ValueError("sampling_models_pick needs at least two distinct model names")
    if project.sampling == Project.Sampling.ACTIVE:
        try:
            with redis_breaker.guard():
                state = _state(project)
                first, second = _best_models(state, candidates, project.explore_share)
                _record_state(project.pk, state, (first, second), None)
            return (first, second) if random.random() < 0.5 else (second, first)
        except RedisSkipped:
            pass  # uniform below: the battle matters more than its pair
    first, second = random.sample(candidates, 2)
    return first, second


def sampling_partner_pick(*, project: Project, fixed: str, names: list[str]) -> str:
    """The model among ``names`` to face ``fixed`` when one side of a battle must be drawn
    again (its endpoint failed): by the project's rule, as ``sampling_models_pick`` draws a
    whole pair. Uniform unless the project samples actively; then the partner whose vote is
    expected to narrow the leaderboard most (a uniform one with probability
    ``explore_share``), on the cached fit, the pick counted as a game. ``names`` must hold
    a name other than ``fixed`` (ValueError otherwise)."""
    candidates = [name for name in dict.fromkeys(names) if name != fixed]
    if not candidates:
        raise ValueError("sampling_partner_pick needs a name other than the fixed one")
    if project.sampling == Project.Sampling.ACTIVE and len(candidates) > 1:
        try:
            with redis_breaker.guard():
                state = _state(project)
                partner = _best_partner(state, fixed, candidates, project.explore_share)
                _record_state(project.pk, state, (fixed, partner), None)
            return partner
        except RedisSkipped:
            pass  # uniform below, as for a whole pair
    return random.choice(candidates)


def _best_partner(
    state: dict[str, Any], fixed: str, candidates: list[str], explore_share: float
) -> str:
    """``choose_pair`` restricted to the pairs of ``fixed`` with one of ``candidates``."""
    names = [fixed, *candidates]
    scores = _candidate_scores(state, names)
    allowed = np.zeros(scores.shape, bool)
    allowed[0, 1:] = allowed[1:, 0] = True
    i, j = choose_pair(scores, explore_share, _rng(), allowed)
    return names[j if i == 0 else i]


def _candidate_scores(state: dict[str, Any], names: list[str]) -> np.ndarray:
    """``pair_scores`` among ``names`` on the state's games and strengths (zero for a
    model the fit has not seen)."""
    index = {name: i for i, name in enumerate(state["models"])}
    known = np.array([index.get(name, -1) for name in names])
    seen = known >= 0
    m = len(names)
    if seen.all():
        theta = state["theta"][known]
        games = state["games"][np.ix_(known, known)]
    else:
        theta = np.zeros(m)
        theta[seen] = state["theta"][known[seen]]
        games = np.zeros((m, m))
        games[np.ix_(seen, seen)] = state["games"][np.ix_(known[seen], known[seen])]
    return pair_scores(games, theta)


def _best_models(
    state: dict[str, Any], candidates: list[str], explore_share: float
) -> tuple[str, str]:
    """The pair among ``candidates`` that ``choose_pair`` takes on the state's games and
    strengths (zero for a model the fit has not seen)."""
    i, j = choose_pair(_candidate_scores(state, candidates), explore_share, _rng())
    return candidates[i], candidates[j]


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
    _record_state(project_id, state, models, exhausted)


def _record_state(
    project_id: int,
    state: dict[str, Any],
    models: tuple[str, str] | None,
    exhausted: tuple[str, str] | None,
) -> None:
    """Add the game (a model new to the fit joins it with no games and an average
    strength), close the exhausted pair, count the lease and store the state."""
    if models is not None and models[0] != models[1]:
        for name in models:
            if name not in state["models"]:
                _add_model(state, name)
    index = {name: i for i, name in enumerate(state["models"])}
    if models is not None and set(models) <= index.keys() and models[0] != models[1]:
        i, j = index[models[0]], index[models[1]]
        state["games"][i, j] += 1
        state["games"][j, i] += 1
    if exhausted is not None and set(exhausted) <= index.keys():
        i, j = index[exhausted[0]], index[exhausted[1]]
        state["open"][i, j] = state["open"][j, i] = False
    state["leases"] += 1
    cache.set(_key(project_id), state, STATE_SECONDS)


def _add_model(state: dict[str, Any], name: str) -> None:
    """Grow the cached state by one model without games (strength 0: the fit's mean)."""
    state["models"].append(name)
    state["theta"] = np.append(state["theta"], 0.0)
    for table in ("games", "open"):
        state[table] = np.pad(state[table], (0, 1))  # a row and a column of 0 / False
