"""The data explorer (README "Researchers"): the task table's filters and search,
the item page with every judgment and its screen side, and judged texts kept read-only."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.models import (
    AgreementReport,
    Annotator,
    Item,
    Judgment,
    Project,
    Response,
    RubricVersion,
    Task,
)
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.quality import annotator_block
from annotation.services.reports import report_compute
from annotation.services.researchers import researcher_create
from tests.api.test_exports import import_votes, scores, votes
from tests.factories import CriterionFactory, ProjectFactory, make_annotator

pytestmark = pytest.mark.django_db

TOPICS = ("photosynthesis", "volcanoes", "tides", "glaciers")


def item_row(i: int, *, first_model: str, source: str) -> dict:
    return {
        "id": f"q{i}",
        "prompt": f"Explain {TOPICS[i % 4]} to a child (number {i}).",
        "metadata": {"source": source, "turns": i},
        "responses": [
            {"id": "r1", "model": first_model, "text": f"**Short** answer {i}."},
            {"id": "r2", "model": "beta", "text": f"Long answer {i}."},
        ],
    }


@pytest.fixture
def project(lead) -> Project:
    """q0..q3 (alpha or gamma vs beta): q0 clear (a a a), q1 split (a b tie), q2 2/3 (a a b)
    plus a vote by a blocked annotator, q3 a gold item (answer a) with no votes."""
    project = ProjectFactory(owner=lead, slug="explore", allow_tie=True)
    rows = [
        item_row(0, first_model="alpha", source="hh"),
        item_row(1, first_model="alpha", source="shp"),
        item_row(2, first_model="gamma", source="hh"),
        item_row(3, first_model="gamma", source="shp"),
    ]
    rows[3]["gold"] = {"preferred": "r1"}
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    import_votes(
        project,
        votes("q0", "a", "a", "a")
        + votes("q1", "a", "b", "tie")
        + votes("q2", "a", "a", "b")
        + votes("q2", "b", judge="spam"),
    )
    annotator_block(project=project, annotator=Annotator.objects.get(external_id="spam0"), by=lead)
    return project


def url(project: Project, **params: str) -> str:
    return f"/admin/annotation/project/{project.pk}/explorer/"


def listed(client: Client, project: Project, **params: str) -> list[str]:
    """The items of the tasks the explorer lists (in order) under the query `params`."""
    response = client.get(url(project), params)
    assert response.status_code == 200, response.content.decode()[:2000]
    return re.findall(r'/explorer/items/\d+/">([^<]+)</a>', response.content.decode())


def item_url(project: Project, item: str) -> str:
    pk = Item.objects.get(project=project, external_id=item).pk
    return f"/admin/annotation/project/{project.pk}/explorer/items/{pk}/"


# ---------------------------------------------------------------- the table


def test_the_explorer_lists_every_task_with_votes_majority_and_split(client, project):
    page = client.get(url(project)).content.decode()

    assert listed(client, project) == ["q0", "q1", "q2", "q3"]
    assert "4 tasks match" in page
    q1 = page[page.index(">q1</a>") : page.index(">q2</a>")]
    assert 'class="explorer-tag split">split' in q1
    assert "tied · 0.33" in q1
    q2 = page[page.index(">q2</a>") : page.index(">q3</a>")]
    assert "A · 0.67" in q2  # the blocked annotator's vote is not counted


def test_search_finds_an_item_by_a_word_of_its_prompt(client, project):
    assert listed(client, project, q="volcanoes") == ["q1"]
    assert listed(client, project, q="Glaciers") == ["q3"]
    assert listed(client, project, q="unicorns") == []


def test_search_reads_the_messages_of_a_conversation(client, project):
    rows = [
        {
            "id": "chat",
            "prompt": [
                {"role": "user", "content": "Tell me about comets."},
                {"role": "assistant", "content": "They are icy."},
                {"role": "user", "content": "And meteors?"},
            ],
            "responses": [
                {"id": "r1", "model": "alpha", "text": "x"},
                {"id": "r2", "model": "beta", "text": "y"},
            ],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))

    assert listed(client, project, q="meteors") == ["chat"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"model": "alpha"}, ["q0", "q1"]),
        ({"model": "beta"}, ["q0", "q1", "q2", "q3"]),
        ({"meta": "source=hh"}, ["q0", "q2"]),
        ({"meta": "turns=3"}, ["q3"]),
        ({"share_min": "0.6"}, ["q0", "q2"]),
        ({"share_min": "0.5", "share_max": "0.9"}, ["q2"]),
        ({"share_max": "0.5"}, ["q1"]),
        ({"split": "on"}, ["q1"]),
        ({"gold": "yes"}, ["q3"]),
        ({"gold": "no"}, ["q0", "q1", "q2"]),
        ({"flagged": "on"}, ["q2"]),
        ({"model": "gamma", "meta": "source=hh"}, ["q2"]),
        ({"q": "tides", "split": "on"}, []),
    ],
    ids=lambda value: str(value),
)
def test_each_filter_narrows_the_tasks(client, project, params, expected):
    assert listed(client, project, **params) == expected


def test_split_follows_the_projects_review_min_share(client, project):
    project.review_min_share = 0.7
    project.save()

    assert listed(client, project, split="on") == ["q1", "q2"]


def test_rubric_version_filter_appears_with_a_second_version_and_narrows(client, project):
    assert "rubric_version" not in client.get(url(project)).content.decode()
    RubricVersion.objects.create(project=project, version=1, criteria=[])
    RubricVersion.objects.create(project=project, version=2, criteria=[])
    Judgment.objects.filter(task__item__external_id="q1").update(rubric_version=2)

    assert listed(client, project, rubric_version="2") == ["q1"]
    assert listed(client, project, rubric_version="1") == ["q0", "q2"]


def test_cyclic_filter_is_offered_once_a_report_names_the_items(client, project):
    page = client.get(url(project)).content.decode()
    assert 'name="cyclic"' not in page
    assert "no agreement report names them" in page
    q2 = Item.objects.get(project=project, external_id="q2")
    AgreementReport.objects.create(
        project=project,
        computed_at=timezone.now(),
        report={
            "consistency_details": {
                "n_cyclic_items": 1,
                "cyclic_items": [{"item_id": q2.pk, "cycles": 1, "triads_checked": 1}],
            }
        },
    )

    assert 'name="cyclic"' in client.get(url(project)).content.decode()
    assert listed(client, project, cyclic="on") == ["q2"]


def test_the_cyclic_filter_follows_a_computed_report(client, lead):
    """Three models on one item whose majorities go round (alpha > beta > gamma > alpha)."""
    project = ProjectFactory(owner=lead, slug="cycles", allow_tie=True)
    responses = [{"id": f"r{k}", "model": m, "text": m} for k, m in enumerate("xyz")]
    rows = [
        {"id": "round", "prompt": "Which?", "responses": responses},
        {"id": "calm", "prompt": "Which?", "responses": responses},
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    pairs = [("r0", "r1", "a"), ("r1", "r2", "a"), ("r0", "r2", "b")]
    import_votes(
        project,
        [
            {"annotator": f"h{n}", "item": item, "a": a, "b": b, "choice": choice}
            for item in ("round", "calm")
            for a, b, choice in (pairs if item == "round" else [*pairs[:2], ("r0", "r2", "a")])
            for n in range(2)
        ],
    )
    report_compute(project=project, n_boot=20)

    assert listed(client, project, cyclic="on", model="x") == ["round", "round"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"share_min": "2"}, "Majority share from"),
        ({"share_min": "0.8", "share_max": "0.2"}, "to"),
        ({"meta": "source"}, "Metadata"),
        ({"model": "nobody"}, "Model (either side)"),
    ],
)
def test_bad_filters_answer_400_naming_the_field_and_keep_the_form(client, project, params, field):
    response = client.get(url(project), params)

    assert response.status_code == 400
    page = response.content.decode()
    assert f'class="explorer-error">{field}:' in page
    for value in params.values():
        assert f'value="{value}"' in page or f'<option value="{value}"' not in page


def test_pages_keep_the_filters(client, project, monkeypatch):
    monkeypatch.setattr("annotation.console.explorer.PER_PAGE", 1)

    page = client.get(url(project), {"model": "beta", "page": "2"}).content.decode()

    assert re.findall(r'/explorer/items/\d+/">([^<]+)</a>', page) == ["q1"]
    assert "?model=beta&amp;page=3" in page and "?model=beta&amp;page=1" in page


def test_a_rubric_project_lists_responses_with_their_summary(lead, client):
    project = ProjectFactory(owner=lead, slug="rated", kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="helpfulness", min=0, max=4)
    CriterionFactory(project=project, key="correctness", min=0, max=4)
    rows = [
        {"id": f"q{i}", "prompt": f"Prompt {i}", "responses": [{"id": "r1", "model": "m"}]}
        for i in range(2)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    import_votes(project, scores("q0", (4, 3), (2, 3)))

    page = client.get(url(project)).content.decode()

    assert listed(client, project) == ["q0", "q1"]
    q0 = page[page.index(">q0</a>") : page.index(">q1</a>")]
    # The rubric export's summary: an ordinal criterion's lower median (4, 2 -> 2).
    assert "helpfulness 2" in q0 and "correctness 3" in q0


# ---------------------------------------------------------------- the item page


def test_the_item_page_shows_every_judgment_with_its_screen_side_and_the_labels(client, project):
    project.rationale = Project.Rationale.OPTIONAL
    project.save()
    annotator = make_annotator()
    assignment = assignment_lease(project=project, annotator=annotator)
    item = assignment.task.item.external_id
    judgment_submit(
        assignment=assignment, annotator=annotator, choice="left", rationale="Left is clearer."
    )
    judgment = Judgment.objects.get(annotator=annotator)
    left_was_a = assignment.left_response_id == assignment.task.response_a_id

    page = client.get(item_url(project, item)).content.decode()

    assert (
        page.count('data-judgment="')
        == Judgment.objects.filter(task__item__external_id=item).count()
    )
    row = page[page.index(f'data-judgment="{judgment.pk}"') :]
    row = row[: row.index("</tr>")]
    canonical = "A" if left_was_a else "B"
    assert f"<td>{canonical}</td>" in row
    assert '<td class="explorer-screen">A (left)</td>' in row
    assert annotator.pseudonym in row and "Left is clearer." in row
    assert "Dawid-Skene" in page and "posterior" in page
    assert "<strong>Short</strong> answer" in page  # rendered as annotators see it
    assert "alpha" in page or "gamma" in page  # model names shown to the researcher


def test_criteria_answers_are_shown_in_canonical_and_screen_terms(client, project):
    annotator = make_annotator()
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice="tie")
    Judgment.objects.filter(annotator=annotator).update(criteria={"clarity": "a"})
    left_was_a = assignment.left_response_id == assignment.task.response_a_id

    page = client.get(item_url(project, assignment.task.item.external_id)).content.decode()

    screen = "A (left)" if left_was_a else "B (right)"
    assert f"clarity: a ({screen})" in page
    assert '<td class="explorer-screen">Tie</td>' in page


def test_the_item_page_shows_the_swapped_side_and_a_flagged_annotators_vote(client, project):
    page = client.get(item_url(project, "q2")).content.decode()

    spam = page[page.index("spam0") :]
    spam = spam[: spam.index("</tr>")]
    assert "blocked in this project" in spam
    assert "explorer-uncounted" in page
    assert page.count('<td class="explorer-screen">not recorded</td>') == 4  # imported votes
    assert "<td>A · 0.67 of 3</td>" in page  # the labels export's majority: people's votes


def test_the_item_page_of_a_rubric_task_shows_scores_and_summary(lead, client):
    project = ProjectFactory(owner=lead, slug="rated", kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="helpfulness", min=0, max=4)
    CriterionFactory(project=project, key="correctness", min=0, max=4)
    rows = [{"id": "q0", "prompt": "Prompt", "responses": [{"id": "r1", "model": "m"}]}]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    import_votes(project, scores("q0", (4, 3), (2, 3)))

    page = client.get(item_url(project, "q0")).content.decode()

    assert page.count('data-judgment="') == 2
    assert "helpfulness 4" in page and "helpfulness 2" in page


def test_another_researcher_gets_404(project):
    other = Client()
    other.force_login(researcher_create(username="other"))

    assert other.get(url(project)).status_code == 404
    assert other.get(item_url(project, "q0")).status_code == 404


def test_an_item_of_another_project_is_404_under_this_one(lead, client, project):
    elsewhere = ProjectFactory(owner=lead, slug="elsewhere")
    items_import(project=elsewhere, rows=[(1, item_row(0, first_model="x", source="y"))])
    pk = Item.objects.get(project=elsewhere).pk

    assert client.get(f"{url(project)}items/{pk}/").status_code == 404


def test_query_counts_do_not_grow_with_items_judgments_or_annotators(client, project):
    def counted(address: str, **params: str) -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(address, params)
        assert response.status_code == 200
        return len(queries), response.content.decode()

    small = [counted(url(project)), counted(url(project), model="beta", share_min="0.5", q="tides")]
    small_item = counted(item_url(project, "q1"))
    rows = [item_row(i, first_model=f"m{i % 7}", source="big") for i in range(4, 64)]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    import_votes(
        project,
        [
            vote
            for i in range(4, 64)
            for vote in votes(f"q{i}", "a", "b", "a", "tie", "b", judge=f"g{i}-")
        ]
        + votes("q1", "a", "a", "b", "b", "a", "tie", judge="more"),
    )
    large = [counted(url(project)), counted(url(project), model="beta", share_min="0.5", q="tides")]
    large_item = counted(item_url(project, "q1"))

    assert [n for n, _ in large] == [n for n, _ in small]
    assert large_item[0] == small_item[0]
    assert large_item[1].count('data-judgment="') == 9
    assert large[0][1].count("/explorer/items/") == 50  # a full page


# ---------------------------------------------------------------- judged texts stay


def test_a_judged_items_responses_are_read_only_in_the_admin(client, project):
    item = Item.objects.get(project=project, external_id="q0")
    response = Response.objects.get(item=item, external_id="r1")
    page = client.get(f"/admin/annotation/item/{item.pk}/change/").content.decode()

    assert 'name="responses-0-text"' not in page
    assert "read-only: 3 judgments" in page
    assert item_url(project, "q0") in page

    posted = client.post(
        f"/admin/annotation/response/{response.pk}/change/",
        {"external_id": "r1", "model": "alpha", "text": "Rewritten.", "position": 0},
        follow=True,
    )
    response.refresh_from_db()
    assert response.text == "**Short** answer 0."
    assert "Your change to them was not saved." in posted.content.decode()


def test_an_unjudged_items_responses_stay_editable(client, project):
    item = Item.objects.get(project=project, external_id="q3")
    page = client.get(f"/admin/annotation/item/{item.pk}/change/").content.decode()

    assert 'name="responses-0-text"' in page
    assert "read-only" not in page


def test_a_judged_item_is_not_deleted_and_the_page_says_how_many_judgments(client, project):
    item = Item.objects.get(project=project, external_id="q2")

    page = client.get(f"/admin/annotation/item/{item.pk}/delete/").content.decode()
    client.post(f"/admin/annotation/item/{item.pk}/delete/", {"post": "yes"})

    assert "4 judgments of item q2" in page
    assert Item.objects.filter(pk=item.pk).exists()
    assert Task.objects.filter(item=item).exists()
