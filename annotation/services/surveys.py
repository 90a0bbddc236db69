"""Surveys: a project's questions (versioned like the consent text) and each annotator's
answers, kept with the survey version they were given under (README "Surveys").

The pre-survey's answers are the annotator's to change until their first vote in the
project (after that, the votes were cast by the person those answers describe); the
post-survey's stay open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from annotation.errors import DomainError, ValidationFailed
from annotation.models import Annotator, Judgment, Project, SurveyAnswers
from annotation.presets import SURVEY_PRESETS, survey_preset_questions
from annotation.services.assignment import project_check_open_for
from annotation.services.consent import project_version_bump
from annotation.services.quotas import group_places_follow_answers
from annotation.surveys import answer_errors, answers_cleaned, survey_errors


class SurveyLocked(DomainError):
    """Pre-survey answers changed after the annotator's first vote in the project."""

    status = 409
    default_detail = _(
        "Your answers to the first survey can no longer be changed: you have already voted "
        "in this project."
    )


def survey_clean(
    *, survey: Any = None, survey_preset: str | None = None, language: str = ""
) -> list[dict[str, Any]]:
    """The survey with defaults filled in, from the questions given or else a preset (in
    `language`, the project's ui_language); its problems, each named, as one 400."""
    if survey is None and survey_preset is not None:
        if survey_preset not in SURVEY_PRESETS:
            raise ValidationFailed(
                errors=[
                    {
                        "field": "survey_preset",
                        "error": f"must be one of {', '.join(SURVEY_PRESETS)}",
                    }
                ]
            )
        survey = survey_preset_questions(survey_preset, language)
    questions, errors = survey_errors(survey if survey is not None else [])
    if errors:
        raise ValidationFailed("The survey is not valid.", errors=errors)
    return questions


def survey_version_bump(*, project: Project, previous: list[dict[str, Any]]) -> bool:
    """Start a new survey version if the questions changed from `previous` after someone
    answered the current ones (before that, the survey is a draft). Returns whether it did."""
    if previous == project.survey:
        return False
    return project_version_bump(project=project, field="survey_version", given=SurveyAnswers)


def survey_questions(*, project: Project, when: str | None = None) -> list[dict[str, Any]]:
    """The project's questions, all or those asked `when` ("pre" or "post")."""
    return [q for q in project.survey if when is None or q.get("when", "pre") == when]


def survey_answers_current(*, project: Project, annotator: Annotator) -> SurveyAnswers | None:
    """The annotator's answers to the project's current survey version, if any (one query)."""
    return SurveyAnswers.objects.filter(
        project=project, annotator=annotator, version=project.survey_version
    ).first()


def survey_answers_own(*, project: Project, annotator: Annotator) -> SurveyAnswers | None:
    """The annotator's answers at the current survey version, for a front end to show: only
    in a project open to them, so no one else reads its (sensitive) questions."""
    project_check_open_for(project=project, annotator=annotator)
    return survey_answers_current(project=project, annotator=annotator)


def survey_answers_record(
    *,
    project: Project,
    annotator: Annotator,
    answers: Any,
    when: str | None = None,
    now: datetime | None = None,
) -> SurveyAnswers:
    """Store the annotator's answers (merged over their earlier ones at this survey version;
    an empty value clears an optional answer). `when` is the survey a page submitted (its
    required questions must then be answered); without it, the surveys whose questions are
    answered. Every problem is a 400 and nothing is stored; a change to a pre-survey answer
    after the first vote is a 409."""
    project_check_open_for(project=project, annotator=annotator)
    questions = survey_questions(project=project)
    if not questions:
        raise ValidationFailed(errors=[{"field": "answers", "error": "this project has no survey"}])
    if not isinstance(answers, dict):
        raise ValidationFailed(
            errors=[{"field": "answers", "error": "must be an object of question key to answer"}]
        )
    phases = {q.get("when", "pre") for q in questions if q["key"] in answers}
    if when is not None:
        phases.add(when)
    now = now or timezone.now()
    with transaction.atomic():
        record = (
            SurveyAnswers.objects.select_for_update()
            .filter(project=project, annotator=annotator, version=project.survey_version)
            .first()
        )
        before = record.answers if record else {}
        errors = answer_errors(questions, {**before, **answers}, required_for=phases)
        if errors:
            raise ValidationFailed("The answers are not valid.", errors=errors)
        merged = answers_cleaned(questions, {**before, **answers})
        pre_keys = {q["key"] for q in questions if q.get("when", "pre") == "pre"}
        pre_changed = any(before.get(k) != merged.get(k) for k in pre_keys)
        if pre_changed and survey_locked(project=project, annotator=annotator):
            raise SurveyLocked()
        if pre_changed:
            group_places_follow_answers(project=project, annotator=annotator, answers=merged)
        if record is not None:
            record.answers = merged
            record.submitted = sorted(set(record.submitted) | phases)
            # An imported answer the annotator gives (or confirms) is theirs from now on.
            record.imported = [k for k in record.imported if k not in answers and k in merged]
            record.updated_at = now
            record.save(update_fields=["answers", "submitted", "imported", "updated_at"])
            return record
        try:
            with transaction.atomic():
                return SurveyAnswers.objects.create(
                    project=project,
                    annotator=annotator,
                    version=project.survey_version,
                    answers=merged,
                    submitted=sorted(phases),
                    answered_at=now,
                    updated_at=now,
                )
        except IntegrityError:  # the annotator's other tab answered at the same moment
            raise ValidationFailed(
                errors=[{"field": "answers", "error": "answered twice at once: please retry"}]
            ) from None


def survey_locked(*, project: Project, annotator: Annotator) -> bool:
    """Whether the annotator has voted in the project (their pre-survey is then fixed)."""
    return Judgment.objects.filter(project=project, annotator=annotator).exists()


def survey_due(*, project: Project, annotator: Annotator, when: str) -> bool:
    """Whether the annotator still has the `when` ("pre" or "post") survey to fill in: it has
    questions, they have not submitted it at the current version and, for the pre-survey,
    have not voted yet."""
    if not survey_questions(project=project, when=when):
        return False
    if when == "pre" and survey_locked(project=project, annotator=annotator):
        return False
    record = survey_answers_current(project=project, annotator=annotator)
    return record is None or when not in record.submitted
