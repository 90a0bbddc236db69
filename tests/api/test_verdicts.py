"""Single-response verdicts over the REST API (README "Verdicts and KTO"): a rubric project from
the helpful/harmless verdict preset, annotators answering good / bad (with an optional
reason) until every task has exactly k judgments; verdicts refused where they do not
belong, with nothing stored; agreement of a verdict as a two-category nominal criterion."""

from __future__ import annotations

import json

import pytest

from annotation.models import Assignment, Criterion, Judgment, Task
from annotation.services.quality import gold_answer_matches
from tests.factories import (
    AnnotatorUserFactory,
    ProjectFactory,
    import_items,
    item_rows,
    rubric_project,
)

pytestmark = pytest.mark.django_db

K = 3
ITEMS = 4
SLUG = "thumbs"


@pytest.fixture
def study(researcher_client) -> str:
    created = researcher_client.post(
        "/api/v1/projects/",
        {
            "slug": SLUG,
            "name": "Thumbs",
            "preset": "helpful-harmless-verdict",
            "annotations_per_task": K,
            "gold_rate": 0,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["kind"] == "rubric"
    assert [(c["key"], c["type"]) for c in body["criteria"]] == [
        ("helpful", "verdict"),
        ("harmless", "verdict"),
    ]
    imported = researcher_client.post(
        f"/api/v1/projects/{SLUG}/items/", item_rows(ITEMS, responses=1), format="json"
    )
    assert imported.status_code == 201, imported.json()
    return SLUG


def _next(client, slug: str = SLUG):
    return client.get(f"/api/v1/projects/{slug}/tasks/next/")


def _judge(client, assignment: int, body):
    return client.post(f"/api/v1/assignments/{assignment}/judgment/", body, format="json")


def test_annotators_give_verdicts_until_every_task_has_exactly_k(study, api_client_for):
    stored = 0
    for n in range(K + 1):
        client = api_client_for(AnnotatorUserFactory(username=f"thumb{n}"))
        while (response := _next(client)).status_code == 200:
            task = response.json()
            assert [(c["key"], c["type"]) for c in task["criteria"]] == [
                ("helpful", "verdict"),
                ("harmless", "verdict"),
            ]
            assert "model-" not in response.content.decode()
            answer = _judge(
                client,
                task["assignment"],
                {
                    "scores": {"helpful": n % 2 == 0, "harmless": True},
                    "reasons": {"helpful": "  misses the point " if n % 2 else "", "harmless": ""},
                },
            )
            assert answer.status_code == 201, answer.json()
            stored += 1
        assert response.status_code == 204

    assert stored == K * ITEMS
    assert list(Task.objects.values_list("judgment_count", flat=True)) == [K] * ITEMS
    judgments = Judgment.objects.order_by("pk")
    assert {j.scores["harmless"] for j in judgments} == {True}
    assert {type(j.scores["helpful"]) for j in judgments} == {bool}
    # An empty reason is no reason; a given one is kept, trimmed.
    assert {tuple(j.reasons.items()) for j in judgments} == {
        (),
        (("helpful", "misses the point"),),
    }


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({"scores": {"helpful": 1, "harmless": True}}, "scores.helpful", "a verdict"),
        ({"scores": {"helpful": "yes", "harmless": True}}, "scores.helpful", "true or false"),
        ({"scores": {"harmless": True}}, "scores.helpful", "a verdict"),
        (
            {"scores": {"helpful": True, "harmless": True}, "reasons": {"tone": "x"}},
            "reasons.tone",
            "unknown criterion",
        ),
        (
            {"scores": {"helpful": True, "harmless": True}, "reasons": ["too long"]},
            "reasons",
            "",
        ),
        ({"scores": {"helpful": True, "harmless": True}, "choice": "left"}, "choice", ""),
    ],
)
def test_a_bad_verdict_is_a_400_naming_the_problem_and_nothing_is_stored(
    study, api_client_for, body, field, error
):
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client).json()

    response = _judge(client, task["assignment"], body)

    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert any(e["field"].startswith(field) and error in e["error"] for e in errors), errors
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(pk=task["assignment"]).status == Assignment.Status.LEASED


