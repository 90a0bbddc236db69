"""The LLM judges page shows each judge's measures side by side (README, LLM judges:
Measures of a judge), from the newest report, in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Judge, Project
from annotation.services.endpoints import endpoint_create
from annotation.services.judge_runs import judge_run_start
from annotation.services.judges import judge_create
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute
from annotation.services.researchers import researcher_create
from tests.factories import ProjectFactory, import_items
from tests.llm_stub import LLMStub, llm_stub

pytestmark = pytest.mark.django_db

KEY = "sk-console-measures-51ab-hidden"


@pytest.fixture
def stub(settings) -> Iterator[LLMStub]:
    settings.ARENA_ALLOW_PRIVATE = True
    with llm_stub() as server:
        yield server


@pytest.fixture
def pairs(lead) -> Project:
    project = ProjectFactory(owner=lead, slug="pairs", route="uncertain")
    import_items(project, 6)
    rows = [
        {
            "annotator": f"person-{n}",
            "item": task.item.external_id,
            "a": task.response_a.external_id,
            "b": task.response_b.external_id,
            "choice": "a",
        }
        for task in project.tasks.select_related("item", "response_a", "response_b")
        for n in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    return project


def add_judge(stub: LLMStub, project: Project, model: str) -> Judge:
    endpoint = endpoint_create(
        project=project, name=model, base_url=stub.base_url, model=model, api_key=KEY
    )
    judge = judge_create(project=project, name=model, endpoint=endpoint.pk)
    with TestCase.captureOnCommitCallbacks(execute=True):
        judge_run_start(judge=judge)
    return judge


def page_url(project: Project) -> str:
    return reverse("admin:annotation_project_judges", args=[project.pk])


def test_judges_are_shown_side_by_side_with_their_measures(console, pairs, stub):
    add_judge(stub, pairs, "judge-first")
    add_judge(stub, pairs, "judge-longer")
    report_compute(project=pairs, n_boot=20)

    html = console.get(page_url(pairs)).content.decode()

    header = html.split('class="judge-measures"', 1)[1].split("</thead>", 1)[0]
    assert header.index("judge-first") < header.index("judge-longer")
    row = html.split("Position bias: first shown wins", 1)[1].split("</tr>", 1)[0]
    assert "<td>1.00 [1.00, 1.00]</td>" in row  # judge-first always picks the first shown
    routed = html.split("Tasks routed to people", 1)[1].split("</tr>", 1)[0]
    assert "<td>6 of 6</td>" in routed
    assert "Uncertain tasks to people first" in html
    assert KEY not in html


def test_before_any_report_the_page_says_measures_come_later(console, pairs, stub):
    add_judge(stub, pairs, "judge-first")
    html = console.get(page_url(pairs)).content.decode()
    assert "No measures yet" in html


def test_the_page_reads_as_many_queries_with_one_judge_as_with_three(console, pairs, stub):
    add_judge(stub, pairs, "judge-first")
    report_compute(project=pairs, n_boot=10)
    with CaptureQueriesContext(connection) as one:
        assert console.get(page_url(pairs)).status_code == 200
    add_judge(stub, pairs, "judge-longer")
    add_judge(stub, pairs, "judge-truth")
    report_compute(project=pairs, n_boot=10)
    with CaptureQueriesContext(connection) as three:
        html = console.get(page_url(pairs)).content.decode()
    assert "judge-truth" in html.split('class="judge-measures"', 1)[1]
    assert len(three) == len(one)


def test_another_researcher_gets_a_404_for_the_measures(pairs, stub):
    add_judge(stub, pairs, "judge-first")
    report_compute(project=pairs, n_boot=10)
    stranger = Client()
    stranger.force_login(researcher_create(username="stranger"))
    assert stranger.get(page_url(pairs)).status_code == 404
