"""`with_profile=k1,k2` on the `judgments` export (README "Surveys"): each judgment carries its
annotator's latest answers to the named survey questions as `profile.<key>` columns, typed by
the question in every file type; sensitive keys only with `include_sensitive=true`."""

from __future__ import annotations

import io

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.exports.query import export_query_from_params
from annotation.models import Annotator, SurveyAnswers
from annotation.services.exporting import snapshot_build, snapshot_create
from annotation.services.importing import items_import
from annotation.services.projects import project_update
from tests.api.test_annotators_export import SURVEY, rows_of
from tests.factories import ProjectFactory, item_rows, picked_judgments

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/projects/pairs/export/"
#: SURVEY with its number question marked sensitive.
SENSITIVE_SURVEY = [{**q, "sensitive": q["key"] == "years"} for q in SURVEY]


def answered(project, external_id: str, answers: dict, *, version: int = 1) -> None:
    """Survey answers of an imported annotator (h0, h1, ... of picked_judgments)."""
    annotator = Annotator.objects.get(source="import", external_id=external_id)
    now = timezone.now()
    SurveyAnswers.objects.create(
        project=project,
        annotator=annotator,
        version=version,
        answers=answers,
        answered_at=now,
        updated_at=now,
    )


@pytest.fixture
def profiled(pairwise):
    """Three votes on q0 by h0, h1, h2, two of whom answered the survey."""
    project_update(project=pairwise, survey=SENSITIVE_SURVEY)
    picked_judgments(pairwise, {"q0": "abt", "q1": "a"})
    answered(pairwise, "h0", {"band": "old", "langs": ["ar", "en"], "years": 12, "clear": 3})
    answered(pairwise, "h1", {"band": "young", "note": "fine"})
    return pairwise


def judgments(client, filetype: str = "jsonl", **params) -> list[dict]:
    response = client.get(EXPORT, {"format": "judgments", "filetype": filetype, **params})
    return rows_of(response, filetype)


def test_each_judgment_carries_its_annotators_answers(researcher_client, profiled):
    rows = judgments(researcher_client, with_profile="clear,band,langs")

    assert list(rows[0])[-3:] == ["profile.clear", "profile.band", "profile.langs"]
    assert {
        (r["annotator"], r["item_id"]): (r["profile.band"], r["profile.langs"], r["profile.clear"])
        for r in rows
    } == {
        ("h0", "q0"): ("old", ["ar", "en"], 3),
        ("h0", "q1"): ("old", ["ar", "en"], 3),
        ("h1", "q0"): ("young", None, None),
        ("h2", "q0"): (None, None, None),
    }


def test_without_with_profile_there_is_no_profile_column(researcher_client, profiled):
    rows = judgments(researcher_client)

    assert not [name for name in rows[0] if name.startswith("profile.")]


def test_the_latest_answers_count(researcher_client, profiled):
    project_update(project=profiled, survey=[*SENSITIVE_SURVEY[:1], *SENSITIVE_SURVEY[2:]])
    answered(profiled, "h1", {"band": "old"}, version=2)

    rows = judgments(researcher_client, with_profile="band")

    assert {r["annotator"]: r["profile.band"] for r in rows}["h1"] == "old"


def test_an_unknown_key_is_a_400_naming_it(researcher_client, profiled):
    response = researcher_client.get(
        EXPORT, {"format": "judgments", "with_profile": "band,shoe_size"}
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "with_profile",
            "error": "no survey question 'shoe_size' (this survey has band, langs, years, "
            "clear, note)",
        }
    ]


def test_a_malformed_key_is_a_400(researcher_client, profiled):
    response = researcher_client.get(EXPORT, {"format": "judgments", "with_profile": "Band!"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "with_profile"


def test_a_sensitive_key_needs_include_sensitive(researcher_client, profiled):
    refused = researcher_client.get(EXPORT, {"format": "judgments", "with_profile": "years"})
    rows = judgments(researcher_client, with_profile="years", include_sensitive="true")

    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"field": "with_profile", "error": "'years' is sensitive: ask include_sensitive=true"}
    ]
    assert {r["annotator"]: r["profile.years"] for r in rows}["h0"] == 12.0


