"""The `annotators` export (README "Annotator pages"): one row per annotator of the project,
with the pseudonymous id of the `judgments` export, their consent and quality figures, in
every filetype, snapshots too."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Annotator, AnnotatorStats, Consent, CrowdSession, Project
from annotation.services.assignment import assignment_lease
from annotation.services.consent import consent_record
from annotation.services.exporting import snapshot_build
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from annotation.services.projects import project_update
from annotation.services.quality import annotator_block
from annotation.services.surveys import survey_answers_record
from tests.factories import ProjectFactory, import_items, make_annotator

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/projects/pairs/export/"
MOMENT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
COLUMNS = [
    "annotator",
    "annotator_kind",
    "platform",
    "consented_at",
    "consent_version",
    "n_judgments",
    "gold_judgments",
    "gold_accuracy",
    "left_rate",
    "fast_share",
    "mean_seconds",
    "median_seconds",
    "qualified",
    "flags",
    "blocked",
    "survey_version",
]

#: A question of each type, and answers to them all.
SURVEY = [
    {"key": "band", "text": "Age?", "type": "single", "options": ["young", "old"]},
    {"key": "langs", "text": "Languages?", "type": "multiple", "options": ["en", "ar"]},
    {"key": "years", "text": "Years online?", "type": "number"},
    {"key": "clear", "text": "Clear?", "type": "scale", "options": ["no", "so-so", "yes"]},
    {"key": "note", "text": "Anything else?", "type": "text", "when": "post"},
]
SURVEY_ANSWERS = {"band": "old", "langs": ["ar", "en"], "years": 12, "clear": 3, "note": "ok"}


def rows_of(response, filetype: str = "jsonl") -> list[dict]:
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content)
    if filetype == "jsonl":
        return [json.loads(line) for line in content.decode().splitlines()]
    if filetype == "csv":
        return list(csv.DictReader(io.StringIO(content.decode())))
    return pq.read_table(io.BytesIO(content)).to_pylist()


def annotators(client, **params) -> list[dict]:
    response = client.get(EXPORT, {"format": "annotators", **params})
    return rows_of(response, params.get("filetype", "jsonl"))


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {row["annotator"]: row for row in rows}


def vote(project: Project, annotator: Annotator, choice: str = "left") -> None:
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice=choice)


def import_votes(project: Project, rows: list[dict]) -> None:
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


def crowd_worker(project: Project, worker_id: str = "A1B2C3D4E5F6G7") -> Annotator:
    annotator = Annotator.objects.create(source="mturk", external_id=worker_id)
    CrowdSession.objects.create(
        project=project,
        annotator=annotator,
        platform="mturk",
        external_id=worker_id,
        session_id="3ASSIGN",
        started_at=MOMENT,
    )
    return annotator


# ---------------------------------------------------------------- rows


def test_one_row_per_annotator_with_the_contract_columns(researcher_client, pairwise):
    first, second = make_annotator(), make_annotator()
    vote(pairwise, first)
    vote(pairwise, first)
    vote(pairwise, second)

    rows = annotators(researcher_client)

    assert [list(row) for row in rows] == [COLUMNS, COLUMNS]
    assert {r["annotator"]: r["n_judgments"] for r in rows} == {
        first.pseudonym: 2,
        second.pseudonym: 1,
    }


def test_the_annotator_id_is_the_one_of_the_judgments_export(researcher_client, pairwise):
    vote(pairwise, make_annotator())
    import_votes(
        pairwise, [{"annotator": "lab-7", "item": "q0", "a": "r1", "b": "r2", "choice": "a"}]
    )
    judgments = rows_of(researcher_client.get(EXPORT, {"format": "judgments"}))

    rows = annotators(researcher_client)

    assert {r["annotator"] for r in rows} == {j["annotator"] for j in judgments}
    assert by_id(rows)["lab-7"]["platform"] == "import"


def test_crowd_workers_ids_are_never_exported(researcher_client, pairwise):
    worker = crowd_worker(pairwise)
    vote(pairwise, worker)

    content = b"".join(
        researcher_client.get(EXPORT, {"format": "annotators", "filetype": "csv"}).streaming_content
    ).decode()

    assert "A1B2C3D4E5F6G7" not in content and "3ASSIGN" not in content
    (row,) = rows_of(researcher_client.get(EXPORT, {"format": "annotators"}))
    assert (row["annotator"], row["platform"]) == (worker.pseudonym, "mturk")


def test_consent_time_and_version_are_the_latest_agreement(researcher_client, pairwise):
    annotator = make_annotator()
    consent_record(project=pairwise, annotator=annotator, now=datetime(2026, 1, 1, tzinfo=UTC))
    project_update(project=pairwise, consent_text="A second text.")
    consent_record(project=pairwise, annotator=annotator, version=2, now=MOMENT)

    (row,) = annotators(researcher_client)

    assert row["consent_version"] == 2
    assert datetime.fromisoformat(row["consented_at"]) == MOMENT
    assert row["n_judgments"] == 0


def test_everyone_who_took_part_has_a_row_and_others_none(researcher_client, pairwise):
    consented, leased, entered = make_annotator(), make_annotator(), crowd_worker(pairwise)
    consent_record(project=pairwise, annotator=consented)
    assignment_lease(project=pairwise, annotator=leased)
    elsewhere = make_annotator()
    other = ProjectFactory(slug="other", owner=pairwise.owner)
    import_items(other, 1)
    vote(other, elsewhere)

    rows = by_id(annotators(researcher_client))

    assert set(rows) == {consented.pseudonym, leased.pseudonym, entered.pseudonym}
    assert rows[consented.pseudonym]["consent_version"] == 1
    assert rows[leased.pseudonym]["consented_at"] is None


def test_quality_figures_come_from_the_running_stats(researcher_client, pairwise):
    annotator = make_annotator()
    import_votes(
        pairwise,
        [
            {"annotator": "h", "item": f"q{i}", "a": "r1", "b": "r2", "choice": c, "seconds": s}
            for i, (c, s) in enumerate([("a", 4.0), ("a", 10.0), ("b", 30.0)])
        ],
    )
    vote(pairwise, annotator)
    AnnotatorStats.objects.filter(annotator=annotator).update(
        judgments=4, decided=4, left_choices=3, fast_judgments=1, gold_judgments=2, gold_correct=1
    )

    rows = by_id(annotators(researcher_client))

    imported = rows["h"]
    assert imported["n_judgments"] == 3
    assert imported["mean_seconds"] == pytest.approx(14.667, abs=1e-3)
    assert imported["median_seconds"] == 10.0
    mine = rows[annotator.pseudonym]
    assert (mine["left_rate"], mine["fast_share"], mine["gold_accuracy"]) == (0.75, 0.25, 0.5)
    assert mine["gold_judgments"] == 2
    assert mine["flags"] == [] and mine["blocked"] is False


def test_flagged_and_blocked_annotators_are_left_out_unless_asked(researcher_client, pairwise):
    kept, blocked = make_annotator(), make_annotator()
    vote(pairwise, kept)
    vote(pairwise, blocked)
    annotator_block(project=pairwise, annotator=blocked)

    default = by_id(annotators(researcher_client))
    everyone = by_id(annotators(researcher_client, exclude_flagged="false"))

    assert set(default) == {kept.pseudonym}
    assert everyone[blocked.pseudonym]["blocked"] is True


def test_annotator_kind_picks_human_or_model_judges(researcher_client, pairwise):
    vote(pairwise, make_annotator())
    import_votes(
        pairwise,
        [
            {
                "annotator": "gpt-judge",
                "annotator_kind": "model",
                "item": "q0",
                "a": "r1",
                "b": "r2",
                "choice": "a",
            }
        ],
    )

    models = annotators(researcher_client, annotator_kind="model")

    assert [(r["annotator"], r["annotator_kind"]) for r in models] == [("gpt-judge", "model")]


def test_gold_judgments_count_only_when_asked(researcher_client, pairwise):
    import_votes(pairwise, [{"annotator": "h", "item": "q0", "a": "r1", "b": "r2", "choice": "a"}])
    pairwise.judgments.update(is_gold=True)

    assert annotators(researcher_client)[0]["n_judgments"] == 0
    assert annotators(researcher_client, include_gold="true")[0]["n_judgments"] == 1


@pytest.mark.parametrize(("param", "value"), [("since", "3"), ("min_agreement", "0.5")])
def test_filters_that_do_not_apply_are_a_400_naming_them(researcher_client, pairwise, param, value):
    response = researcher_client.get(EXPORT, {"format": "annotators", param: value})

    assert response.status_code == 400
    assert param in [e["field"] for e in response.json()["errors"]]


def test_a_csv_cell_never_starts_a_spreadsheet_formula(researcher_client, pairwise):
    import_votes(
        pairwise,
        [{"annotator": "=HYPERLINK(1)", "item": "q0", "a": "r1", "b": "r2", "choice": "a"}],
    )

    (row,) = annotators(researcher_client, filetype="csv")

    assert row["annotator"] == "'=HYPERLINK(1)"
    assert row["n_judgments"] == "1"


def test_the_export_is_one_query_however_many_annotators(researcher_client, pairwise):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            b"".join(researcher_client.get(EXPORT, {"format": "annotators"}).streaming_content)
        return len(captured.captured_queries)

    vote(pairwise, make_annotator())
    few = queries()
    for _ in range(5):
        annotator = make_annotator()
        consent_record(project=pairwise, annotator=annotator)
        vote(pairwise, annotator)

    assert len(annotators(researcher_client)) == 6
    assert queries() == few


# ---------------------------------------------------------------- files


@pytest.fixture
def populated(pairwise) -> Project:
    """Every column has a value in some row, so JSON Lines (typed by their values) and
    Parquet (typed by the plan) can be compared column by column."""
    annotator = make_annotator()
    consent_record(project=pairwise, annotator=annotator, now=MOMENT)
    project_update(project=pairwise, survey=SURVEY)
    survey_answers_record(project=pairwise, annotator=annotator, answers=SURVEY_ANSWERS)
    vote(pairwise, annotator)
    AnnotatorStats.objects.filter(annotator=annotator).update(
        qualified=True, gold_judgments=1, gold_correct=1, flags=["too_fast"]
    )
    return pairwise


@pytest.mark.parametrize("filetype", ["jsonl", "csv", "parquet"])
def test_every_filetype_loads_with_hugging_face_datasets(
    researcher_client, populated, tmp_path, filetype
):
    datasets = pytest.importorskip("datasets")
    response = researcher_client.get(
        EXPORT, {"format": "annotators", "filetype": filetype, "exclude_flagged": "false"}
    )
    assert response["Content-Disposition"] == (
        f'attachment; filename="pairs-annotators.{filetype}"'
    )
    path = tmp_path / f"annotators.{filetype}"
    path.write_bytes(b"".join(response.streaming_content))
    builder = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}[filetype]

    dataset = datasets.load_dataset(
        builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )

    assert dataset.column_names == [*COLUMNS, *(f"survey.{q['key']}" for q in SURVEY)]
    assert dataset.num_rows == 1
    assert dataset[0]["n_judgments"] == 1
    assert (dataset[0]["survey.band"], dataset[0]["survey.clear"]) == ("old", 3)
    if filetype != "csv":  # a CSV cell holds a list as JSON text
        assert dataset[0]["survey.langs"] == ["ar", "en"] and dataset[0]["survey.years"] == 12.0


def loaded_as_jsonl_and_parquet(client, tmp_path, **params) -> dict:
    """The `annotators` export in both typed filetypes, each loaded with `datasets`."""
    datasets = pytest.importorskip("datasets")
    loaded = {}
    for filetype, builder in (("jsonl", "json"), ("parquet", "parquet")):
        response = client.get(EXPORT, {"format": "annotators", "filetype": filetype, **params})
        path = tmp_path / f"annotators.{filetype}"
        path.write_bytes(b"".join(response.streaming_content))
        loaded[filetype] = datasets.load_dataset(
            builder, data_files=str(path), split="train", cache_dir=str(tmp_path / filetype)
        )
    return loaded


def test_parquet_and_jsonl_have_the_same_schema(researcher_client, populated, tmp_path):
    loaded = loaded_as_jsonl_and_parquet(researcher_client, tmp_path, exclude_flagged="false")

    assert loaded["jsonl"].features == loaded["parquet"].features
    assert loaded["jsonl"][0] == loaded["parquet"][0]


def test_a_parquet_export_of_nobody_still_has_its_schema(researcher_client, pairwise):
    response = researcher_client.get(EXPORT, {"format": "annotators", "filetype": "parquet"})

    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))

    assert table.num_rows == 0
    assert table.schema.names == COLUMNS


def test_a_snapshot_of_the_annotators_has_its_card(researcher_client, populated):
    response = researcher_client.post(
        "/api/v1/projects/pairs/snapshots/",
        {"format": "annotators", "filetype": "parquet", "exclude_flagged": False},
        format="json",
    )
    assert response.status_code in (201, 202), response.content
    snapshot = populated.snapshots.get()

    snapshot = snapshot_build(snapshot=snapshot)

    assert snapshot.status == "ready", snapshot.error
    assert snapshot.row_count == 1
    assert "One row per annotator of the project" in snapshot.card
    assert Consent.objects.count() == 1
