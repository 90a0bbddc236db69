"""CSV exports never carry a live spreadsheet formula (README "REST API"): a text cell
that starts with =, +, -, @, tab or carriage return gets a leading ', in every format; numeric
columns stay numbers; JSON Lines and Parquet stay exact."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from annotation.models import Criterion, Project, Snapshot
from annotation.services.exporting import snapshot_build
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from tests.factories import CriterionFactory, ProjectFactory

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("http://evil","x")'
RESPONSES = [{"model": "m", "text": "a"}, {"model": "n", "text": "b"}]
TRIGGERS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]


def export(client, slug: str, export_format: str, filetype: str) -> bytes:
    response = client.get(
        f"/api/v1/projects/{slug}/export/", {"format": export_format, "filetype": filetype}
    )
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode(), newline="")))


def escaped(value: str) -> str:
    return "'" + value


@pytest.fixture
def hostile(researcher) -> Project:
    """A pairwise project whose every text starts like a formula."""
    project = ProjectFactory(
        owner=researcher,
        slug="hostile",
        strength_scale=3,
        rationale=Project.Rationale.OPTIONAL,
        allow_tie=True,
    )
    rows = [
        {
            "id": "=cmd",
            "prompt": "-2 degrees: why?",
            "responses": [
                {"id": "+r1", "model": "@model", "text": FORMULA},
                {"id": "r2", "model": "-model", "text": "\tTabbed"},
            ],
            "metadata": {"note": "=x"},
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    votes = [
        {
            "annotator": f"judge{n}",
            "item": "=cmd",
            "a": "+r1",
            "b": "r2",
            "choice": "a",
            "strength": 2,
            "rationale": FORMULA,
        }
        for n in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(votes, start=1)))
    return project


@pytest.fixture
def hostile_rubric(researcher) -> Project:
    project = ProjectFactory(owner=researcher, slug="hostile-rubric", kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="tone", min=-3, max=3, level=Criterion.Level.INTERVAL)
    rows = [
        {
            "id": "@item",
            "prompt": "=1+1",
            "responses": [{"id": "-r", "model": "+model", "text": "\rReturn"}],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    judgments = [
        {"annotator": f"judge{n}", "item": "@item", "response": "-r", "scores": {"tone": -2}}
        for n in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(judgments, start=1)))
    return project


def test_judgments_csv_escapes_every_text_cell_that_starts_like_a_formula(
    researcher_client, hostile
):
    rows = csv_rows(export(researcher_client, "hostile", "judgments", "csv"))

    assert len(rows) == 2
    row = rows[0]
    assert row["rationale"] == escaped(FORMULA)
    assert row["item_id"] == "'=cmd"
    assert row["a"] == "'+r1"
    assert row["a_model"] == "'@model"
    assert row["b_model"] == "'-model"
    assert row["b"] == "r2"
    assert row["choice"] == "a"


def test_judgments_csv_keeps_numbers_as_numbers(researcher_client, hostile):
    (row, _) = csv_rows(export(researcher_client, "hostile", "judgments", "csv"))

    assert row["strength"] == "2"
    assert row["id"].isdigit() and row["task"].isdigit()
    assert row["is_gold"] == "False"


def test_dpo_csv_escapes_prompt_texts_models_and_ids(researcher_client, hostile):
    (row,) = csv_rows(export(researcher_client, "hostile", "dpo", "csv"))

    assert row["prompt"] == "'-2 degrees: why?"
    assert row["chosen"] == escaped(FORMULA)
    assert row["rejected"] == "'\tTabbed"
    assert row["chosen_model"] == "'@model"
    assert row["rejected_model"] == "'-model"
    assert row["item_id"] == "'=cmd"
    assert row["chosen_id"] == "'+r1"
    assert row["n_judgments"] == "2"
    assert row["margin"] == "2.0"


def test_rubric_csv_escapes_texts_and_keeps_a_negative_mean_score_a_number(
    researcher_client, hostile_rubric
):
    (row,) = csv_rows(export(researcher_client, "hostile-rubric", "rubric", "csv"))

    assert row["prompt"] == "'=1+1"
    assert row["response"] == "'\rReturn"
    assert row["model"] == "'+model"
    assert row["item_id"] == "'@item"
    assert row["response_id"] == "'-r"
    assert row["tone"] == "-2.0"
    assert row["agreement"] == "1.0"


def test_rubric_judgments_csv_keeps_negative_scores_as_written(researcher_client, hostile_rubric):
    rows = csv_rows(export(researcher_client, "hostile-rubric", "judgments", "csv"))

    assert json.loads(rows[0]["scores"]) == {"tone": -2}
    assert rows[0]["response"] == "'-r"


def test_items_csv_escapes_ids_and_prompts(researcher_client, hostile):
    (row,) = csv_rows(export(researcher_client, "hostile", "items", "csv"))

    assert row["id"] == "'=cmd"
    assert row["prompt"] == "'-2 degrees: why?"
    assert json.loads(row["responses"])[0] == {"id": "+r1", "model": "@model", "text": FORMULA}


def test_items_csv_reimports_with_the_texts_it_escaped(researcher_client, researcher, hostile):
    content = export(researcher_client, "hostile", "items", "csv")
    copy = ProjectFactory(owner=researcher, slug="copy")

    items_import(project=copy, content=content, filetype="csv")

    item = copy.items.get()
    assert item.external_id == "=cmd"
    assert item.prompt == "-2 degrees: why?"


@pytest.mark.parametrize("text", ["-1", "'", "'x", "''=x", "'=x"])
def test_items_csv_round_trips_texts_that_already_start_with_a_quote(
    researcher_client, researcher, text
):
    project = ProjectFactory(owner=researcher, slug="quotes")
    row = {"id": "q", "prompt": text, "responses": RESPONSES}
    items_import(project=project, rows=[(1, row)])
    content = export(researcher_client, "quotes", "items", "csv")
    copy = ProjectFactory(owner=researcher, slug="copy")

    items_import(project=copy, content=content, filetype="csv")

    assert copy.items.get().prompt == text


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_each_formula_trigger_is_escaped(researcher_client, researcher, trigger):
    project = ProjectFactory(owner=researcher, slug="one")
    row = {"id": "q", "prompt": trigger, "responses": RESPONSES}
    items_import(project=project, rows=[(1, row)])

    (exported,) = csv_rows(export(researcher_client, "one", "items", "csv"))

    assert exported["prompt"] == "'" + trigger


@pytest.mark.parametrize("export_format", ["judgments", "dpo", "items"])
def test_jsonl_and_parquet_stay_exact(researcher_client, hostile, export_format):
    jsonl = [
        json.loads(line)
        for line in export(researcher_client, "hostile", export_format, "jsonl").splitlines()
    ]
    parquet = pq.read_table(
        io.BytesIO(export(researcher_client, "hostile", export_format, "parquet"))
    ).to_pylist()

    text = json.dumps(jsonl) + json.dumps(parquet, default=str)
    assert "'=" not in text and "'-" not in text and "'@" not in text and "'+" not in text
    if export_format == "judgments":
        assert jsonl[0]["rationale"] == parquet[0]["rationale"] == FORMULA
    if export_format == "dpo":
        assert jsonl[0]["chosen"] == parquet[0]["chosen"] == FORMULA


def test_csv_snapshot_escapes_like_the_download(researcher_client, hostile, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    response = researcher_client.post(
        "/api/v1/projects/hostile/snapshots/",
        {"format": "judgments", "filetype": "csv"},
        format="json",
    )
    snapshot = snapshot_build(snapshot=Snapshot.objects.get(pk=response.json()["id"]))

    with snapshot.file.open("rb") as handle:
        rows = csv_rows(handle.read())

    assert snapshot.status == Snapshot.Status.READY
    assert rows[0]["rationale"] == escaped(FORMULA)
    assert rows[0]["strength"] == "2"


def test_csv_snapshot_card_says_how_to_read_escaped_cells(
    researcher_client, hostile, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    response = researcher_client.post(
        "/api/v1/projects/hostile/snapshots/", {"format": "dpo", "filetype": "csv"}, format="json"
    )

    snapshot = snapshot_build(snapshot=Snapshot.objects.get(pk=response.json()["id"]))

    assert "drop one leading `'`" in snapshot.card