def test_include_sensitive_on_judgments_goes_with_with_profile(researcher_client, profiled):
    response = researcher_client.get(EXPORT, {"format": "judgments", "include_sensitive": "true"})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "include_sensitive", "error": "applies to judgments with with_profile"}
    ]


def test_with_profile_applies_to_judgments_only(researcher_client, profiled):
    response = researcher_client.get(EXPORT, {"format": "dpo", "with_profile": "band"})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "with_profile", "error": "does not apply to format dpo"}
    ]


def test_parquet_columns_are_typed_by_the_question(researcher_client, profiled):
    response = researcher_client.get(
        EXPORT,
        {
            "format": "judgments",
            "filetype": "parquet",
            "with_profile": "band,langs,years,clear,note",
            "include_sensitive": "true",
        },
    )
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))

    assert [(f.name, f.type) for f in table.schema][-5:] == [
        ("profile.band", pa.string()),
        ("profile.langs", pa.list_(pa.string())),
        ("profile.years", pa.float64()),
        ("profile.clear", pa.int64()),
        ("profile.note", pa.string()),
    ]
    h0 = next(r for r in table.to_pylist() if r["annotator"] == "h0")
    assert (h0["profile.years"], h0["profile.clear"], h0["profile.note"]) == (12.0, 3, None)


def test_csv_has_a_column_per_key(researcher_client, profiled):
    rows = judgments(researcher_client, "csv", with_profile="band,langs")

    h0 = next(r for r in rows if r["annotator"] == "h0")
    assert (h0["profile.band"], h0["profile.langs"]) == ("old", '["ar", "en"]')
    assert next(r for r in rows if r["annotator"] == "h2")["profile.band"] == ""


def test_jsonl_and_parquet_load_with_one_schema(researcher_client, profiled, tmp_path):
    params = {"format": "judgments", "with_profile": "band,langs,clear"}
    loaded = []
    for filetype, loader in (("jsonl", "json"), ("parquet", "parquet")):
        response = researcher_client.get(EXPORT, {**params, "filetype": filetype})
        path = tmp_path / f"judgments.{filetype}"
        path.write_bytes(b"".join(response.streaming_content))
        loaded.append(datasets.load_dataset(loader, data_files=str(path), split="train"))

    columns = ["profile.band", "profile.langs", "profile.clear"]
    jsonl, parquet = (d.select_columns(columns) for d in loaded)
    assert jsonl.features == parquet.features
    assert datasets.concatenate_datasets([jsonl, parquet]).num_rows == 8


def test_a_snapshot_keeps_with_profile(researcher, profiled):
    query = export_query_from_params(
        {"format": "judgments", "filetype": "jsonl", "with_profile": "band,clear"}
    )
    snapshot = snapshot_create(project=profiled, query=query, created_by=researcher)
    snapshot = snapshot_build(snapshot=snapshot)

    assert snapshot.query["with_profile"] == ["band", "clear"]
    assert snapshot.status == "ready", snapshot.error


def _export_queries(client, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/projects/many/export/", params)
        assert response.status_code == 200, response.content
        b"".join(response.streaming_content)
    return len(queries.captured_queries)


@pytest.mark.parametrize("filetype", ["jsonl", "csv", "parquet"])
def test_the_query_count_does_not_grow_with_the_rows(researcher_client, researcher, filetype):
    project = ProjectFactory(owner=researcher, slug="many", survey=SURVEY)
    items_import(project=project, rows=list(enumerate(item_rows(40), start=1)))
    params = {"format": "judgments", "filetype": filetype, "with_profile": "band,langs"}

    picked_judgments(project, {f"q{i}": "ab" for i in range(2)})
    for name in ("h0", "h1"):
        answered(project, name, {"band": "old", "langs": ["en"]})
    few = _export_queries(researcher_client, params)
    picked_judgments(project, {f"q{i}": "abtab" for i in range(2, 40)})
    for name in ("h2", "h3", "h4"):
        answered(project, name, {"band": "young"})
    many = _export_queries(researcher_client, params)

    assert many == few
