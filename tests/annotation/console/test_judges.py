"""The console's LLM judges (README, LLM judges): the project's judges page with its runs
and their progress, a run started from it, and the judge's admin page with a preview of
its prompt on a real task; another researcher gets 404s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, TestCase
from django.urls import reverse

from annotation.models import Judge, JudgeRun, JudgeVerdict, Judgment, Project
from annotation.services.endpoints import endpoint_create
from annotation.services.judge_runs import judge_run_start
from annotation.services.judges import judge_create
from annotation.services.researchers import researcher_create
from tests.factories import ProjectFactory, import_items
from tests.llm_stub import LLMStub, llm_stub

pytestmark = pytest.mark.django_db

KEY = "sk-console-3c8d1f0e9b2a-hidden"


@pytest.fixture
def stub(settings) -> Iterator[LLMStub]:
    settings.ARENA_ALLOW_PRIVATE = True
    with llm_stub() as server:
        yield server


@pytest.fixture
def pairs(lead) -> Project:
    project = ProjectFactory(owner=lead, slug="pairs")
    import_items(project, 3)
    return project


@pytest.fixture
def judge(pairs, stub) -> Judge:
    endpoint = endpoint_create(
        project=pairs, name="first", base_url=stub.base_url, model="judge-first", api_key=KEY
    )
    return judge_create(project=pairs, name="position", endpoint=endpoint.pk)


def page_url(project: Project) -> str:
    return reverse("admin:annotation_project_judges", args=[project.pk])


def test_the_page_lists_judges_and_runs_with_their_progress(console, pairs, judge):
    with TestCase.captureOnCommitCallbacks(execute=True):
        run = judge_run_start(judge=judge, max_calls=4)

    html = console.get(page_url(pairs)).content.decode()

    assert "position" in html and "judge-first" in html
    assert f'data-run="{run.pk}"' in html
    assert 'value="2"' in html and "2 / 3" in html  # two tasks of three before max_calls
    assert "max_calls reached" in html
    assert "hx-get" not in html.split('id="judge-runs"')[1].split(">")[0]  # finished: no poll
    assert KEY not in html


def test_an_unfinished_run_makes_the_table_poll_itself(console, pairs, judge, published):
    run = judge_run_start(judge=judge)  # queued, not run

    html = console.get(page_url(pairs)).content.decode()
    assert 'hx-trigger="every 2s"' in html
    table = console.get(reverse("admin:annotation_project_judge_runs", args=[pairs.pk]))
    assert table.status_code == 200
    body = table.content.decode()
    assert body.lstrip().startswith('<div id="judge-runs"') and f'data-run="{run.pk}"' in body


def test_a_run_started_from_the_page_judges_the_unjudged_tasks(console, pairs, judge, stub):
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = console.post(
            reverse("admin:annotation_project_judge_run_new", args=[pairs.pk]),
            {"judge": judge.pk, "tasks": "unjudged", "swap": "on", "samples": "1"},
        )

    assert answer.status_code == 302
    run = JudgeRun.objects.get()
    assert (run.status, run.done, run.calls, run.swap) == ("done", 3, 6, True)


def test_a_bad_run_from_the_page_is_told_and_starts_nothing(console, pairs, judge):
    answer = console.post(
        reverse("admin:annotation_project_judge_run_new", args=[pairs.pk]),
        {"judge": judge.pk, "tasks": "all", "samples": "0"},
        follow=True,
    )

    assert "samples" in answer.content.decode()
    assert not JudgeRun.objects.exists()


def test_the_judge_page_previews_its_prompt_on_a_real_task_in_both_orders(console, pairs, judge):
    html = console.get(reverse("admin:annotation_judge_change", args=[judge.pk])).content.decode()

    assert "Question 0?" in html and "Answer 0 to 0." in html
    assert "as stored" in html and "swapped" in html
    assert "&quot;choice&quot;: &quot;A&quot;" in html  # the contract's answer is asked for


def test_a_judge_made_in_the_console_takes_the_default_template(console, pairs, judge):
    answer = console.post(
        reverse("admin:annotation_judge_add"),
        {"project": pairs.pk, "name": "second", "endpoint": judge.endpoint_id, "template": ""},
    )

    assert answer.status_code == 302, answer.content.decode()[:2000]
    made = Judge.objects.get(name="second")
    assert "{{ response_b }}" in made.template and made.annotator.public_id == "second"


def test_a_bad_template_in_the_console_is_shown_on_its_field(console, pairs, judge):
    url = reverse("admin:annotation_judge_change", args=[judge.pk])
    answer = console.post(
        url,
        {"name": "position", "endpoint": judge.endpoint_id, "template": "{{ prompt }}"},
    )

    assert answer.status_code == 200
    assert "must show {{ response_a }}" in answer.content.decode()
    judge.refresh_from_db()
    assert judge.template_version == 1


def test_another_researcher_gets_404s(pairs, judge):
    stranger = Client()
    stranger.force_login(researcher_create(username="stranger"))

    assert stranger.get(page_url(pairs)).status_code == 404
    runs = reverse("admin:annotation_project_judge_runs", args=[pairs.pk])
    assert stranger.get(runs).status_code == 404
    start = reverse("admin:annotation_project_judge_run_new", args=[pairs.pk])
    assert stranger.post(start, {"judge": judge.pk}).status_code == 404
    judge_page = stranger.get(reverse("admin:annotation_judge_change", args=[judge.pk]))
    assert judge_page.status_code == 302  # the admin's "not yours": back to the index
    assert not JudgeRun.objects.exists()


def test_another_researchers_judges_runs_and_verdicts_are_not_listed(console, pairs, judge, stub):
    with TestCase.captureOnCommitCallbacks(execute=True):
        judge_run_start(judge=judge)
    theirs = ProjectFactory(owner=researcher_create(username="other"), slug="theirs")
    import_items(theirs, 1)
    endpoint = endpoint_create(
        project=theirs, name="x", base_url=stub.base_url, model="judge-first", api_key=KEY
    )
    other_judge = judge_create(project=theirs, name="hidden-judge", endpoint=endpoint.pk)
    with TestCase.captureOnCommitCallbacks(execute=True):
        other_run = judge_run_start(judge=other_judge)

    for model, mine, other in [
        ("judge", {judge.pk}, other_judge.pk),
        (
            "judgerun",
            set(JudgeRun.objects.filter(judge=judge).values_list("pk", flat=True)),
            other_run.pk,
        ),
        (
            "judgeverdict",
            set(JudgeVerdict.objects.filter(judge=judge).values_list("pk", flat=True)),
            JudgeVerdict.objects.filter(judge=other_judge).first().pk,
        ),
    ]:
        page = console.get(f"/admin/annotation/{model}/")
        assert page.status_code == 200, model
        assert {row.pk for row in page.context["cl"].result_list} == mine, model
        assert console.get(f"/admin/annotation/{model}/{other}/change/").status_code == 302
    assert "hidden-judge" not in console.get("/admin/annotation/judgerun/").content.decode()


def test_a_judge_deleted_in_the_console_takes_its_judgments_and_waits_for_its_runs(
    console, pairs, judge
):
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = judge_run_start(judge=judge)
    assert Judgment.objects.filter(annotator=judge.annotator).count() == 3
    unfinished = judge_run_start(judge=judge)  # queued once committed: not yet
    delete_url = reverse("admin:annotation_judge_delete", args=[judge.pk])

    # A run not ended: no delete (its worker would write judgments of no judge).
    assert console.get(delete_url).status_code == 403
    assert console.post(delete_url, {"post": "yes"}).status_code == 403
    assert Judge.objects.filter(pk=judge.pk).exists()

    JudgeRun.objects.filter(pk=unfinished.pk).update(status="done")
    answer = console.post(delete_url, {"post": "yes"})

    assert answer.status_code == 302
    assert not Judge.objects.filter(pk=judge.pk).exists()
    assert not JudgeRun.objects.filter(pk=done.pk).exists()
    assert not Judgment.objects.filter(annotator=judge.annotator).exists()
