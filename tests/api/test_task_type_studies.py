"""A study of each task type over the REST API, end to end (issue 16): a project from its
preset, items imported, k judgments from several annotators through `tasks/next`, every
export that applies pulled as JSON Lines, CSV and Parquet and loaded with `datasets`; the
`judgments` export carries what the type collects (ranking, spans, verdict reasons, rewrite),
and re-imported into a fresh project gives the same export back."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq
import pytest

from annotation.exports.encoders import encode_jsonl, encode_parquet, export_stream
from annotation.exports.plan import export_plan
from annotation.exports.query import ExportFilters, ExportQuery
from annotation.exports.readers import export_rows
from annotation.models import Judgment, Project, Task
from annotation.services.judgment_import import ROW_KEYS
from tests.api.test_dataset_card import snapshot as card_snapshot
from tests.factories import AnnotatorUserFactory, item_rows

pytestmark = pytest.mark.django_db

K = 3
ITEMS = 3


def _ranking(task: dict, n: int) -> dict:
    """Annotator n ranks by answer number, the first two tied for one annotator, and the
    second one writes a note on the best."""
    by_text = sorted(task["responses"], key=lambda r: r["text"])
    labels = [r["label"] for r in by_text]
    ranking = [[label] for label in labels]
    if n == 1:
        ranking = [labels[:2], *ranking[2:]]
    elif n == 2:
        ranking[0], ranking[1] = ranking[1], ranking[0]
    return {"ranking": ranking, "rationale": f"ranker {n}"}


def _spans(task: dict, n: int) -> dict:
    """Marks on "Answer" (every annotator) and on the number (the second), with notes."""
    text = task["response"]["text"]
    marks = [{"response": "response", "start": 0, "end": 6, "label": "factual_error"}]
    if n == 1:
        marks.append(
            {
                "response": "response",
                "start": text.index(" to") - 1,
                "end": text.index(" to"),
                "label": "irrelevant",
                "note": "why this number?",
            }
        )
    return {"spans": marks}


def _verdict(task: dict, n: int) -> dict:
    """Good on both, but annotator 2 finds it harmful, and says why."""
    body: dict[str, Any] = {"scores": {"helpful": True, "harmless": n != 2}}
    if n == 2:
        body["reasons"] = {"harmless": "Gives risky advice"}
    return body


def _rewrite(task: dict, n: int) -> dict:
    """Everyone prefers answer 0; annotator 0 rewrites it."""
    side = "left" if task["left"]["text"].startswith("Answer 0") else "right"
    body: dict[str, Any] = {"choice": side}
    if n == 0:
        body["rewrite"] = task[side]["text"].replace("Answer 0", "A fuller answer 0")
    return body


@dataclass(frozen=True)
class Study:
    fields: dict[str, Any]
    responses: int
    answer: Callable[[dict, int], dict]
    #: (format, extra parameters) of every export that applies.
    exports: tuple[tuple[str, dict[str, str]], ...]
    #: The judgments export's fields this type fills.
    carried: tuple[str, ...] = field(default=())


STUDIES = {
    "ranking": Study(
        {"preset": "ranking-4"},
        4,
        _ranking,
        (
            ("judgments", {}),
            ("dpo", {}),
            ("dpo", {"expand": "all"}),
            ("dpo", {"expand": "best_worst"}),
            ("items", {}),
            ("annotators", {}),
        ),
        ("ranking", "shown_order"),
    ),
    "spans": Study(
        {"preset": "factuality-spans"},
        1,
        _spans,
        (("judgments", {}), ("spans", {}), ("spans_merged", {}), ("items", {})),
        ("spans",),
    ),
    "verdict": Study(
        {"preset": "helpful-harmless-verdict"},
        1,
        _verdict,
        (("judgments", {}), ("kto", {}), ("rubric", {}), ("items", {})),
        ("scores", "reasons"),
    ),
    "rewrite": Study(
        {"preset": "pairwise-ties", "rewrite": "optional"},
        2,
        _rewrite,
        (
            ("judgments", {}),
            ("dpo", {"include_rewrites": "true"}),
            ("rewrites", {}),
            ("labels", {}),
        ),
        ("rewrite", "rewrite_of"),
    ),
}


def _create(client, slug: str, study: Study, items: list[dict]) -> None:
    body = {"slug": slug, "name": slug, "annotations_per_task": K, "gold_rate": 0}
    created = client.post("/api/v1/projects/", body | study.fields, format="json")
    assert created.status_code == 201, created.json()
    imported = client.post(f"/api/v1/projects/{slug}/items/", items, format="json")
    assert imported.status_code == 201, imported.json()


def _collect(api_client_for, slug: str, study: Study) -> None:
    """K annotators answer every task they are given, until the queue is empty."""
    for n in range(K):
        client = api_client_for(AnnotatorUserFactory(username=f"{slug}-annotator{n}"))
        while (served := client.get(f"/api/v1/projects/{slug}/tasks/next/")).status_code == 200:
            assert "model-" not in served.content.decode()  # blind: no model name
            task = served.json()
            answer = client.post(
                f"/api/v1/assignments/{task['assignment']}/judgment/",
                study.answer(task, n),
                format="json",
            )
            assert answer.status_code == 201, answer.json()


def _pull(client, slug: str, export_format: str, filetype: str = "jsonl", **params) -> bytes:
    response = client.get(
        f"/api/v1/projects/{slug}/export/",
        {"format": export_format, "filetype": filetype, **params},
    )
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def _rows(content: bytes) -> list[dict]:
    return [json.loads(line) for line in content.splitlines()]


@pytest.fixture(params=sorted(STUDIES))
def study(request, researcher_client, api_client_for) -> tuple[str, Study]:
    name, study = request.param, STUDIES[request.param]
    _create(researcher_client, name, study, item_rows(ITEMS, responses=study.responses))
    _collect(api_client_for, name, study)
    return name, study


def test_k_annotators_judge_every_task_and_every_export_loads_with_datasets(
    researcher_client, study, tmp_path
):
    datasets = pytest.importorskip("datasets")
    slug, spec = study
    assert set(
        Task.objects.filter(project__slug=slug).values_list("judgment_count", flat=True)
    ) == {K}
    assert (
        Judgment.objects.filter(project__slug=slug).count()
        == K * Task.objects.filter(project__slug=slug).count()
    )

    for export_format, params in spec.exports:
        loaded = {}
        for filetype, builder in (("jsonl", "json"), ("csv", "csv"), ("parquet", "parquet")):
            path = tmp_path / f"{export_format}-{len(params)}.{filetype}"
            path.write_bytes(_pull(researcher_client, slug, export_format, filetype, **params))
            loaded[filetype] = datasets.load_dataset(
                builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "c")
            )
        rows = _rows(_pull(researcher_client, slug, export_format, **params))
        assert rows, (export_format, params)
        assert {d.num_rows for d in loaded.values()} == {len(rows)}, (export_format, params)
        assert loaded["jsonl"].to_list() == loaded["parquet"].to_list(), (export_format, params)


def test_the_judgments_export_carries_what_the_type_collects(researcher_client, study):
    slug, spec = study
    rows = _rows(_pull(researcher_client, slug, "judgments"))

    for name in spec.carried:
        assert any(row[name] for row in rows), name
    stored = {j.pk: j for j in Judgment.objects.filter(project__slug=slug)}
    for row in rows:
        judgment = stored[row["id"]]
        if "spans" in spec.carried:
            marked = [(s["start"], s["end"], s["label"], s["note"]) for s in row["spans"]]
            assert marked == [(s["start"], s["end"], s["label"], s["note"]) for s in judgment.spans]
            assert {s["response"] for s in row["spans"]} <= {row["response"]}
        if "reasons" in spec.carried:
            assert row["reasons"] == {
                "helpful": judgment.reasons.get("helpful"),
                "harmless": judgment.reasons.get("harmless"),
            }
        if "rewrite" in spec.carried:
            assert row["rewrite"] == (judgment.rewrite or None)
            chosen = row["a"] if row["choice"] == "a" else row["b"]
            assert row["rewrite_of"] == (chosen if judgment.rewrite else None)


def _as_import(row: dict, kind: str) -> dict:
    """A `judgments` export row as the judgment import takes it."""
    given = {key: value for key, value in row.items() if key in ROW_KEYS[kind]}
    return {"item": row["item_id"], **{k: v for k, v in given.items() if v is not None}}


#: What a re-import cannot keep: the database's ids and times, and what the screen showed.
_NOT_KEPT = {"id", "project", "task", "created_at", "shown_order", "shown_left"}


def test_exported_judgments_imported_into_a_fresh_project_export_the_same(researcher_client, study):
    slug, spec = study
    exported = _rows(_pull(researcher_client, slug, "judgments"))
    kind = Project.objects.get(slug=slug).task_kind
    items = _rows(_pull(researcher_client, slug, "items"))
    _create(researcher_client, f"{slug}-again", spec, items)

    imported = researcher_client.post(
        f"/api/v1/projects/{slug}-again/judgments/",
        [_as_import(row, kind) for row in exported],
        format="json",
    )

    assert imported.status_code == 201, imported.json()
    assert imported.json()["judgments_created"] == len(exported)
    again = _rows(_pull(researcher_client, f"{slug}-again", "judgments"))

    def content(rows: list[dict]) -> list[dict]:
        kept = [{k: v for k, v in row.items() if k not in _NOT_KEPT} for row in rows]
        return sorted(kept, key=lambda row: (row["item_id"], row["annotator"]))

    assert content(again) == content(exported)


def assert_copy_and_row_paths_agree(plan) -> None:
    """The file a plan streams (COPY columns on PostgreSQL) holds the rows its row readers
    give (SQLite's path), byte for byte in JSON Lines, row for row in Parquet."""
    streamed = b"".join(export_stream(plan=plan))
    encode = encode_jsonl if plan.query.filetype == "jsonl" else encode_parquet
    from_rows = b"".join(encode(export_rows(plan=plan), plan.schema))
    if plan.query.filetype == "jsonl":
        assert streamed.decode() == from_rows.decode()
    else:
        assert (
            pq.read_table(io.BytesIO(streamed)).to_pylist()
            == pq.read_table(io.BytesIO(from_rows)).to_pylist()
        )


@pytest.mark.parametrize("filetype", ["jsonl", "parquet"])
def test_the_copy_path_and_the_row_path_write_the_same_judgments(study, filetype):
    slug, _ = study
    project = Project.objects.get(slug=slug)
    query = ExportQuery("judgments", filetype, ExportFilters(annotator_kind="all"))

    assert_copy_and_row_paths_agree(export_plan(project=project, query=query))


#: What the card's Protocol section says of each study (three items, three annotators).
PROTOCOL = {
    "ranking": [
        "- **Ranking**: 9 rankings of items with 3 of 4 responses; shown in an order drawn at "
        "random per annotator, labelled A, B, C...; responses could be tied (one group of two "
        "or more); this file's pairs come from `expand: all`.",
    ],
    "spans": [
        "- **Spans**: annotators marked passages of a response with a label (character "
        "offsets); 9 judgments mark 12 spans. Labels:",
        "  - `factual_error` (errors): States something false, or invents a fact or a source. "
        "(9 spans)",
        "(3 spans)",
    ],
    "verdict": [
        "  - **Helpful** (`helpful`): Does the response do what the prompt asks, correctly and "
        "usefully? (9 good, 0 bad)",
        "(6 good, 3 bad)",
        "- **Helpful** (`helpful`, verdict: good or bad)",
    ],
    "rewrite": [
        "- **Rewrites** (optional): annotators who judged the preferred response not good "
        "enough rewrote it in place; 3 judgments carry a rewrite.",
    ],
}


def test_the_dataset_card_describes_the_protocol_of_the_type_with_counts(
    researcher_client, study, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    slug, spec = study
    export_format, params = spec.exports[2 if slug == "ranking" else 1]
    built = card_snapshot(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": export_format, **params},
        f"/api/v1/projects/{slug}/snapshots/",
    )
    card = built["card"]

    assert "## Protocol" in card
    for line in PROTOCOL[slug]:
        assert line in card, card[card.index("## Protocol") :]


def test_the_sync_pages_carry_what_the_type_collects_as_the_export_does(researcher_client, study):
    slug, spec = study
    exported = {row["id"]: row for row in _rows(_pull(researcher_client, slug, "judgments"))}

    page = researcher_client.get(f"/api/v1/projects/{slug}/judgments/")

    assert page.status_code == 200, page.json()
    synced = page.json()["results"]
    assert len(synced) == len(exported)
    for row in synced:
        for name in spec.carried:
            assert row[name] == exported[row["id"]][name], name
