"""Rewrites over the REST API (README "Rewrites"): on rubric, pairwise and ranking projects an
annotator's edit of the response (the preferred one, the one ranked first) is stored with the
response it replaces; refused when the project takes none, missing when it asks for one, or
naming the wrong response, with nothing stored; exported as `dpo` rows with
`include_rewrites=true` and as `format=rewrites` with a character diff."""

from __future__ import annotations

import json

import pytest

from annotation.exports.readers.rewrites import character_diff
from annotation.models import Judgment
from tests.factories import AnnotatorUserFactory, item_rows

pytestmark = pytest.mark.django_db

K = 2


def _project(client, slug: str, **fields) -> None:
    created = client.post(
        "/api/v1/projects/",
        {"slug": slug, "name": slug, "annotations_per_task": K, "gold_rate": 0, **fields},
        format="json",
    )
    assert created.status_code == 201, created.json()


def _import(client, slug: str, count: int, responses: int) -> None:
    rows = item_rows(count, responses=responses)
    imported = client.post(f"/api/v1/projects/{slug}/items/", rows, format="json")
    assert imported.status_code == 201, imported.json()


def _next(client, slug: str) -> dict:
    response = client.get(f"/api/v1/projects/{slug}/tasks/next/")
    assert response.status_code == 200
    return response.json()


def _judge(client, assignment: int, body):
    return client.post(f"/api/v1/assignments/{assignment}/judgment/", body, format="json")


def _shown(task: dict, name: str) -> str:
    """The text of a response as the task shows it (left / right, a label, or response)."""
    if name in ("left", "right", "response"):
        return task[name]["text"]
    return next(r["text"] for r in task["responses"] if r["label"] == name)


@pytest.fixture
def pairs(researcher_client) -> str:
    _project(researcher_client, "pairs", allow_tie=True, rewrite="optional")
    _import(researcher_client, "pairs", 2, 2)
    return "pairs"


def test_a_pairwise_rewrite_replaces_the_preferred_response(pairs, api_client_for):
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, pairs)

    answer = _judge(
        client, task["assignment"], {"choice": "right", "rewrite": "  A better answer.  "}
    )

    assert answer.status_code == 201, answer.json()
    judgment = Judgment.objects.get()
    assert judgment.rewrite == "A better answer."
    assert judgment.rewrite_of.text == _shown(task, "right")


def test_a_tie_names_the_response_rewritten(pairs, api_client_for):
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, pairs)

    unnamed = _judge(client, task["assignment"], {"choice": "tie", "rewrite": "Better."})
    assert unnamed.status_code == 400
    assert unnamed.json()["errors"] == [
        {"field": "rewrite_of", "error": "name the response rewritten: left, right"}
    ]
    named = _judge(
        client, task["assignment"], {"choice": "tie", "rewrite": "Better.", "rewrite_of": "left"}
    )

    assert named.status_code == 201, named.json()
    assert Judgment.objects.get().rewrite_of.text == _shown(task, "left")


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        (
            {"choice": "left", "rewrite": "x", "rewrite_of": "right"},
            "rewrite_of",
            "must be one of left (the preferred response is the one rewritten)",
        ),
        ({"choice": "left", "rewrite_of": "left"}, "rewrite_of", "goes with a rewrite"),
        ({"choice": "left", "rewrite": ["x"]}, "rewrite", "Not a valid string."),
    ],
)
def test_a_bad_rewrite_is_a_400_naming_it_and_nothing_is_stored(
    pairs, api_client_for, body, field, error
):
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, pairs)

    response = _judge(client, task["assignment"], body)

    assert response.status_code == 400
    assert {"field": field, "error": error} in response.json()["errors"], response.json()
    assert not Judgment.objects.exists()


def test_a_rewrite_when_the_project_takes_none_is_a_400(researcher_client, api_client_for):
    _project(researcher_client, "plain")
    _import(researcher_client, "plain", 1, 2)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, "plain")

    response = _judge(client, task["assignment"], {"choice": "left", "rewrite": "Better."})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "rewrite", "error": "this project takes no rewrite"}
    ]
    assert not Judgment.objects.exists()


def test_a_required_rewrite_is_a_400_when_missing_or_unchanged(researcher_client, api_client_for):
    _project(researcher_client, "thumbs", preset="helpful-harmless-verdict", rewrite="required")
    _import(researcher_client, "thumbs", 1, 1)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, "thumbs")
    verdicts = {"scores": {"helpful": False, "harmless": True}}

    missing = _judge(client, task["assignment"], verdicts)
    same = _judge(client, task["assignment"], verdicts | {"rewrite": task["response"]["text"]})

    for response in (missing, same):
        assert response.status_code == 400
        assert [e["field"] for e in response.json()["errors"]] == ["rewrite"]
    assert not Judgment.objects.exists()
    given = _judge(client, task["assignment"], verdicts | {"rewrite": "Answer 0, corrected."})
    assert given.status_code == 201, given.json()
    judgment = Judgment.objects.get()
    assert (judgment.rewrite, judgment.rewrite_of.external_id) == ("Answer 0, corrected.", "r1")


