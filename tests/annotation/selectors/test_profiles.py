"""selectors.profiles: who gave which answer, and the profile summary with small answers
suppressed (README "Figures by group")."""

from __future__ import annotations

import pytest

from annotation.exports.readers.profiles import profile_cells
from annotation.models import Annotator
from annotation.selectors.profiles import (
    profile_latest_answers,
    profile_members,
    profile_question,
    profile_summary,
)
from annotation.services.projects import project_update
from annotation.services.surveys import survey_answers_record
from tests.factories import ProjectFactory, profiled_annotators

pytestmark = pytest.mark.django_db

SURVEY = [
    {"key": "band", "text": "Age band", "type": "single", "options": ["18-24", "25-34", "35+"]},
    {"key": "tools", "text": "AI tools", "type": "multiple", "options": ["chat", "code"]},
    {"key": "trust", "text": "Trust", "type": "scale", "options": ["low", "mid", "high"]},
    {"key": "note", "text": "Anything else?", "type": "text"},
    {"key": "faith", "text": "Religion", "type": "single", "options": ["a", "b"],
     "sensitive": True},
]  # fmt: skip


def _answered(project, answers_by_person: list[dict]) -> list[Annotator]:
    return profiled_annotators(
        project, {f"p{n}": answers for n, answers in enumerate(answers_by_person)}
    )


@pytest.fixture
def project():
    project = ProjectFactory(min_group_annotators=3)
    project_update(project=project, survey=SURVEY)
    return project


def test_members_by_answer_with_scale_points_as_their_labels(project):
    people = _answered(project, [{"trust": 3, "tools": ["chat", "code"]}, {"trust": 1}])
    members = profile_members(
        project=project, question=profile_question(project=project, key="trust")
    )
    assert members.names == ["low", "mid", "high"]
    assert list(zip(members.annotator.tolist(), members.group.tolist(), strict=True)) == [
        (people[0].pk, 2),
        (people[1].pk, 0),
    ]
    tools = profile_members(
        project=project, question=profile_question(project=project, key="tools")
    )
    assert tools.annotator.tolist() == [people[0].pk, people[0].pk]


def test_an_answer_that_no_longer_fits_the_question_is_no_answer(project):
    _answered(project, [{"band": "18-24"}])
    survey = [dict(q) for q in SURVEY]
    survey[0]["options"] = ["under 25", "25+"]
    project_update(project=project, survey=survey)
    question = profile_question(project=project, key="band")
    assert profile_members(project=project, question=question).annotator.tolist() == []


def test_the_summary_counts_answers_and_merges_small_ones_into_other(
    project, django_assert_num_queries
):
    _answered(
        project,
        [{"band": "18-24", "note": "hi"}] * 3 + [{"band": "25-34"}] * 2 + [{"band": "35+"}]
        + [{"faith": "a"}] * 3,
    )  # fmt: skip
    with django_assert_num_queries(1):
        summary = {q["key"]: q for q in profile_summary(project=project)}
    assert "faith" not in summary  # sensitive: only when asked
    assert summary["band"]["answered"] == 6
    assert summary["band"]["counts"] == [
        {"answer": "18-24", "annotators": 3},
        {"answer": "other", "annotators": 3},
    ]
    assert summary["note"]["answered"] == 3 and "counts" not in summary["note"]
    assert summary["tools"]["counts"] == []

    shown = {q["key"]: q for q in profile_summary(project=project, include_sensitive=True)}
    assert shown["faith"]["counts"] == [{"answer": "a", "annotators": 3}]


def test_latest_answers_are_read_once_for_summary_and_exports_alike(
    project, django_assert_num_queries
):
    first, second = _answered(project, [{"band": "18-24"}, {"band": "35+", "trust": 2}])
    project_update(project=project, survey=[{**SURVEY[0], "text": "Your age band"}, *SURVEY[1:]])
    survey_answers_record(project=project, annotator=first, answers={"band": "25-34"})

    with django_assert_num_queries(1):
        latest = dict(profile_latest_answers(project=project))
    with django_assert_num_queries(1):
        cells = profile_cells(project=project, questions=SURVEY[:1])

    assert latest == {first.pk: {"band": "25-34"}, second.pk: {"band": "35+", "trust": 2}}
    assert cells == {first.pk: ("25-34",), second.pk: ("35+",)}


def test_the_summary_never_lets_a_small_answer_be_read_as_a_difference(project):
    # k = 3: 18-24 by 4, 25-34 by 3, 35+ by one. Showing 18-24 and 25-34 with 8 answered
    # would tell that one person is 35+: 25-34 goes into other with them.
    _answered(project, [{"band": "18-24"}] * 4 + [{"band": "25-34"}] * 3 + [{"band": "35+"}])

    band = next(q for q in profile_summary(project=project) if q["key"] == "band")

    assert band["answered"] == 8
    assert band["counts"] == [
        {"answer": "18-24", "annotators": 4},
        {"answer": "other", "annotators": 4},
    ]
