"""No shape of project crashes the report: random small projects of every kind, with and
without criteria, strength, ties, 'both bad', model judges, gold, references, flagged and
blocked annotators, settings changed after the votes, empty ones and single judgments."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.models import (
    AgreementReport,
    Annotator,
    AnnotatorStats,
    Criterion,
    Item,
    Judgment,
    Project,
    Response,
    Task,
)
from annotation.services.reports import (
    ANNOTATOR_KINDS,
    agreement_current,
    leaderboard_current,
    report_compute,
)
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

MODELS = ("m0", "m1", "m2")
CHOICES = ("a", "b", "tie", "both_bad")


@dataclass(frozen=True)
class Shape:
    """A small project, drawn: settings, items, annotators and their judgments."""

    pairwise: bool
    allow_tie: bool
    allow_both_bad: bool
    strength_scale: int
    criteria: tuple[tuple[str, int, int], ...]  # level, min, max
    items: tuple[tuple[tuple[str, ...], str | None], ...]  # models of responses, reference
    annotators: tuple[tuple[str, bool, bool], ...]  # kind, flagged, blocked
    gold_every: int
    votes: tuple[tuple[int, int, str, int | None, tuple, tuple], ...]


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    pairwise = draw(st.booleans())
    n_responses = st.integers(1, 3) if pairwise else st.integers(1, 2)
    items = draw(
        st.lists(
            st.tuples(
                n_responses.flatmap(
                    lambda n: st.tuples(*[st.sampled_from(MODELS) for _ in range(n)])
                ),
                st.sampled_from([None, "r1", "r2", "r3", "tie", "elsewhere"]),
            ),
            max_size=4,
        )
    )
    levels = st.sampled_from(["nominal", "ordinal", "interval"])
    criteria = draw(
        st.lists(
            st.tuples(levels, st.integers(0, 1), st.integers(0, 4)).map(
                lambda c: (c[0], c[1], max(c[1] + 1, c[2]))
            ),
            max_size=2,
        )
    )
    annotators = draw(
        st.lists(
            st.tuples(st.sampled_from(["human", "human", "model"]), st.booleans(), st.booleans()),
            max_size=4,
        )
    )
    votes = draw(
        st.lists(
            st.tuples(
                st.integers(0, 11),  # task (modulo the tasks there are)
                st.integers(0, 3),  # annotator (modulo)
                st.sampled_from(CHOICES),
                st.none() | st.integers(1, 3),
                st.lists(st.sampled_from(["a", "b", "tie", None]), min_size=2, max_size=2).map(
                    tuple
                ),
                st.lists(st.integers(-1, 6), min_size=2, max_size=2).map(tuple),
            ),
            max_size=25,
        )
    )
    return Shape(
        pairwise=pairwise,
        allow_tie=draw(st.booleans()),
        allow_both_bad=draw(st.booleans()),
        strength_scale=draw(st.sampled_from([0, 3])) if pairwise else 0,
        criteria=tuple(criteria),
        items=tuple(items),
        annotators=tuple(annotators),
        gold_every=draw(st.sampled_from([0, 2, 3])),
        votes=tuple(votes),
    )


def build(shape: Shape) -> Project:
    project = ProjectFactory(
        kind=Project.Kind.PAIRWISE if shape.pairwise else Project.Kind.RUBRIC,
        allow_tie=shape.allow_tie,
        allow_both_bad=shape.allow_both_bad,
        strength_scale=shape.strength_scale,
    )
    keys = []
    for position, (level, low, high) in enumerate(shape.criteria):
        key = f"c{position}"
        keys.append(key)
        Criterion.objects.create(
            project=project,
            key=key,
            label=key,
            position=position,
            level="nominal" if shape.pairwise else level,
            min=low,
            max=high,
        )
    tasks = []
    for number, (models, reference) in enumerate(shape.items):
        item = Item.objects.create(
            project=project,
            external_id=f"q{number}",
            prompt="p",
            reference=None if reference is None else {"preferred": reference},
        )
        responses = [
            Response.objects.create(item=item, external_id=f"r{i + 1}", model=model, text="t")
            for i, model in enumerate(models)
        ]
        if shape.pairwise:
            pairs = [(a, b) for i, a in enumerate(responses) for b in responses[i + 1 :]]
        else:
            pairs = [(a, None) for a in responses]
        for a, b in pairs:
            is_gold = bool(shape.gold_every) and len(tasks) % shape.gold_every == 0
            tasks.append(
                Task.objects.create(
                    project=project, item=item, response_a=a, response_b=b, is_gold=is_gold
                )
            )
    annotators = []
    for number, (kind, flagged, blocked) in enumerate(shape.annotators):
        annotator = Annotator.objects.create(
            source=Annotator.Source.IMPORT, external_id=f"x{project.pk}-{number}", kind=kind
        )
        annotators.append(annotator)
        if flagged or blocked:
            AnnotatorStats.objects.create(
                project=project,
                annotator=annotator,
                flags=["too_fast"] if flagged else [],
                is_blocked=blocked,
            )
    seen = set()
    for task_number, who, choice, strength, answers, scores in shape.votes:
        if not tasks or not annotators:
            break
        task = tasks[task_number % len(tasks)]
        annotator = annotators[who % len(annotators)]
        if (task.pk, annotator.pk) in seen:
            continue
        seen.add((task.pk, annotator.pk))
        Judgment.objects.create(
            project=project,
            task=task,
            annotator=annotator,
            choice=choice if shape.pairwise else "",
            strength=strength if shape.pairwise else None,
            criteria=(
                {k: v for k, v in zip(keys, answers, strict=False) if v is not None}
                if shape.pairwise
                else {}
            ),
            scores={} if shape.pairwise else dict(zip(keys, scores, strict=False)),
            is_gold=task.is_gold,
            gold_correct=(choice == "a") if task.is_gold else None,
            seconds=float(task_number),
        )
    return project


def _votes(project: Project, kind: str, exclude_flagged: bool) -> int:
    """The votes a leaderboard counts, by hand: not gold, a choice, two different models."""
    judgments = Judgment.objects.filter(project=project, is_gold=False).exclude(choice="")
    if kind != "all":
        judgments = judgments.filter(annotator__kind=kind)
    if exclude_flagged:
        judgments = judgments.exclude(annotator__is_blocked=True).exclude(
            annotator__stats__in=AnnotatorStats.objects.filter(project=project).exclude(
                flags=[], is_blocked=False
            )
        )
    return sum(
        j.task.response_b is not None and j.task.response_a.model != j.task.response_b.model
        for j in judgments.select_related("task__response_a", "task__response_b")
    )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=shapes())
def test_no_shape_of_project_crashes_the_report(shape):
    with transaction.atomic():
        project = build(shape)
        stored = report_compute(project=project, n_boot=20)
        assert not stored.failed
        stored = AgreementReport.objects.get(pk=stored.pk)  # as the database gave it back
        json.dumps([stored.report, stored.leaderboard, stored.variants], allow_nan=False)
        for kind in ANNOTATOR_KINDS:
            body = agreement_current(project=project, annotator_kind=kind)
            assert body["annotator_kind"] == kind and body["stale"] is False
            assert all(row["kind"] == kind for row in body["annotators"]) or kind == "all"
            if project.is_pairwise:
                for exclude_flagged in (True, False):
                    board = leaderboard_current(
                        project=project, annotator_kind=kind, exclude_flagged=exclude_flagged
                    )
                    assert board["n_votes"] == _votes(project, kind, exclude_flagged)
        transaction.set_rollback(True)
