"""Surveys over the API (README "Surveys"): a project's questions, checked strictly and
versioned like the consent text; an annotator's own answers, checked against them and
theirs to change until their first vote."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rest_framework.test import APIClient

from annotation.models import Project, SurveyAnswers
from annotation.presets import survey_preset_questions
from annotation.services.annotators import annotator_for_user
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from annotation.services.projects import project_update
from tests.api.test_annotators_export import loaded_as_jsonl_and_parquet
from tests.factories import ResearcherFactory

pytestmark = pytest.mark.django_db

PROJECT = "/api/v1/projects/pairs/"
SURVEY = "/api/v1/projects/pairs/survey/"
QUESTIONS = [
    {
        "key": "age_band",
        "text": "How old are you?",
        "type": "single",
        "options": ["18-34", "35+"],
        "required": True,
    },
    {
        "key": "languages",
        "text": "Which do you speak?",
        "type": "multiple",
        "options": ["en", "ar", "fr"],
    },
    {"key": "years", "text": "Years online?", "type": "number", "sensitive": True},
    {
        "key": "clarity",
        "text": "How clear?",
        "type": "scale",
        "options": ["Unclear", "So-so", "Clear"],
        "when": "post",
    },
    {"key": "comments", "text": "Anything else?", "type": "text", "when": "post"},
]


@pytest.fixture
def surveyed(pairwise) -> Project:
    return project_update(project=pairwise, survey=QUESTIONS)


def patch_survey(client, survey) -> dict:
    return client.patch(PROJECT, {"survey": survey}, format="json")


# ---------------------------------------------------------------- questions


def test_a_survey_is_stored_with_its_defaults_and_version(researcher_client, pairwise):
    response = patch_survey(researcher_client, QUESTIONS)

    assert response.status_code == 200, response.content
    body = response.json()
    assert [q["key"] for q in body["survey"]] == [q["key"] for q in QUESTIONS]
    assert body["survey"][2] == {
        "key": "years",
        "text": "Years online?",
        "type": "number",
        "options": [],
        "required": False,
        "sensitive": True,
        "when": "pre",
    }
    assert body["survey_version"] == 1


def question(**fields) -> dict:
    return {"key": "a", "text": "A?", **fields}


@pytest.mark.parametrize(
    ("question", "field", "error"),
    [
        (question(type="single"), "survey[0].options", "two or more options"),
        (question(type="scale", options=["x"]), "survey[0].options", "two"),
        (question(type="number", options=["x", "y"]), "survey[0].options", "no options"),
        (question(type="date"), "survey[0].type", "must be one of"),
        (question(type="text", key="A b"), "survey[0].key", "lower-case"),
        (question(type="text", text=""), "survey[0].text", "required"),
        (question(type="text", hint="x"), "survey[0].hint", "unknown field"),
        (question(type="text", when="mid"), "survey[0].when", "pre or post"),
        (question(type="text", required="yes"), "survey[0].required", "true or false"),
    ],
)
def test_a_bad_question_is_a_400_naming_it_and_nothing_changes(
    researcher_client, pairwise, question, field, error
):
    response = patch_survey(researcher_client, [question])

    assert response.status_code == 400
    (problem,) = response.json()["errors"]
    assert problem["field"] == field and error in problem["error"]
    pairwise.refresh_from_db()
    assert pairwise.survey == []


def test_duplicate_keys_are_refused(researcher_client, pairwise):
    response = patch_survey(researcher_client, [QUESTIONS[2], QUESTIONS[2]])

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "survey[1].key", "error": "duplicate key 'years'"}
    ]


def test_a_preset_survey_on_create(researcher_client):
    response = researcher_client.post(
        "/api/v1/projects/",
        {
            "slug": "prism",
            "name": "PRISM",
            "kind": "pairwise",
            "survey_preset": "prism-demographics",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    survey = response.json()["survey"]
    assert [q["key"] for q in survey] == [
        "age_band",
        "gender",
        "country",
        "first_language",
        "education",
        "ai_use",
    ]
    assert {q["key"] for q in survey if q["sensitive"]} == {
        "gender",
        "country",
        "first_language",
        "education",
    }


def test_changing_questions_after_an_answer_starts_a_new_version(
    researcher_client, surveyed, annotator_client
):
    answered = annotator_client.post(SURVEY, {"answers": {"age_band": "35+"}}, format="json")
    assert answered.status_code == 200

    response = patch_survey(researcher_client, QUESTIONS[:2])

    assert response.json()["survey_version"] == 2
    again = patch_survey(researcher_client, QUESTIONS[:1])
    assert again.json()["survey_version"] == 2  # nobody answered version 2 yet


def test_the_survey_version_is_read_only(researcher_client, pairwise):
    response = researcher_client.patch(PROJECT, {"survey_version": 3}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "survey_version", "error": "read-only field"}]


# ---------------------------------------------------------------- answers


def test_an_annotator_answers_and_reads_their_answers(surveyed, annotator_client):
    answers = {"age_band": "18-34", "languages": ["ar", "en"], "years": 12.5}

    posted = annotator_client.post(SURVEY, {"answers": answers}, format="json")

    assert posted.status_code == 200, posted.content
    read = annotator_client.get(SURVEY).json()
    assert read["answers"] == answers
    assert read["version"] == 1 and read["submitted"] == ["pre"]
    assert [q["key"] for q in read["questions"]] == [q["key"] for q in QUESTIONS]


def test_the_survey_is_read_only_where_the_annotator_may_answer_it(surveyed, annotator_client):
    # Another researcher, or an annotator kept out of a members-only project, learns nothing
    # of its survey (its sensitive questions included) by reading it.
    stranger = APIClient()
    stranger.force_authenticate(ResearcherFactory())
    surveyed.access = Project.Access.MEMBERS
    surveyed.save(update_fields=["access"])

    for client in (stranger, annotator_client):
        refused = client.get(SURVEY)

        assert refused.status_code == 403
        assert "questions" not in refused.json() and "years" not in refused.content.decode()


@pytest.mark.parametrize(
    ("answers", "field", "error"),
    [
        ({"age_band": "99"}, "answers.age_band", "one of the options"),
        ({"age_band": "35+", "languages": ["de"]}, "answers.languages", "list of the options"),
        ({"age_band": "35+", "years": "ten"}, "answers.years", "a number"),
        ({"age_band": "35+", "years": True}, "answers.years", "a number"),
        ({"clarity": 4}, "answers.clarity", "from 1 to 3"),
        ({"comments": 3}, "answers.comments", "text"),
        ({"age_band": "35+", "shoe_size": 9}, "answers.shoe_size", "no such question"),
        ({"languages": ["en"]}, "answers.age_band", "required"),
    ],
)
def test_bad_answers_are_a_400_and_nothing_is_stored(
    surveyed, annotator_client, answers, field, error
):
    response = annotator_client.post(SURVEY, {"answers": answers}, format="json")

    assert response.status_code == 400
    assert any(e["field"] == field and error in e["error"] for e in response.json()["errors"])
    assert not SurveyAnswers.objects.exists()


def test_unknown_body_fields_and_query_parameters_are_refused(surveyed, annotator_client):
    body = annotator_client.post(SURVEY, {"answers": {}, "extra": 1}, format="json")
    query = annotator_client.get(SURVEY, {"page": 2})

    assert body.status_code == 400 and body.json()["errors"][0]["field"] == "extra"
    assert query.status_code == 400 and query.json()["errors"][0]["field"] == "page"


def test_answers_can_change_until_the_first_vote(surveyed, annotator_client, annotator_user):
    first = annotator_client.post(SURVEY, {"answers": {"age_band": "18-34"}}, format="json")
    changed = annotator_client.post(SURVEY, {"answers": {"age_band": "35+"}}, format="json")
    assert (first.status_code, changed.status_code) == (200, 200)
    annotator = annotator_for_user(user=annotator_user)
    assignment = assignment_lease(project=surveyed, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice="left")

    refused = annotator_client.post(SURVEY, {"answers": {"age_band": "18-34"}}, format="json")
    post_survey = annotator_client.post(SURVEY, {"answers": {"clarity": 3}}, format="json")

    assert refused.status_code == 409
    assert "already voted" in refused.json()["detail"]
    assert post_survey.status_code == 200
    assert annotator_client.get(SURVEY).json()["answers"] == {"age_band": "35+", "clarity": 3}


def test_a_project_without_a_survey_takes_no_answers(pairwise, annotator_client):
    response = annotator_client.post(SURVEY, {"answers": {"a": 1}}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "answers", "error": "this project has no survey"}
    ]


def test_a_preset_comes_in_the_projects_language(researcher_client):
    created = researcher_client.post(
        "/api/v1/projects/",
        {"slug": "prism", "name": "PRISM", "kind": "pairwise", "ui_language": "ar",
         "survey_preset": "prism-demographics-and-feedback"},
        format="json",
    ).json()  # fmt: skip

    by_key = {q["key"]: q for q in created["survey"]}
    assert by_key["age_band"]["text"] == "كم عمرك؟"
    assert by_key["gender"]["options"] == [
        "امرأة", "رجل", "غير ثنائي الجنس", "أفضّل أن أصف نفسي", "أفضّل عدم الإجابة"
    ]  # fmt: skip
    assert by_key["age_band"]["options"][:2] == ["18-24", "25-34"]  # numbers stay numbers
    assert by_key["instructions_clear"]["options"][-1] == "واضحة جدًا"
    assert by_key["comments"]["text"] == "هل تود إخبار الباحثين بشيء؟"

    french = researcher_client.patch(
        "/api/v1/projects/prism/",
        {"ui_language": "fr", "survey_preset": "feedback"},
        format="json",
    ).json()
    assert french["survey"][0]["text"] == "Les instructions étaient-elles claires ?"


def test_a_preset_in_an_english_project_is_unchanged(researcher_client):
    survey = researcher_client.post(
        "/api/v1/projects/",
        {"slug": "prism", "name": "PRISM", "kind": "pairwise", "ui_language": "en",
         "survey_preset": "prism-demographics"},
        format="json",
    ).json()["survey"]  # fmt: skip

    assert survey[1]["text"] == "What is your gender?"
    assert survey[1]["options"][0] == "Woman"
    assert survey[5]["options"] == ["Never", "Less than monthly", "Monthly", "Weekly", "Daily"]


def test_an_arabic_projects_preset_takes_its_arabic_answers(pairwise, annotator_client):
    project_update(project=pairwise, ui_language="ar", survey_preset="prism-demographics")
    answers = {
        q["key"]: (q["options"][1] if q["options"] else "الأردن")
        for q in survey_preset_questions("prism-demographics", "ar")
    }
    assert answers["gender"] == "رجل"

    response = annotator_client.post(SURVEY, {"answers": answers}, format="json")

    assert response.status_code == 200, response.content
    assert SurveyAnswers.objects.get().answers["gender"] == "رجل"
    english = dict(answers, gender="Man")
    refused = annotator_client.post(SURVEY, {"answers": english}, format="json")
    assert refused.status_code == 400  # one language within the project


def test_the_prism_preset_takes_a_full_set_of_answers(pairwise, annotator_client):
    project_update(project=pairwise, survey_preset="prism-demographics")
    answers = {
        q["key"]: (q["options"][0] if q["options"] else "Jordan")
        for q in survey_preset_questions("prism-demographics", "")
    }

    response = annotator_client.post(SURVEY, {"answers": answers}, format="json")

    assert response.status_code == 200, response.content


# ---------------------------------------------------------------- the annotators export

EXPORT = "/api/v1/projects/pairs/export/"


def annotator_rows(client, **params) -> list[dict]:
    response = client.get(EXPORT, {"format": "annotators", **params})
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_the_export_carries_answers_without_the_sensitive_ones(
    researcher_client, surveyed, annotator_client
):
    answers = {"age_band": "35+", "languages": ["fr"], "years": 3, "clarity": 2}
    annotator_client.post(SURVEY, {"answers": answers}, format="json")

    (row,) = annotator_rows(researcher_client)

    assert row["survey_version"] == 1
    assert {k: v for k, v in row.items() if k.startswith("survey.")} == {
        "survey.age_band": "35+",
        "survey.languages": ["fr"],
        "survey.clarity": 2,
        "survey.comments": None,
    }


def test_sensitive_answers_only_when_asked(researcher_client, surveyed, annotator_client):
    annotator_client.post(SURVEY, {"answers": {"age_band": "35+", "years": 3}}, format="json")

    (row,) = annotator_rows(researcher_client, include_sensitive="true")

    assert row["survey.years"] == 3.0
    assert list(row)[-5:] == [f"survey.{q['key']}" for q in QUESTIONS]


@pytest.mark.parametrize("params", [{"format": "dpo", "include_sensitive": "true"}])
def test_include_sensitive_applies_to_the_annotators_and_judgments_exports_only(
    researcher_client, surveyed, params
):
    response = researcher_client.get(EXPORT, params)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "include_sensitive", "error": "does not apply to format dpo"}
    ]


def test_the_columns_are_the_current_questions_whatever_was_answered(
    researcher_client, surveyed, annotator_client
):
    annotator_client.post(SURVEY, {"answers": {"age_band": "35+"}}, format="json")
    changed = [{**QUESTIONS[0], "type": "scale", "options": ["a", "b"]}, *QUESTIONS[1:]]
    project_update(project=surveyed, survey=changed)  # version 2; "35+" fits no scale

    (row,) = annotator_rows(researcher_client)
    response = researcher_client.get(EXPORT, {"format": "annotators", "filetype": "parquet"})
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))

    assert row["survey_version"] == 1 and row["survey.age_band"] is None
    assert table.schema.field("survey.age_band").type == pa.int64()
    assert table.schema.field("survey.languages").type == pa.list_(pa.string())
    assert "survey.years" not in table.schema.names


def test_the_export_with_answers_loads_with_datasets(
    researcher_client, surveyed, annotator_client, tmp_path
):
    answers = {"age_band": "35+", "languages": ["ar"], "years": 3, "clarity": 2, "comments": "x"}
    annotator_client.post(SURVEY, {"answers": answers}, format="json")

    loaded = loaded_as_jsonl_and_parquet(researcher_client, tmp_path, include_sensitive="true")

    survey_columns = [f"survey.{q['key']}" for q in QUESTIONS]
    jsonl, parquet = (loaded[t].select_columns(survey_columns) for t in ("jsonl", "parquet"))
    assert jsonl.features == parquet.features  # the other columns are null here
    assert jsonl[0] == parquet[0] == {f"survey.{k}": v for k, v in answers.items()}