def test_a_ranking_rewrite_replaces_the_response_ranked_first(researcher_client, api_client_for):
    _project(researcher_client, "ranks", preset="ranking-4", rewrite="optional")
    _import(researcher_client, "ranks", 1, 4)
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client, "ranks")

    tied = _judge(
        client, task["assignment"], {"ranking": [["C", "A"], ["B"], ["D"]], "rewrite": "Best."}
    )
    assert tied.status_code == 400
    assert tied.json()["errors"] == [
        {"field": "rewrite_of", "error": "name the response rewritten: C, A"}
    ]
    answer = _judge(
        client, task["assignment"], {"ranking": [["C"], ["A"], ["B"], ["D"]], "rewrite": "Best."}
    )

    assert answer.status_code == 201, answer.json()
    assert Judgment.objects.get().rewrite_of.text == _shown(task, "C")


# ---------------------------------------------------------------- exports


def _pull(client, slug: str, **params) -> list[dict]:
    response = client.get(f"/api/v1/projects/{slug}/export/", {"filetype": "jsonl", **params})
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


@pytest.fixture
def rewritten(pairs, api_client_for) -> str:
    """Two annotators prefer response r1 on each of the two items; the first rewrites it."""
    for n in range(K):
        client = api_client_for(AnnotatorUserFactory(username=f"editor{n}"))
        for _ in range(2):
            task = _next(client, pairs)
            side = "left" if task["left"]["text"].startswith("Answer 0") else "right"
            body = {"choice": side}
            if n == 0:
                body["rewrite"] = task[side]["text"].replace("Answer 0", "A fuller answer 0")
            assert _judge(client, task["assignment"], body).status_code == 201
    return pairs


def test_dpo_with_include_rewrites_adds_each_rewrite_over_its_original(
    researcher_client, rewritten
):
    plain = _pull(researcher_client, rewritten, format="dpo")
    rows = _pull(researcher_client, rewritten, format="dpo", include_rewrites="true")

    assert rows[: len(plain)] == plain
    added = rows[len(plain) :]
    assert len(plain) == 2 and len(added) == 2
    for row in added:
        assert row["chosen_model"] == "human_rewrite" and row["source"] == "rewrite"
        assert row["chosen"].startswith("A fuller answer 0 to ")
        assert row["rejected"].startswith("Answer 0 to ") and row["rejected_model"] == "model-0"
        assert row["rejected_id"] == "r1" and row["chosen_id"] == f"rewrite-{-row['pair_id']}"
        assert row["n_judgments"] == 1 and row["agreement"] == 1.0


def test_the_rewrites_format_lists_them_with_a_character_diff(researcher_client, rewritten):
    rows = _pull(researcher_client, rewritten, format="rewrites")

    assert sorted(r["item_id"] for r in rows) == ["q0", "q1"]
    row = rows[0]
    assert row["original"].startswith("Answer 0 to ") and row["model"] == "model-0"
    assert row["rewrite"] == row["original"].replace("Answer 0", "A fuller answer 0")
    assert row["diff"] == character_diff(row["original"], row["rewrite"])
    assert row["diff"] and all(e["op"] != "equal" for e in row["diff"])
    assert row["annotator"] and row["judgment"] == Judgment.objects.exclude(rewrite="").first().pk


def test_character_diff_gives_the_edits_that_make_the_rewrite():
    original, rewrite = "The cat sat.", "The black cat sat!"

    edits = character_diff(original, rewrite)

    rebuilt, cursor = "", 0
    for edit in edits:
        rebuilt += original[cursor : edit["original_start"]]
        rebuilt += rewrite[edit["rewrite_start"] : edit["rewrite_end"]]
        cursor = edit["original_end"]
    assert rebuilt + original[cursor:] == rewrite
    assert {e["op"] for e in edits} <= {"insert", "replace", "delete"}


def test_include_rewrites_applies_to_dpo_only(researcher_client, rewritten):
    response = researcher_client.get(
        f"/api/v1/projects/{rewritten}/export/", {"format": "judgments", "include_rewrites": "1"}
    )

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["include_rewrites"]


def test_rewrite_exports_load_with_hugging_face_datasets(researcher_client, rewritten, tmp_path):
    datasets = pytest.importorskip("datasets")
    for name, params in (
        ("rewrites", {"format": "rewrites"}),
        ("dpo", {"format": "dpo", "include_rewrites": "true"}),
    ):
        for filetype, builder in (("jsonl", "json"), ("parquet", "parquet"), ("csv", "csv")):
            response = researcher_client.get(
                f"/api/v1/projects/{rewritten}/export/", params | {"filetype": filetype}
            )
            assert response.status_code == 200, response.content
            path = tmp_path / f"{name}.{filetype}"
            path.write_bytes(b"".join(response.streaming_content))
            dataset = datasets.load_dataset(
                builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "c")
            )
            assert dataset.num_rows == len(_pull(researcher_client, rewritten, **params))
            if name == "dpo" and filetype != "csv":
                assert dataset["chosen_model"].count("human_rewrite") == 2


def test_the_rewrites_format_needs_a_project_that_takes_rewrites(researcher_client):
    _project(researcher_client, "plain")

    response = researcher_client.get("/api/v1/projects/plain/export/", {"format": "rewrites"})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["format"]