def test_a_verdict_on_a_pairwise_task_is_a_400_naming_it(researcher, api_client_for):
    project = ProjectFactory(owner=researcher, slug="pairs")
    import_items(project, 1)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, "pairs").json()

    response = _judge(client, task["assignment"], {"choice": "left", "scores": {"helpful": True}})

    assert response.status_code == 400
    assert {
        "field": "scores",
        "error": "a verdict judges one response: rubric tasks only, not a pairwise task",
    } in response.json()["errors"]
    reasons = _judge(client, task["assignment"], {"choice": "left", "reasons": {"x": "why"}})
    assert reasons.status_code == 400
    assert "reasons" in {e["field"] for e in reasons.json()["errors"]}
    assert not Judgment.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"min": 0}, "criteria[0].min"),
        ({"max": 1}, "criteria[0].max"),
        ({"level_labels": {"0": "bad", "1": "good"}}, "criteria[0].level_labels"),
        ({"level": "ordinal"}, "criteria[0].level"),
    ],
)
def test_a_verdict_criterion_refuses_a_scale(researcher_client, extra, field):
    response = researcher_client.post(
        "/api/v1/projects/",
        {
            "slug": "v",
            "name": "V",
            "kind": "rubric",
            "criteria": [{"key": "ok", "type": "verdict", **extra}],
        },
        format="json",
    )

    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}
    assert not Criterion.objects.exists()


def test_verdict_criteria_are_for_rubric_projects(researcher_client):
    response = researcher_client.post(
        "/api/v1/projects/",
        {"slug": "p", "name": "P", "criteria": [{"key": "ok", "type": "verdict"}]},
        format="json",
    )

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["criteria[0].type"]


def test_a_verdict_criterion_is_stored_as_a_nominal_good_bad_scale(researcher_client):
    response = researcher_client.post(
        "/api/v1/projects/",
        {
            "slug": "v",
            "name": "V",
            "kind": "rubric",
            "criteria": [{"key": "ok", "type": "verdict"}],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    (criterion,) = response.json()["criteria"]
    assert (criterion["type"], criterion["level"]) == ("verdict", "nominal")
    assert (criterion["min"], criterion["max"]) == (0, 1)


def test_agreement_reports_a_verdict_as_a_nominal_two_category_criterion(study, researcher_client):
    rows = [
        {
            "annotator": f"h{k}",
            "item": f"q{i}",
            "response": "r1",
            # helpful: everyone agrees per item; harmless: one dissent on every item.
            "scores": {"helpful": i % 2 == 0, "harmless": k != 0},
        }
        for i in range(ITEMS)
        for k in range(K)
    ]
    imported = researcher_client.post(f"/api/v1/projects/{SLUG}/judgments/", rows, format="json")
    assert imported.status_code == 201, imported.json()

    body = researcher_client.get(f"/api/v1/projects/{SLUG}/agreement/").json()

    helpful, harmless = body["criteria"]["helpful"], body["criteria"]["harmless"]
    assert helpful["krippendorff_alpha"]["level"] == "nominal"
    assert helpful["percent_agreement"]["value"] == 1.0
    assert helpful["krippendorff_alpha"]["value"] == pytest.approx(1.0)
    assert harmless["percent_agreement"]["value"] == pytest.approx(1 / 3)
    assert harmless["n_items"] == ITEMS and harmless["n_judgments"] == ITEMS * K
    assert len(helpful["krippendorff_alpha"]["ci"]) == 2


EXPORT = f"/api/v1/projects/{SLUG}/export/"


def pull(client, **params) -> list[dict]:
    response = client.get(EXPORT, {"filetype": "jsonl", **params})
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


@pytest.fixture
def judged(study, researcher_client) -> str:
    """Verdicts by three people on four responses: q0 good 3-0, q1 bad 2-1 (harmful once
    counts as bad), q2 good 2-1, q3 a tie 1-1 (one judge gave nothing)."""
    verdicts = {
        "q0": [(True, True), (True, True), (True, True)],
        "q1": [(True, False), (False, True), (True, True)],
        "q2": [(True, True), (True, True), (False, False)],
        "q3": [(True, True), (True, False)],
    }
    rows = [
        {
            "annotator": f"h{k}",
            "item": item,
            "response": "r1",
            "scores": {"helpful": helpful, "harmless": harmless},
        }
        for item, given in verdicts.items()
        for k, (helpful, harmless) in enumerate(given)
    ]
    imported = researcher_client.post(f"/api/v1/projects/{SLUG}/judgments/", rows, format="json")
    assert imported.status_code == 201, imported.json()
    return SLUG


def test_kto_gives_one_row_per_response_with_an_agreed_verdict(researcher_client, judged):
    rows = pull(researcher_client, format="kto")

    assert [(r["item_id"], r["label"], r["n_judgments"], r["agreement"]) for r in rows] == [
        ("q0", True, 3, 1.0),
        ("q1", False, 3, round(2 / 3, 6)),
        ("q2", True, 3, round(2 / 3, 6)),
    ]
    first = rows[0]
    assert first["prompt"] == "Question 0?" and first["completion"] == "Answer 0 to 0."
    assert first["model"] == "model-0" and first["response_id"] == "r1"
    strict = pull(researcher_client, format="kto", min_agreement="0.9")
    assert [r["item_id"] for r in strict] == ["q0"]
    assert [r["item_id"] for r in pull(researcher_client, format="kto", min_judgments=4)] == []


def test_kto_is_conversational_when_prompts_are(researcher_client, judged):
    conversation = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Name a prime."},
    ]
    item = {
        "id": "chat",
        "prompt": conversation,
        "responses": [{"id": "r1", "model": "m", "text": "7"}],
    }
    researcher_client.post(f"/api/v1/projects/{SLUG}/items/", [item], format="json")
    researcher_client.post(
        f"/api/v1/projects/{SLUG}/judgments/",
        [
            {
                "annotator": "h0",
                "item": "chat",
                "response": "r1",
                "scores": {"helpful": True, "harmless": True},
            }
        ],
        format="json",
    )

    rows = {r["item_id"]: r for r in pull(researcher_client, format="kto")}

    assert rows["chat"]["prompt"] == conversation
    assert rows["chat"]["completion"] == [{"role": "assistant", "content": "7"}]
    assert rows["q0"]["prompt"] == [{"role": "user", "content": "Question 0?"}]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "kto", "since": "1"}, "since"),
        ({"format": "kto", "expand": "all"}, "expand"),
        ({"format": "kto", "label": "majority"}, "label"),
    ],
)
def test_kto_refuses_filters_it_does_not_take(researcher_client, judged, params, field):
    response = researcher_client.get(EXPORT, params)

    assert response.status_code == 400
    assert field in {e["field"] for e in response.json()["errors"]}


