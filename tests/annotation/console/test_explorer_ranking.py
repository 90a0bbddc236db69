"""The data explorer on a ranking project: the table gives each task's mean place per
response, the item page each judgment's ranking by response and as it was on screen."""

from __future__ import annotations

import pytest

from annotation.models import Judgment, Project
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from tests.annotation.console.test_explorer import item_url, listed, url
from tests.factories import ProjectFactory, make_annotator

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(lead) -> Project:
    project = ProjectFactory(owner=lead, slug="ranks", kind=Project.Kind.RANKING, allow_tie=True)
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Prompt {i}",
            "responses": [{"id": f"r{j}", "model": f"m{j}", "text": f"T{j}"} for j in (1, 2, 3)],
        }
        for i in range(2)
    ]
    rows[1]["gold"] = {"ranking": [["r2"], ["r1", "r3"]]}
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    votes = [
        {"annotator": "h1", "item": "q0", "ranking": [["r3"], ["r1"], ["r2"]]},
        {"annotator": "h2", "item": "q0", "ranking": [["r3", "r1"], ["r2"]]},
    ]
    judgments_import(project=project, rows=list(enumerate(votes, start=1)))
    return project


def test_the_table_gives_each_tasks_mean_place_per_response(client, project):
    page = client.get(url(project)).content.decode()

    assert listed(client, project) == ["q0", "q1"]
    q0 = page[page.index(">q0</a>") : page.index(">q1</a>")]
    # r3: places 1 and 1.5; r1: 2 and 1.5; r2: 3 and 3.
    assert q0.index("r3 (m3) 1.25") < q0.index("r1 (m1) 1.75") < q0.index("r2 (m2) 3")


def test_the_model_filter_finds_a_ranking_task_by_any_of_its_responses(client, project):
    assert listed(client, project, model="m3") == ["q0", "q1"]


def test_the_item_page_shows_each_ranking_by_response_and_on_screen(client, project):
    annotator = make_annotator()
    assignment = assignment_lease(project=project, annotator=annotator)
    item = assignment.task.item.external_id
    judgment_submit(assignment=assignment, annotator=annotator, ranking=[["B"], ["C", "A"]])
    judgment = Judgment.objects.get(annotator=annotator)
    name = {r.pk: f"{r.external_id} ({r.model})" for r in assignment.task.item.responses.all()}
    a, b, c = (name[pk] for pk in assignment.shown_order)

    page = client.get(item_url(project, item)).content.decode()

    row = page[page.index(f'data-judgment="{judgment.pk}"') :]
    row = row[: row.index("</tr>")]
    cell = row[row.index('<td class="explorer-ranking">') :]
    assert cell[: cell.index("</td>")].removeprefix('<td class="explorer-ranking">') in {
        f"{b} &gt; {a} = {c}",
        f"{b} &gt; {c} = {a}",  # a tie lists its responses by id
    }
    assert ('<td class="explorer-screen">B &gt; A = C</td>' in row) or (
        '<td class="explorer-screen">B &gt; C = A</td>' in row
    )


def test_the_item_page_shows_the_gold_order(client, project):
    page = client.get(item_url(project, "q1")).content.decode()

    assert "r2 (m2) &gt; r1 (m1) = r3 (m3)" in page
