"""Span-level feedback over the REST API (README "Span-level feedback"): annotators mark
spans of a response, named as they saw it; the judgment stores response ids and code-point
offsets; a span outside the text, of an unknown label or on an unknown response is a 400
naming the problem, with nothing stored."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, Judgment, Response, Task
from tests.api.test_annotating import JUDGMENT_QUERIES
from tests.factories import AnnotatorUserFactory, item_rows

pytestmark = pytest.mark.django_db

K = 2
# Code points: the emoji is one character here (two UTF-16 units in a browser).
TEXT = "Paris 🗼 is in 日本, not France."
LABELS = [
    {"key": "factual_error", "description": "Wrong", "shortcut": "f"},
    {"key": "unsafe", "description": "Harmful", "shortcut": "u"},
]


def _items(count: int, responses: int) -> list[dict]:
    rows = item_rows(count, responses=responses)
    for row in rows:
        for n, response in enumerate(row["responses"]):
            response["text"] = f"{TEXT} ({n})"
    return rows


def _project(client, slug: str, kind: str, responses: int, **fields) -> str:
    body = {"slug": slug, "name": slug, "kind": kind, "annotations_per_task": K, "gold_rate": 0}
    body["criteria"] = [{"key": "errors", "type": "spans", "labels": LABELS}]
    created = client.post("/api/v1/projects/", body | fields, format="json")
    assert created.status_code == 201, created.json()
    imported = client.post(f"/api/v1/projects/{slug}/items/", _items(2, responses), format="json")
    assert imported.status_code == 201, imported.json()
    return slug


def _next(client, slug: str) -> dict:
    response = client.get(f"/api/v1/projects/{slug}/tasks/next/")
    assert response.status_code == 200
    return response.json()


def _judge(client, assignment: int, body: dict):
    return client.post(f"/api/v1/assignments/{assignment}/judgment/", body, format="json")


def _japan(name: str, **extra) -> dict:
    start = TEXT.index("日本")
    return {"response": name, "start": start, "end": start + 2, "label": "factual_error"} | extra


def test_rubric_spans_are_stored_with_the_response_id_and_code_point_offsets(
    researcher_client, api_client_for
):
    slug = _project(researcher_client, "rated", "rubric", 1)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, slug)
    assert task["criteria"] == [
        {
            "key": "errors",
            "label": "Errors",
            "description": "",
            "type": "spans",
            "labels": LABELS,
        }
    ]

    answer = _judge(client, task["assignment"], {"spans": [_japan("response", note="Japan")]})

    assert answer.status_code == 201, answer.json()
    judgment = Judgment.objects.select_related("task__response_a").get()
    (span,) = judgment.spans
    assert span == {
        "response": judgment.task.response_a_id,
        "start": 14,
        "end": 16,
        "label": "factual_error",
        "note": "Japan",
    }
    assert judgment.task.response_a.text[span["start"] : span["end"]] == "日本"
    assert judgment.scores == {}


def test_pairwise_spans_name_sides_and_are_stored_as_the_response_on_that_side(
    researcher_client, api_client_for
):
    slug = _project(researcher_client, "pairs", "pairwise", 2)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, slug)

    body = {"choice": "left", "spans": [_japan("right"), _japan("left", label="unsafe")]}
    answer = _judge(client, task["assignment"], body)

    assert answer.status_code == 201, answer.json()
    judgment = Judgment.objects.select_related("assignment__task").get()
    left = judgment.assignment.left_response_id
    other = ({judgment.task.response_a_id, judgment.task.response_b_id} - {left}).pop()
    by_label = {span["label"]: span["response"] for span in judgment.spans}
    assert by_label == {"unsafe": left, "factual_error": other}


def test_ranking_spans_name_screen_labels(researcher_client, api_client_for):
    slug = _project(researcher_client, "ranks", "ranking", 3, allow_tie=True)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, slug)

    body = {"ranking": [["A"], ["B"], ["C"]], "spans": [_japan("C")]}
    answer = _judge(client, task["assignment"], body)

    assert answer.status_code == 201, answer.json()
    judgment = Judgment.objects.select_related("assignment").get()
    assert judgment.spans[0]["response"] == judgment.assignment.shown_order[2]


def test_several_annotators_mark_spans_until_every_task_has_k(researcher_client, api_client_for):
    slug = _project(researcher_client, "rated", "rubric", 1)
    for n in range(K + 1):
        client = api_client_for(AnnotatorUserFactory(username=f"marker{n}"))
        while (response := client.get(f"/api/v1/projects/{slug}/tasks/next/")).status_code == 200:
            task = response.json()
            assert "model-" not in response.content.decode()
            spans = [_japan("response")] if n % 2 else []
            assert _judge(client, task["assignment"], {"spans": spans}).status_code == 201
    assert list(Task.objects.values_list("judgment_count", flat=True)) == [K, K]
    assert Judgment.objects.count() == 2 * K


@pytest.mark.parametrize(
    ("span", "field", "error"),
    [
        (_japan("response", end=len(TEXT) + 5), "spans[0]", "start < end <= 33"),
        (_japan("response", start=16, end=16), "spans[0]", "0 <= start < end"),
        (_japan("response", start=-1), "spans[0]", "0 <= start < end"),
        (_japan("response", start="3"), "spans[0].start", "must be an integer"),
        (_japan("response", label="typo"), "spans[0].label", "factual_error, unsafe"),
        (_japan("left"), "spans[0].response", "must be one of response"),
        (_japan("response", colour="red"), "spans[0].colour", "unknown field"),
        ("not a list", "spans", "must be a list of spans"),
    ],
)
def test_a_bad_span_is_a_400_naming_the_problem_and_nothing_is_stored(
    researcher_client, api_client_for, span, field, error
):
    slug = _project(researcher_client, "rated", "rubric", 1)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, slug)
    assert len(Response.objects.first().text) == 33  # code points, not UTF-16 units

    spans = span if isinstance(span, str) else [span]
    response = _judge(client, task["assignment"], {"spans": spans})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(e["field"] == field and error in e["error"] for e in errors), errors
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(pk=task["assignment"]).status == Assignment.Status.LEASED


def test_spans_on_a_project_without_span_criteria_are_refused(
    researcher_client, api_client_for, pairwise
):
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, "pairs")

    response = _judge(client, task["assignment"], {"choice": "left", "spans": [_japan("left")]})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "spans", "error": "this project has no span criterion"}
    ]
    assert not Judgment.objects.exists()


def test_the_same_spans_again_are_one_vote_and_other_spans_a_conflict(
    researcher_client, api_client_for
):
    slug = _project(researcher_client, "rated", "rubric", 1)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, slug)
    body = {"spans": [_japan("response")]}

    first = _judge(client, task["assignment"], body)
    again = _judge(client, task["assignment"], body)
    other = _judge(client, task["assignment"], {"spans": [_japan("response", label="unsafe")]})

    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 409)
    assert first.json()["id"] == again.json()["id"]
    assert Judgment.objects.count() == 1


def test_the_agreement_report_gives_each_spans_criterion_alpha_f1_and_labels(
    researcher_client, api_client_for
):
    slug = _project(researcher_client, "rated", "rubric", 1)
    ends = [16, 15]  # the second annotator marks one character less
    for n, end in enumerate(ends):
        client = api_client_for(AnnotatorUserFactory(username=f"marker{n}"))
        while (response := client.get(f"/api/v1/projects/{slug}/tasks/next/")).status_code == 200:
            body = {"spans": [_japan("response", end=end)]}
            assert _judge(client, response.json()["assignment"], body).status_code == 201

    report = researcher_client.get(f"/api/v1/projects/{slug}/agreement/").json()

    entry = report["criteria"]["errors"]
    assert entry["krippendorff_alpha"]["level"] == "unitizing"
    assert 0 < entry["krippendorff_alpha"]["value"] < 1
    assert entry["labels"]["unsafe"]["char_f1"]["value"] is None  # nobody used it
    f1 = entry["labels"]["factual_error"]["char_f1"]
    assert 0.5 < f1["value"] < 1 and len(f1["ci"]) == 2
    assert entry["n_items"] == 2 and entry["n_judgments"] == 2 * K and entry["n_spans"] == 2 * K


def _pull(client, slug: str, export_format: str, filetype: str = "jsonl") -> bytes:
    response = client.get(
        f"/api/v1/projects/{slug}/export/", {"format": export_format, "filetype": filetype}
    )
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def test_a_preset_study_exports_its_spans_and_merged_spans_that_load_with_datasets(
    researcher_client, api_client_for, tmp_path
):
    datasets = pytest.importorskip("datasets")
    created = researcher_client.post(
        "/api/v1/projects/",
        {"slug": "facts", "name": "Facts", "preset": "factuality-spans", "gold_rate": 0}
        | {"annotations_per_task": 3},
        format="json",
    )
    assert created.status_code == 201
    imported = researcher_client.post("/api/v1/projects/facts/items/", _items(2, 1), format="json")
    assert imported.status_code == 201
    japan = TEXT.index("日本")
    marks = [  # what each annotator marks on every response
        [{"response": "response", "start": japan, "end": japan + 2, "label": "factual_error"}],
        [
            {
                "response": "response",
                "start": japan - 3,
                "end": japan + 2,
                "label": "factual_error",
            },
            {"response": "response", "start": 0, "end": 7, "label": "irrelevant", "note": "🗼"},
        ],
        [],
    ]
    for n, spans in enumerate(marks):
        client = api_client_for(AnnotatorUserFactory(username=f"marker{n}"))
        while (response := client.get("/api/v1/projects/facts/tasks/next/")).status_code == 200:
            answer = _judge(client, response.json()["assignment"], {"spans": spans})
            assert answer.status_code == 201, answer.json()

    rows = []
    for export_format in ("spans", "spans_merged"):
        path = tmp_path / f"{export_format}.jsonl"
        path.write_bytes(_pull(researcher_client, "facts", export_format))
        rows.append(
            datasets.load_dataset(
                "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "c")
            )
        )
    spans, merged = rows

    assert spans.num_rows == 2 * 3  # two responses, three marks each
    first = spans[0]
    assert (first["item_id"], first["response_id"], first["model"]) == ("q0", "r1", "model-0")
    assert first["text"] == "日本" and first["label"] == "factual_error"
    assert set(spans["text"]) == {"日本", "in 日本", "Paris 🗼"}
    assert "🗼" in spans["note"]
    assert len(set(spans["annotator"])) == 2
    q0 = [row for row in merged if row["item_id"] == "q0"]
    assert [(r["text"], r["label"], r["support"], r["n_annotators"]) for r in q0] == [
        ("in ", "factual_error", 1, 3),
        ("日本", "factual_error", 2, 3),
        ("Paris 🗼", "irrelevant", 1, 3),
    ]
    assert q0[1]["agreement"] == pytest.approx(2 / 3)
    parquet = _pull(researcher_client, "facts", "spans", "parquet")
    (tmp_path / "spans.parquet").write_bytes(parquet)
    from_parquet = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "spans.parquet"), split="train"
    )
    assert from_parquet["text"] == spans["text"]


def test_the_span_formats_need_a_spans_criterion(researcher_client, pairwise):
    response = researcher_client.get(
        "/api/v1/projects/pairs/export/", {"format": "spans", "annotator_kind": "all"}
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "format", "error": "spans needs a project with a spans criterion"}
    ]


@pytest.mark.parametrize("earlier", [0, 5])
def test_a_vote_with_spans_reads_the_texts_once_whatever_the_spans(
    researcher_client, api_client_for, django_assert_num_queries, earlier
):
    """One query more than any vote (tests/api/test_annotating.py JUDGMENT_QUERIES): the
    response texts the offsets are checked against, however many spans and judgments."""
    slug = _project(researcher_client, "pairs", "pairwise", 2, annotations_per_task=1)
    researcher_client.post(f"/api/v1/projects/{slug}/items/", _items(earlier + 1, 2), format="json")
    client = api_client_for(AnnotatorUserFactory())
    for _ in range(earlier):
        _judge(client, _next(client, slug)["assignment"], {"choice": "left"})
    task = _next(client, slug)
    body = {"choice": "left", "spans": [_japan("left"), _japan("right", label="unsafe")] * 3}
    body["spans"] = [dict(span, start=n) for n, span in enumerate(body["spans"])]

    with django_assert_num_queries(JUDGMENT_QUERIES + 1):
        assert _judge(client, task["assignment"], body).status_code == 201