def test_kto_needs_a_rubric_project_with_verdicts(researcher, researcher_client):
    ProjectFactory(owner=researcher, slug="pairs")
    rubric_project(owner=researcher, slug="scores")

    for slug in ("pairs", "scores"):
        response = researcher_client.get(f"/api/v1/projects/{slug}/export/", {"format": "kto"})
        assert response.status_code == 400
        assert [e["field"] for e in response.json()["errors"]] == ["format"]


def test_verdict_exports_load_with_hugging_face_datasets(researcher_client, judged, tmp_path):
    datasets = pytest.importorskip("datasets")
    for name in ("kto", "judgments", "rubric"):
        for filetype, builder in (("jsonl", "json"), ("parquet", "parquet"), ("csv", "csv")):
            response = researcher_client.get(EXPORT, {"format": name, "filetype": filetype})
            assert response.status_code == 200, response.content
            path = tmp_path / f"{name}.{filetype}"
            path.write_bytes(b"".join(response.streaming_content))
            dataset = datasets.load_dataset(
                builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "c")
            )
            assert dataset.num_rows == len(pull(researcher_client, format=name))
            if name == "kto" and filetype != "csv":
                assert dataset.features["label"].dtype == "bool"
                assert dataset["label"] == [True, False, True]


def test_judgments_and_rubric_exports_carry_verdicts(researcher_client, judged):
    judgments = pull(researcher_client, format="judgments")
    rubric = {r["item_id"]: r for r in pull(researcher_client, format="rubric")}

    assert judgments[0]["scores"] == {"helpful": True, "harmless": True}
    # A verdict summarised as a nominal criterion: the majority (1 good, 0 bad) and its share.
    assert (rubric["q1"]["harmless"], rubric["q1"]["share_harmless"]) == (1, round(2 / 3, 6))
    assert (rubric["q0"]["helpful"], rubric["q0"]["agreement_helpful"]) == (1, 1.0)


def test_a_gold_verdict_is_matched_exactly(study, researcher_client):
    item = item_rows(1, responses=1, prefix="g")[0] | {
        "gold": {"scores": {"r1": {"helpful": True, "harmless": False}}}
    }
    bad = item_rows(1, responses=1, prefix="x")[0] | {"gold": {"scores": {"r1": {"helpful": 1}}}}

    assert (
        researcher_client.post(EXPORT.replace("export", "items"), [item], format="json").status_code
        == 201
    )
    refused = researcher_client.post(EXPORT.replace("export", "items"), [bad], format="json")

    assert refused.status_code == 400
    assert "must be true or false" in json.dumps(refused.json())
    gold = Task.objects.get(item__external_id="g0").gold_answer
    right = Judgment(scores={"helpful": True, "harmless": False})
    wrong = Judgment(scores={"helpful": True, "harmless": True})
    assert gold_answer_matches(gold_answer=gold, judgment=right)
    assert not gold_answer_matches(gold_answer=gold, judgment=wrong)
