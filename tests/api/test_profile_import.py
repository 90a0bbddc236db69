"""Prolific's demographic export mapped onto a project's crowd annotators (README "Surveys",
Importing profiles): answers filled and marked imported, the annotators' own kept unless
asked, unmatched rows and refused values reported, sensitive answers kept sensitive."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from annotation.models import Annotator, Project, SurveyAnswers
from annotation.services import profile_import
from annotation.services.crowd import CrowdEntry, crowd_session_start
from annotation.services.projects import project_update
from annotation.services.surveys import survey_answers_record
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/pairs/profiles/import/"
EXPORT = "/api/v1/projects/pairs/export/"
#: Prolific's demographic export, as its researchers download it.
HEADER = [
    "Submission id",
    "Participant id",
    "Status",
    "Custom study tncs accepted at",
    "Started at",
    "Completed at",
    "Reviewed at",
    "Archived at",
    "Time taken",
    "Completion code",
    "Total approvals",
    "Age",
    "Sex",
    "Ethnicity simplified",
    "Country of birth",
    "Country of residence",
    "Nationality",
    "Language",
    "Student status",
    "Employment status",
]
PIDS = [f"{n:024x}" for n in range(1, 6)]
COLUMNS = {
    "Age": "age_band",
    "Sex": {"key": "gender", "values": {"Female": "Woman", "Male": "Man"}},
    "Country of residence": "country",
    "Language": "first_language",
}


#: A full pre-survey, as an annotator answers it on the page.
OWN_ANSWERS = {
    "age_band": "25-34",
    "gender": "Woman",
    "country": "Jordan",
    "first_language": "Arabic",
    "education": "Secondary school",
    "ai_use": "Weekly",
}


def prolific_row(pid: str, age: str, sex: str, country: str = "United Kingdom") -> dict:
    row = dict.fromkeys(HEADER, "")
    row.update(
        {
            "Submission id": f"sub{pid[-4:]}",
            "Participant id": pid,
            "Status": "APPROVED",
            "Time taken": "612",
            "Total approvals": "140",
            "Age": age,
            "Sex": sex,
            "Country of residence": country,
            "Language": "English",
        }
    )
    return row


def export_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def study(pairwise) -> Project:
    """The PRISM demographics survey and three Prolific participants who entered the study;
    a fourth entered another study only."""
    project = project_update(project=pairwise, survey_preset="prism-demographics")
    for pid in PIDS[:3]:
        crowd_session_start(
            project=project,
            entry=CrowdEntry("prolific", pid, "st", f"se{pid[-2:]}"),
            client_address="192.0.2.1",
        )
    other = ProjectFactory(slug="elsewhere")
    crowd_session_start(
        project=other, entry=CrowdEntry("prolific", PIDS[3], "st", "x"), client_address="192.0.2.2"
    )
    return project


def participant(pid: str) -> Annotator:
    return Annotator.objects.get(source="prolific", external_id=pid)


def answers_of(project: Project, pid: str) -> SurveyAnswers:
    return SurveyAnswers.objects.get(project=project, annotator=participant(pid))


def upload(client, content: bytes, columns=COLUMNS, **fields):
    body = {
        "file": SimpleUploadedFile("prolific_export.csv", content, content_type="text/csv"),
        "columns": json.dumps(columns),
        **fields,
    }
    return client.post(URL, body, format="multipart")


def test_the_export_fills_the_participants_answers_and_reports_the_rest(researcher_client, study):
    rows = [
        prolific_row(PIDS[0], "31", "Female"),
        prolific_row(PIDS[1], "67", "Male", country="DATA_EXPIRED"),
        prolific_row(PIDS[2], "19", "Intersex"),
        prolific_row(PIDS[3], "40", "Male"),  # entered another study
        prolific_row(PIDS[4], "50", "Male"),  # never entered
    ]

    response = upload(researcher_client, export_csv(rows))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "rows": 5,
        "matched": 3,
        "answers_stored": 10,
        "answers_kept": 0,
        "withheld": 1,
        "unmatched": {
            "count": 2,
            "rows": [{"row": 4, "participant": PIDS[3]}, {"row": 5, "participant": PIDS[4]}],
        },
        "refused": {
            "count": 1,
            "values": [
                {
                    "row": 3,
                    "participant": PIDS[2],
                    "column": "Sex",
                    "key": "gender",
                    "value": "Intersex",
                    "error": "fits no answer to 'gender'",
                }
            ],
        },
    }
    first = answers_of(study, PIDS[0])
    assert first.answers == {
        "age_band": "25-34",
        "gender": "Woman",
        "country": "United Kingdom",
        "first_language": "English",
    }
    assert first.imported == ["age_band", "country", "first_language", "gender"]
    assert first.submitted == [] and first.version == study.survey_version
    assert answers_of(study, PIDS[1]).answers["age_band"] == "65+"
    assert "country" not in answers_of(study, PIDS[1]).answers
    assert "gender" not in answers_of(study, PIDS[2]).answers


def test_the_annotators_own_answers_are_kept_unless_overwrite(researcher_client, study):
    own = {**OWN_ANSWERS, "gender": "Non-binary", "age_band": "35-44"}
    survey_answers_record(project=study, annotator=participant(PIDS[0]), answers=own)
    content = export_csv([prolific_row(PIDS[0], "31", "Female")])

    kept = upload(researcher_client, content).json()
    record = answers_of(study, PIDS[0])

    assert (kept["answers_kept"], kept["answers_stored"]) == (4, 0)
    assert record.answers == own and record.imported == []

    replaced = upload(researcher_client, content, overwrite="true").json()
    record.refresh_from_db()

    assert (replaced["answers_kept"], replaced["answers_stored"]) == (0, 4)
    assert (record.answers["gender"], record.answers["age_band"]) == ("Woman", "25-34")
    assert record.answers["education"] == own["education"]
    assert record.imported == ["age_band", "country", "first_language", "gender"]


def test_a_newer_import_replaces_an_imported_answer(researcher_client, study):
    upload(researcher_client, export_csv([prolific_row(PIDS[0], "31", "Female")]))

    again = upload(researcher_client, export_csv([prolific_row(PIDS[0], "36", "Female")])).json()

    assert again["answers_kept"] == 0
    assert answers_of(study, PIDS[0]).answers["age_band"] == "35-44"


def test_an_answer_the_annotator_gives_becomes_theirs(researcher_client, study):
    upload(researcher_client, export_csv([prolific_row(PIDS[0], "31", "Female")]))

    survey_answers_record(
        project=study,
        annotator=participant(PIDS[0]),
        answers={"gender": "Woman", "education": "Secondary school", "ai_use": "Weekly"},
    )

    assert answers_of(study, PIDS[0]).imported == ["age_band", "country", "first_language"]


def test_json_rows_are_taken_too(researcher_client, study):
    rows = [{"Participant id": PIDS[1], "Age": 45, "Sex": "man"}]

    response = researcher_client.post(
        URL, {"rows": rows, "columns": {"Age": "age_band", "Sex": "gender"}}, format="json"
    )

    assert response.status_code == 200, response.content
    assert answers_of(study, PIDS[1]).answers == {"age_band": "45-54", "gender": "Man"}


def test_sensitive_answers_stay_out_of_exports_unless_asked(researcher_client, study):
    upload(researcher_client, export_csv([prolific_row(PIDS[0], "31", "Female")]))

    def row(**params) -> dict:
        response = researcher_client.get(EXPORT, {"format": "annotators", **params})
        rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
        return next(r for r in rows if r["platform"] == "prolific" and r["survey.age_band"])

    assert "survey.gender" not in row() and row()["survey.age_band"] == "25-34"
    assert row(include_sensitive="true")["survey.gender"] == "Woman"


@pytest.mark.parametrize(
    ("columns", "errors"),
    [
        (
            {"Shoe size": "age_band", "Age": "shoe"},
            [
                {"field": "columns.Shoe size", "error": "no such column in the file"},
                {"field": "columns.Age", "error": "no survey question 'shoe'"},
            ],
        ),
        (
            {"Sex": {"key": "gender", "values": {"Female": "Lady"}, "strict": True}},
            [
                {"field": "columns.Sex.strict", "error": "unknown field"},
                {
                    "field": "columns.Sex.values",
                    "error": "'Female': 'Lady' is not an answer to 'gender'",
                },
            ],
        ),
        ({}, [{"field": "columns", "error": "map one or more columns to survey keys"}]),
        (
            {"Age": "age_band", "Nationality": "age_band"},
            [{"field": "columns.Nationality", "error": "'age_band' is mapped from two columns"}],
        ),
    ],
)
def test_a_bad_mapping_is_a_400_naming_it_and_nothing_is_stored(
    researcher_client, study, columns, errors
):
    response = upload(
        researcher_client, export_csv([prolific_row(PIDS[0], "31", "Female")]), columns
    )

    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert not SurveyAnswers.objects.exists()


def test_a_file_without_participant_ids_is_a_400(researcher_client, study):
    response = upload(researcher_client, b"Age,Sex\n31,Female\n", {"Age": "age_band"})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "file", "error": "no 'Participant id' column (Prolific's export)"}
    ]


def test_a_file_unreadable_halfway_stores_nothing(researcher_client, study, monkeypatch):
    monkeypatch.setattr(profile_import, "IMPORT_CHUNK", 1)
    good = export_csv([prolific_row(PIDS[0], "31", "Female")])
    bad = "\n".join(",".join(["x", PIDS[1], *[""] * 9, "31", "Mâle"]) for _ in range(1)).encode(
        "latin-1"
    )

    response = upload(researcher_client, good + bad + b"\n")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "file"
    assert not SurveyAnswers.objects.exists()


def test_the_query_count_grows_with_chunks_not_rows(researcher_client, study, monkeypatch):
    monkeypatch.setattr(profile_import, "IMPORT_CHUNK", 1000)

    def queries(rows: list[dict]) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert upload(researcher_client, export_csv(rows)).status_code == 200
        return len(captured.captured_queries)

    queries([prolific_row(PIDS[0], "31", "Female")])  # a record to update from now on
    few = queries([prolific_row(pid, "31", "Female") for pid in PIDS[:2]])
    many = queries([prolific_row(pid, "31", "Female") for pid in PIDS * 40])

    assert many == few


def test_only_the_projects_researchers_import(study):
    stranger = APIClient()
    stranger.force_authenticate(ResearcherFactory())

    response = upload(stranger, export_csv([prolific_row(PIDS[0], "31", "Female")]))

    assert response.status_code == 404
    assert not SurveyAnswers.objects.exists()


def test_an_annotator_may_not_import(annotator_client, study):
    response = upload(annotator_client, export_csv([prolific_row(PIDS[0], "31", "Female")]))

    assert response.status_code == 403


def test_a_project_without_a_survey_takes_no_profiles(researcher_client, pairwise):
    response = upload(researcher_client, export_csv([prolific_row(PIDS[0], "31", "Female")]))

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "columns", "error": "this project has no survey"}
    ]


def test_a_big_file_is_read_from_disk_in_chunks(researcher_client, study, settings, monkeypatch):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # the upload goes to a temporary file
    monkeypatch.setattr(profile_import, "IMPORT_CHUNK", 100)
    rows = [prolific_row(PIDS[n % 3], str(20 + n % 40), "Female") for n in range(1500)]

    response = upload(researcher_client, export_csv(rows))

    assert response.status_code == 200, response.content
    assert (response.json()["rows"], response.json()["matched"]) == (1500, 1500)
    assert SurveyAnswers.objects.count() == 3
    # PIDS[0]'s last row is row 1498, age 20 + 1497 % 40 = 37: the last row counts.
    assert answers_of(study, PIDS[0]).answers["age_band"] == "35-44"


def test_a_file_over_the_limit_is_a_413(researcher_client, study, settings):
    settings.MAX_IMPORT_BYTES = 1000
    rows = [prolific_row(PIDS[0], "31", "Female") for _ in range(20)]

    response = upload(researcher_client, export_csv(rows))

    assert response.status_code == 413
    assert not SurveyAnswers.objects.exists()
