"""Ranking projects in the statistics report, the quality flags and the leaderboard:
Kendall's W and alpha over ranks, position bias (the first-shown response ranked first),
Plackett-Luce with Bradley-Terry over the implied pairs."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.models import Annotator, AnnotatorStats, Assignment, Response
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.quality import FLAG_FIRST_SHOWN, FLAG_ONE_SIDE
from annotation.services.reports import ANNOTATOR_KINDS, leaderboard_current, report_compute
from annotation.stats.listwise import kendall_w, rank_alpha
from tests.factories import import_items, make_annotator, ranked_judgments, ranking_project

pytestmark = pytest.mark.django_db

ORDERS = {  # three annotators' rankings of four responses per item
    "h0": [["r1"], ["r2"], ["r3"], ["r4"]],
    "h1": [["r1"], ["r3"], ["r2"], ["r4"]],
    "h2": [["r2"], ["r1"], ["r3", "r4"]],
}


def _study(items: int = 6):
    project = ranking_project(allow_tie=True)
    import_items(project, items, responses=4)
    rows = [
        {"annotator": who, "item": f"q{i}", "ranking": ranking, "shown": ["r4", "r3", "r2", "r1"]}
        for i in range(items)
        for who, ranking in ORDERS.items()
    ]
    ranked_judgments(project, rows)
    return project


def test_a_ranking_report_gives_kendall_w_and_ordinal_alpha_over_ranks_with_intervals():
    project = _study()

    overall = report_compute(project=project, n_boot=200).report["criteria"]["overall"]

    # The same figures as the statistics engine gives on the same rankings by hand.
    groups = {who: [[int(r[1:]) for r in g] for g in ranking] for who, ranking in ORDERS.items()}
    rows = [
        (n, item, a, response + 4 * item, place)
        for item in range(6)
        for a, who in enumerate(groups)
        for n in [item * 3 + a]
        for place, group in enumerate(groups[who])
        for response in group
    ]
    ranking, item, annotator, response, group = np.array(rows).T
    assert overall["kendall_w"]["value"] == pytest.approx(kendall_w(ranking, item, response, group))
    assert overall["krippendorff_alpha"]["value"] == pytest.approx(
        rank_alpha(ranking, item, annotator, response, group)
    )
    assert overall["krippendorff_alpha"]["level"] == "ordinal"
    assert 0.5 < overall["kendall_w"]["value"] < 1
    for name in ("kendall_w", "krippendorff_alpha"):
        low, high = overall[name]["ci"]
        assert low <= overall[name]["value"] <= high
    assert (overall["n_items"], overall["n_annotators"], overall["n_judgments"]) == (6, 3, 18)


def test_a_ranking_report_shows_how_often_the_first_shown_response_was_ranked_first():
    project = _study()

    report = report_compute(project=project, n_boot=20).report

    # r4 is always shown first and nobody ranks it first: 0 against a chance of a quarter.
    assert report["position_bias"] == {
        "first_shown_ranked_first": 0.0,
        "expected": pytest.approx(0.25),
        "n_rankings": 18,
    }
    by_annotator = {row["annotator"]: row for row in report["annotators"]}
    assert by_annotator["h0"]["first_shown_first_rate"] == 0.0
    assert by_annotator["h0"]["first_shown_first_expected"] == pytest.approx(0.25)


def test_imported_rankings_without_a_shown_order_count_for_agreement_not_position_bias():
    project = ranking_project()
    import_items(project, 2, responses=3)
    ranked_judgments(
        project,
        [
            {"annotator": f"h{a}", "item": f"q{i}", "ranking": [["r1"], ["r2"], ["r3"]]}
            for a in range(2)
            for i in range(2)
        ],
    )

    report = report_compute(project=project, n_boot=20).report

    assert report["position_bias"]["n_rankings"] == 0
    assert report["position_bias"]["first_shown_ranked_first"] is None
    assert report["criteria"]["overall"]["kendall_w"]["value"] == 1.0
    # Each annotator put every response where the other did.
    assert [row["agreement_with_others"] for row in report["annotators"]] == [1.0, 1.0]


def _rank_all(project, annotator, rank):
    """Rank every task the annotator is given: `rank` maps the assignment to groups."""
    while (assignment := assignment_lease(project=project, annotator=annotator)) is not None:
        Assignment.objects.filter(pk=assignment.pk).update(
            leased_at=timezone.now() - timedelta(seconds=10)
        )
        assignment.refresh_from_db()
        judgment_submit(assignment=assignment, annotator=annotator, ranking=rank(assignment))


def test_an_annotator_who_always_ranks_the_first_shown_response_first_is_flagged():
    project = ranking_project(flag_min_judgments=10, annotations_per_task=1)
    import_items(project, 12, responses=4)
    clicker = make_annotator()

    _rank_all(project, clicker, lambda _: [["A"], ["B"], ["C"], ["D"]])

    stats = AnnotatorStats.objects.get(project=project, annotator=clicker)
    assert stats.left_rate == 1.0
    assert stats.flags == [FLAG_FIRST_SHOWN]


def test_an_annotator_ranking_by_content_is_not_flagged_for_position():
    project = ranking_project(flag_min_judgments=10, annotations_per_task=1)
    import_items(project, 24, responses=4)
    reader = make_annotator()
    external = dict(Response.objects.values_list("pk", "external_id"))

    def by_content(assignment):
        labels = dict(zip(assignment.shown_order, "ABCD", strict=True))
        order = sorted(assignment.shown_order, key=lambda pk: external[pk])
        return [[labels[pk]] for pk in order]  # r1 first, wherever it is shown

    _rank_all(project, reader, by_content)

    stats = AnnotatorStats.objects.get(project=project, annotator=reader)
    assert stats.decided == 24
    assert FLAG_FIRST_SHOWN not in stats.flags and FLAG_ONE_SIDE not in stats.flags
    assert stats.left_rate < 0.6


def test_the_leaderboard_of_a_ranking_project_is_plackett_luce_with_bradley_terry_beside():
    project = _study(items=8)
    report_compute(project=project, n_boot=100)

    board = leaderboard_current(project=project)

    assert board["method"] == "plackett_luce"
    assert [row["model"] for row in board["results"]] == [
        "model-0",
        "model-1",
        "model-2",
        "model-3",
    ]
    top = board["results"][0]
    # Every item was ranked alike, so each resample is the data: the interval is a point.
    assert top["ci"] == pytest.approx([top["rating"], top["rating"]], abs=0.01)
    # model-0 (r1) is above r2, r3, r4 in two rankings of three and below r2 in one.
    assert (top["wins"], top["losses"], top["ties"], top["rankings"]) == (8 * 8, 8, 0, 24)
    assert board["n_votes"] == 24
    pairs = board["bradley_terry"]
    assert pairs["method"] == "bradley_terry" and pairs["n_votes"] == 24 * 6
    assert [row["model"] for row in pairs["results"]][:2] == ["model-0", "model-1"]
    assert board["win_rate"]["model-0"]["model-1"] == round(16 / 24, 4)


@st.composite
def ranking_studies(draw: st.DrawFn) -> list[tuple[tuple[str, ...], list[tuple[str, str, list]]]]:
    """Items (models of their 2-4 responses, some shared) and the rankings of each, by
    people and a judge, with ties, some items unranked or ranked once."""
    items = []
    for _ in range(draw(st.integers(0, 4))):
        models = draw(st.lists(st.sampled_from(["m0", "m1", "m2"]), min_size=2, max_size=4))
        names = [f"r{j + 1}" for j in range(len(models))]
        votes = []
        for who in draw(st.lists(st.sampled_from(["h0", "h1", "h2", "llm"]), unique=True)):
            order = draw(st.permutations(names))
            cuts = draw(st.lists(st.booleans(), min_size=len(names) - 1, max_size=len(names) - 1))
            groups, current = [], [order[0]]
            for name, cut in zip(order[1:], cuts, strict=True):
                if cut:
                    groups.append(current)
                    current = []
                current.append(name)
            groups.append(current)
            shown = draw(st.one_of(st.none(), st.permutations(names)))
            votes.append((who, groups, shown))
        items.append((tuple(models), votes))
    return items


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(study=ranking_studies(), flagged=st.booleans())
def test_no_ranking_study_crashes_the_report_or_the_leaderboard(study, flagged):
    with transaction.atomic():
        project = ranking_project(allow_tie=True)
        rows = [
            {
                "id": f"q{i}",
                "prompt": "p",
                "responses": [
                    {"id": f"r{j + 1}", "model": model, "text": f"{i}-{j}"}
                    for j, model in enumerate(models)
                ],
            }
            for i, (models, _) in enumerate(study)
        ]
        if rows:
            items_import(project=project, rows=list(enumerate(rows, start=1)))
        votes = [
            {"annotator": who, "item": f"q{i}", "ranking": groups}
            | ({"annotator_kind": "model"} if who == "llm" else {})
            | ({"shown": list(shown)} if shown else {})
            for i, (_, ranked) in enumerate(study)
            for who, groups, shown in ranked
        ]
        if votes:
            ranked_judgments(project, votes)
        if flagged and Annotator.objects.filter(external_id="h0").exists():
            AnnotatorStats.objects.create(
                project=project, annotator=Annotator.objects.get(external_id="h0"), flags=["x"]
            )
        report = report_compute(project=project, n_boot=5)
        json.dumps([report.report, report.leaderboard, report.variants], allow_nan=False)
        for kind in ANNOTATOR_KINDS:
            for exclude in (True, False):
                board = leaderboard_current(
                    project=project, annotator_kind=kind, exclude_flagged=exclude
                )
                assert [r["rating"] for r in board["results"]] == sorted(
                    (r["rating"] for r in board["results"]), reverse=True
                )
        transaction.set_rollback(True)
