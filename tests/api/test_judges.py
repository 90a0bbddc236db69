"""LLM judges and judge runs over the API (README, LLM judges): researchers of the project
only, templates checked, runs started with 202 and followed by their progress; the
endpoint's key in no answer, export, log or page."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from django.test import TestCase
from rest_framework.test import APIClient

from annotation.judge_prompts import DEFAULT_TEMPLATES
from annotation.models import Judge, JudgeRun, Judgment
from annotation.services.researchers import researcher_group_sync
from tests.factories import ResearcherFactory
from tests.llm_stub import LLMStub, llm_stub

pytestmark = pytest.mark.django_db

KEY = "sk-judge-api-1b7f3e9d2c5a-secret"


@pytest.fixture
def stub(settings) -> Iterator[LLMStub]:
    settings.ARENA_ALLOW_PRIVATE = True
    with llm_stub() as server:
        yield server


def url(path: str = "judges/", slug: str = "pairs") -> str:
    return f"/api/v1/projects/{slug}/{path}"


def endpoint(client, stub: LLMStub, model: str = "judge-first") -> int:
    body = {"name": model, "base_url": stub.base_url, "model": model, "api_key": KEY}
    answer = client.post(url("endpoints/"), body, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def create(client, stub: LLMStub, **changes) -> dict:
    body = {"name": "first", **changes}
    if "endpoint" not in body:
        body["endpoint"] = endpoint(client, stub)
    answer = client.post(url(), body, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_create_read_list_change_delete(researcher_client, pairwise, stub):
    created = create(researcher_client, stub, params={"temperature": 0})

    assert created["template"] == DEFAULT_TEMPLATES["pairwise"]
    assert (created["name"], created["params"], created["template_version"]) == (
        "first",
        {"temperature": 0},
        1,
    )
    detail = url(f"judges/{created['id']}/")
    assert researcher_client.get(detail).json() == created
    assert researcher_client.get(url()).json()["results"] == [created]

    template = "Compare.\n{{ prompt }}\nA: {{ response_a }}\nB: {{ response_b }}"
    changed = researcher_client.patch(detail, {"template": template}, format="json").json()
    assert (changed["template"], changed["template_version"]) == (template, 2)
    renamed = researcher_client.patch(detail, {"name": "second"}, format="json").json()
    assert (renamed["name"], renamed["template_version"]) == ("second", 2)

    assert researcher_client.delete(detail).status_code == 204
    assert researcher_client.get(detail).status_code == 404


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("Judge {{ prompt }} and {{ response_a }}", "must show {{ response_b }}"),
        ("{{ prompt }} {{ response_a }} {{ response_b }} {{ secret }}", "unknown field"),
        ("", "blank"),
    ],
)
def test_a_bad_template_is_a_400_naming_it(researcher_client, pairwise, stub, template, error):
    answer = researcher_client.post(
        url(),
        {"name": "j", "endpoint": endpoint(researcher_client, stub), "template": template},
        format="json",
    )

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "template"
    assert error in answer.json()["errors"][0]["error"]
    assert not Judge.objects.exists()


def test_bad_fields_are_400s_naming_them(researcher_client, pairwise, stub, researcher):
    endpoint_id = endpoint(researcher_client, stub)
    cases = [
        ({"name": "", "endpoint": endpoint_id}, "name"),
        ({"name": "j", "endpoint": 999}, "endpoint"),
        (
            {"name": "j", "endpoint": endpoint_id, "params": {"temperature": 5}},
            "params.temperature",
        ),
        ({"name": "j", "endpoint": endpoint_id, "params": {"seed": 1}}, "params.seed"),
        ({"name": "j", "endpoint": endpoint_id, "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        answer = researcher_client.post(url(), body, format="json")
        assert answer.status_code == 400, body
        assert field in {e["field"] for e in answer.json()["errors"]}, answer.json()
    researcher_client.post(url(), {"name": "j", "endpoint": endpoint_id}, format="json")
    again = researcher_client.post(url(), {"name": "j", "endpoint": endpoint_id}, format="json")
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "name"


def test_an_endpoint_a_judge_calls_cannot_be_deleted(researcher_client, pairwise, stub):
    judge = create(researcher_client, stub)

    answer = researcher_client.delete(url(f"endpoints/{judge['endpoint']}/"))

    assert answer.status_code == 400 and "first" in answer.json()["detail"]


def test_another_researcher_gets_404s(researcher_client, pairwise, stub):
    judge = create(researcher_client, stub)
    stranger = APIClient()
    stranger.force_authenticate(ResearcherFactory())

    assert stranger.get(url()).status_code == 404
    assert stranger.get(url(f"judges/{judge['id']}/")).status_code == 404
    assert stranger.patch(url(f"judges/{judge['id']}/"), {}, format="json").status_code == 404
    assert stranger.delete(url(f"judges/{judge['id']}/")).status_code == 404
    run = {"judge": judge["id"]}
    assert stranger.post(url("judge-runs/"), run, format="json").status_code == 404
    assert stranger.get(url("judge-runs/")).status_code == 404


def start(client, body: dict):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url("judge-runs/"), body, format="json")


def test_a_run_answers_202_and_its_progress_says_what_was_done(researcher_client, pairwise, stub):
    judge = create(researcher_client, stub)

    answer = start(researcher_client, {"judge": judge["id"], "tasks": "all", "swap": True})

    assert answer.status_code == 202
    assert answer.json()["status"] == "pending" and answer.json()["id"]
    progress = researcher_client.get(url(f"judge-runs/{answer.json()['id']}/")).json()
    assert {k: progress[k] for k in ("status", "done", "total", "calls", "failures")} == {
        "status": "done",
        "done": 3,
        "total": 3,
        "calls": 6,
        "failures": 0,
    }
    assert progress["tokens"] > 0
    assert researcher_client.get(url("judge-runs/")).json()["results"][0]["id"] == progress["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tasks": "some"}, "tasks"),
        ({"tasks": {"colour": 1}}, "tasks.colour"),
        ({"tasks": {"min_judgments": -1}}, "tasks.min_judgments"),
        ({"tasks": {"since": "2026-13-45T00:00:00"}}, "tasks.since"),
        ({"tasks": {"since": True}}, "tasks.since"),
        ({"swap": "yes"}, "swap"),
        ({"samples": 0}, "samples"),
        ({"samples": 11}, "samples"),
        ({"max_calls": 0}, "max_calls"),
    ],
)
def test_a_bad_run_is_a_400_naming_the_field(researcher_client, pairwise, stub, body, field):
    judge = create(researcher_client, stub)

    answer = start(researcher_client, {"judge": judge["id"], **body})

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == field
    assert not JudgeRun.objects.exists()


def test_a_run_of_a_judge_of_another_project_is_a_404(researcher_client, pairwise, stub):
    answer = start(researcher_client, {"judge": 12345})

    assert answer.status_code == 404


def test_export_filters_choose_the_tasks(researcher_client, pairwise, stub):
    judge = create(researcher_client, stub)

    answer = start(researcher_client, {"judge": judge["id"], "tasks": {"min_judgments": 1}})

    run = researcher_client.get(url(f"judge-runs/{answer.json()['id']}/")).json()
    assert (run["total"], run["calls"]) == (0, 0)


def test_verdicts_are_model_judgments_in_exports_but_not_in_human_ones(
    researcher_client, pairwise, stub
):
    judge = create(researcher_client, stub)
    start(researcher_client, {"judge": judge["id"]})

    rows = researcher_client.get(url("export/?format=judgments&filetype=jsonl"))
    lines = b"".join(rows.streaming_content).decode().splitlines()
    assert len(lines) == 3
    assert all(
        '"annotator": "first"' in line and '"annotator_kind": "model"' in line for line in lines
    )
    dpo = researcher_client.get(url("export/?format=dpo"))
    assert b"".join(dpo.streaming_content) == b""  # humans by default: none voted
    assert Judgment.objects.count() == 3


def test_the_key_is_in_no_answer_export_log_or_page(
    researcher_client, client, pairwise, researcher, stub, caplog
):
    caplog.set_level(logging.DEBUG)
    judge = create(researcher_client, stub)
    run = start(researcher_client, {"judge": judge["id"]}).json()
    failing = create(
        researcher_client,
        stub,
        name="broken",
        endpoint=endpoint(researcher_client, stub, "failing"),
    )
    start(researcher_client, {"judge": failing["id"]})
    answers = [
        researcher_client.get(url()),
        researcher_client.get(url(f"judges/{judge['id']}/")),
        researcher_client.get(url("judge-runs/")),
        researcher_client.get(url(f"judge-runs/{run['id']}/")),
        researcher_client.get("/api/schema/"),
    ]
    for fmt in ("judgments", "items", "annotators"):
        answers.append(researcher_client.get(url(f"export/?format={fmt}")))
    researcher.groups.add(researcher_group_sync())
    client.force_login(researcher)
    answers += [
        client.get("/admin/annotation/judge/"),
        client.get(f"/admin/annotation/judge/{judge['id']}/change/"),
        client.get("/admin/annotation/judgerun/"),
        client.get(f"/admin/annotation/judgerun/{run['id']}/change/"),
    ]

    for answer in answers:
        assert answer.status_code == 200, (answer.request["PATH_INFO"], answer.status_code)
        content = b"".join(answer.streaming_content) if answer.streaming else answer.content
        assert KEY.encode() not in content, answer.request["PATH_INFO"]
    assert caplog.records and KEY not in caplog.text


def test_progress_and_lists_read_in_a_fixed_number_of_queries(
    researcher_client, pairwise, stub, published, django_assert_max_num_queries
):
    judge = create(researcher_client, stub)
    for n in range(4):
        create(researcher_client, stub, name=f"judge-{n}", endpoint=judge["endpoint"])
    runs = [start(researcher_client, {"judge": judge["id"]}).json()["id"] for _ in range(5)]

    with django_assert_max_num_queries(3):
        progress = researcher_client.get(url(f"judge-runs/{runs[0]}/"))
    with django_assert_max_num_queries(4):
        listed = researcher_client.get(url("judge-runs/"))
    with django_assert_max_num_queries(4):
        judges = researcher_client.get(url())

    assert progress.json()["status"] == "pending"
    assert [r["id"] for r in listed.json()["results"]] == runs  # oldest first, as every list
    assert len(judges.json()["results"]) == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_run_goes_on_after_the_202(researcher_client, pairwise, settings):
    settings.ARENA_ALLOW_PRIVATE = True
    settings.JUDGE_EAGER_THREAD = True
    with llm_stub(slow_seconds=0.3) as slow:
        judge = create(
            researcher_client, slow, endpoint=endpoint(researcher_client, slow, "slow-judge-first")
        )
        answer = researcher_client.post(url("judge-runs/"), {"judge": judge["id"]}, format="json")

        assert answer.status_code == 202
        detail = url(f"judge-runs/{answer.json()['id']}/")
        assert researcher_client.get(detail).json()["done"] < 3  # the calls take 0.3 s each
        deadline = time.monotonic() + 30
        while researcher_client.get(detail).json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert researcher_client.get(detail).json()["done"] == 3


def test_a_judge_with_a_run_not_ended_is_a_409_and_nothing_is_lost(
    researcher_client, pairwise, stub
):
    judge = create(researcher_client, stub)
    start(researcher_client, {"judge": judge["id"]})
    running = start(researcher_client, {"judge": judge["id"]}).json()["id"]
    JudgeRun.objects.filter(pk=running).update(status="running")

    answer = researcher_client.delete(url(f"judges/{judge['id']}/"))

    assert answer.status_code == 409
    assert answer.json()["errors"] == [{"field": "judge", "error": f"run {running} is running"}]
    assert Judge.objects.filter(pk=judge["id"]).exists()
    assert Judgment.objects.filter(annotator__external_id="first").count() == 3
    JudgeRun.objects.filter(pk=running).update(status="done")
    assert researcher_client.delete(url(f"judges/{judge['id']}/")).status_code == 204
    assert not Judgment.objects.filter(annotator__external_id="first").exists()
