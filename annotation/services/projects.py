"""Creating and changing projects and their criteria."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.errors import ValidationFailed
from annotation.models import Criterion, Project, RubricVersion
from annotation.numbers import ascii_int
from annotation.presets import PRESETS
from annotation.services.consent import consent_version_bump
from annotation.services.surveys import survey_clean, survey_version_bump
from annotation.surveys import group_quota_errors

PROJECT_FIELDS = (
    "slug",
    "name",
    "kind",
    "instructions",
    "annotations_per_task",
    "lease_seconds",
    "allow_tie",
    "allow_both_bad",
    "strength_scale",
    "rationale",
    "rewrite",
    "gold_rate",
    "max_tasks_per_annotator",
    "completion_code",
    "completion_url",
    "completion_min_answers",
    "screenout_code",
    "screenout_url",
    "prolific_study_id",
    "crowd_new_per_hour",
    "media_hosts",
    "arming_ms",
    "consent_text",
    "survey",
    "group_quotas",
    "ui_language",
    "content_language",
    "license",
    "license_name",
    "status",
    "access",
    "qualification_tasks",
    "qualification_min_accuracy",
    "min_seconds_per_task",
    "flag_min_judgments",
    "flag_fast_share",
    "flag_side_rate",
    "flag_min_gold_accuracy",
    "review_min_share",
    "min_group_votes",
    "min_group_annotators",
    "sampling",
    "explore_share",
    "route",
    "route_human_k",
    "arena_prompts_per_hour",
    "prompt_blocklist",
    "seed_prompts",
    "reveal_after_vote",
)
CRITERION_FIELDS = (
    "key",
    "label",
    "description",
    "type",
    "min",
    "max",
    "level_labels",
    "level",
    "labels",
)
#: A scale's fields, which a criterion without a scale (type spans) refuses by name.
SCALE_FIELDS = ("min", "max", "level_labels")


def _validation_failed(exc: ValidationError, prefix: str = "") -> ValidationFailed:
    errors = [
        {"field": f"{prefix}{name}", "error": " ".join(str(m) for m in messages)}
        for name, messages in exc.message_dict.items()
    ]
    return ValidationFailed("The project is not valid.", errors=errors)


def _criteria_objects(project: Project, criteria: list[dict[str, Any]]) -> list[Criterion]:
    objects: list[Criterion] = []
    seen: set[str] = set()
    span_labels: set[str] = set()
    for position, data in enumerate(criteria):
        unknown = set(data) - set(CRITERION_FIELDS) - {"position", "id"}
        if unknown:
            raise ValidationFailed(
                errors=[
                    {"field": f"criteria[{position}].{k}", "error": "unknown field"}
                    for k in sorted(unknown)
                ]
            )
        if data.get("type") == Criterion.Type.SPANS:
            given = [name for name in SCALE_FIELDS if name in data]
            if given:
                raise ValidationFailed(
                    errors=[
                        {
                            "field": f"criteria[{position}].{name}",
                            "error": "a spans criterion takes labels, not a scale",
                        }
                        for name in given
                    ]
                )
        _verdict_check(project, data, position)
        criterion = Criterion(
            project=project,
            position=position,
            **{k: v for k, v in data.items() if k in CRITERION_FIELDS},
        )
        if not criterion.label:
            criterion.label = criterion.key.replace("_", " ").capitalize()
        if isinstance(criterion.level_labels, list):
            criterion.level_labels = {
                str(criterion.min + i): label for i, label in enumerate(criterion.level_labels)
            }
        try:
            criterion.full_clean(exclude=["project"], validate_unique=False)
        except ValidationError as exc:
            raise _validation_failed(exc, prefix=f"criteria[{position}].") from exc
        if not _valid_level_labels(criterion):
            raise ValidationFailed(
                errors=[
                    {
                        "field": f"criteria[{position}].level_labels",
                        "error": "must map scores within min..max to labels",
                    }
                ]
            )
        if criterion.min >= criterion.max:
            raise ValidationFailed(
                errors=[{"field": f"criteria[{position}].max", "error": "must be above min"}]
            )
        if criterion.key in seen:
            raise ValidationFailed(
                errors=[{"field": f"criteria[{position}].key", "error": "duplicate key"}]
            )
        seen.add(criterion.key)
        _span_labels_unique(criterion, position, span_labels)
        objects.append(criterion)
    return objects


def _span_labels_unique(criterion: Criterion, position: int, seen: set[str]) -> None:
    """A span names its label, not its criterion: two spans criteria of one project must
    not share a label key."""
    for index, label in enumerate(criterion.labels if criterion.is_spans else []):
        if label["key"] in seen:
            raise ValidationFailed(
                errors=[
                    {
                        "field": f"criteria[{position}].labels[{index}].key",
                        "error": f"{label['key']!r} is a label of another spans criterion",
                    }
                ]
            )
        seen.add(label["key"])


def _verdict_check(project: Project, data: dict[str, Any], position: int) -> None:
    """A verdict criterion is good / bad on one response: a rubric project's, with no scale
    of its own to set (the model fixes it at 0..1, nominal)."""
    if data.get("type") != Criterion.Type.VERDICT:
        return
    errors = [
        {
            "field": f"criteria[{position}].{name}",
            "error": "a verdict criterion is good or bad; it takes no " + name,
        }
        for name in SCALE_FIELDS
        if name in data
    ]
    if data.get("level", Criterion.Level.NOMINAL) != Criterion.Level.NOMINAL:
        errors.append(
            {"field": f"criteria[{position}].level", "error": "a verdict criterion is nominal"}
        )
    if project.kind != Project.Kind.RUBRIC:
        errors.append(
            {
                "field": f"criteria[{position}].type",
                "error": f"verdict criteria judge one response: rubric projects only, "
                f"not {project.kind}",
            }
        )
    if errors:
        raise ValidationFailed(errors=errors)


def criteria_add(*, project: Project, criteria: list[dict[str, Any]]) -> list[Criterion]:
    """Validate criteria given as plain data and add them to the project, in order."""
    return Criterion.objects.bulk_create(_criteria_objects(project, criteria))


def _valid_level_labels(criterion: Criterion) -> bool:
    labels = criterion.level_labels
    if not isinstance(labels, dict):
        return False
    for score, label in labels.items():
        if not isinstance(label, str):
            return False
        value = ascii_int(score) if isinstance(score, str) else None
        if value is None:
            return False
        if (
            isinstance(criterion.min, int)
            and isinstance(criterion.max, int)
            and not (criterion.min <= value <= criterion.max)
        ):
            return False
    return True


def preset_apply(
    *, preset: str, fields: dict[str, Any], criteria: list[dict[str, Any]] | None
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """Fill in what a preset (annotation.presets) gives; what the caller set wins."""
    if preset not in PRESETS:
        raise ValidationFailed(
            errors=[{"field": "preset", "error": f"must be one of {', '.join(PRESETS)}"}]
        )
    chosen = PRESETS[preset]
    merged = {**chosen["fields"], **fields}
    if not criteria:
        criteria = [dict(c) for c in chosen["criteria"]]
    return merged, criteria


@transaction.atomic
def project_create(
    *,
    owner: AbstractBaseUser | None,
    criteria: list[dict[str, Any]] | None = None,
    preset: str | None = None,
    **fields: Any,
) -> Project:
    """Create a project with its criteria inline, optionally from a preset. A rubric project
    needs at least one criterion."""
    if preset:
        fields, criteria = preset_apply(preset=preset, fields=fields, criteria=criteria)
    _survey_fill(fields, language=fields.get("ui_language", ""))
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise ValidationFailed(errors=[{"field": k, "error": "unknown field"} for k in unknown])
    project = Project(owner=owner, **fields)
    _group_quotas_check(project)
    try:
        project.full_clean()
    except ValidationError as exc:
        raise _validation_failed(exc) from exc
    criteria = criteria or []
    if project.kind == Project.Kind.RUBRIC and not criteria:
        raise ValidationFailed(
            errors=[{"field": "criteria", "error": "a rubric project needs at least one"}]
        )
    project.save()
    criteria_add(project=project, criteria=criteria)
    return project


@transaction.atomic
def project_update(
    *, project: Project, criteria: list[dict[str, Any]] | None = None, **fields: Any
) -> Project:
    """Change a project's settings; `criteria`, when given, replaces the list. Once judgments
    exist, a change of criteria makes a new rubric version (the old one is archived and
    judgments keep the version they were made under); once someone has consented, a change
    of the consent text makes a new consent version (everyone is asked again)."""
    if "preset" in fields:
        raise ValidationFailed(
            errors=[{"field": "preset", "error": "only applies when creating a project"}]
        )
    _survey_fill(fields, language=fields.get("ui_language", project.ui_language))
    unknown = set(fields) - set(PROJECT_FIELDS)
    if unknown:
        raise ValidationFailed(errors=[{"field": k, "error": "unknown field"} for k in unknown])
    if "kind" in fields and fields["kind"] != project.kind and project.items.exists():
        raise ValidationFailed(
            errors=[{"field": "kind", "error": "cannot change once items are imported"}]
        )
    previous_consent_text = project.consent_text
    previous_survey = project.survey
    for name, value in fields.items():
        setattr(project, name, value)
    _group_quotas_check(project)
    try:
        project.full_clean()
    except ValidationError as exc:
        raise _validation_failed(exc) from exc
    project.save()
    consent_version_bump(project=project, previous_text=previous_consent_text)
    survey_version_bump(project=project, previous=previous_survey)
    if criteria is not None:
        if project.kind == Project.Kind.RUBRIC and not criteria:
            raise ValidationFailed(
                errors=[{"field": "criteria", "error": "a rubric project needs at least one"}]
            )
        previous = rubric_snapshot(project=project)
        project.criteria.all().delete()
        criteria_add(project=project, criteria=criteria)
        rubric_version_bump(project=project, previous=previous)
    return project


def _group_quotas_check(project: Project) -> None:
    """The quotas checked against the survey as it will be, each problem named (a survey
    change that removes a quota's question is refused here too)."""
    errors = group_quota_errors(project.group_quotas, project.survey or [])
    if errors:
        raise ValidationFailed("The group quotas are not valid.", errors=errors)


def _survey_fill(fields: dict[str, Any], *, language: Any) -> None:
    """Check `survey` (or take `survey_preset`'s questions, in the project's `language`) in
    place, defaults filled in."""
    survey_preset = fields.pop("survey_preset", None)
    if "survey" in fields or survey_preset is not None:
        fields["survey"] = survey_clean(
            survey=fields.get("survey"),
            survey_preset=survey_preset,
            language=language if isinstance(language, str) else "",
        )


def rubric_snapshot(*, project: Project) -> list[dict[str, Any]]:
    """The project's criteria as plain data, in order."""
    return [
        {field: getattr(c, field) for field in CRITERION_FIELDS}
        for c in Criterion.objects.filter(project=project).order_by("position", "id")
    ]


def rubric_version_bump(*, project: Project, previous: list[dict[str, Any]]) -> bool:
    """Archive `previous` and start a new rubric version, if the criteria changed while
    judgments exist (before any judgment, the rubric is still a draft). Returns whether
    a new version began."""
    if previous == rubric_snapshot(project=project) or not project.judgments.exists():
        return False
    RubricVersion.objects.create(project=project, version=project.rubric_version, criteria=previous)
    project.rubric_version += 1
    Project.objects.filter(pk=project.pk).update(rubric_version=project.rubric_version)
    return True
