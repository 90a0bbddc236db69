"""LLM judges of a project (README, LLM judges): create, change and delete them, and render
the prompt a judge would send for a task (the admin's preview, the runs' calls).

A judge's verdicts are judgments of a model annotator named after the judge (source
`judge`, its public id the judge's name), so exports and reports tell them from people's by
`annotator_kind` and name them as the judge is named."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from annotation.errors import JudgeBusy, ValidationFailed
from annotation.judge_prompts import (
    DEFAULT_TEMPLATES,
    PAIRWISE,
    CriterionText,
    TemplateInvalid,
    template_check,
    template_render,
)
from annotation.models import (
    Annotator,
    Criterion,
    Judge,
    JudgeRun,
    Judgment,
    ModelEndpoint,
    Project,
    Task,
)
from annotation.services.endpoints import endpoint_fields_clean, params_object_clean

#: The params a judge takes: the call's temperature and max_tokens (over the endpoint's),
#: and how hard its runs may press the endpoint.
PARAMS = ("temperature", "max_tokens", "concurrency", "calls_per_minute")
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32


def _refuse(field_name: str, error: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field_name}: {error}.", errors=[{"field": field_name, "error": error}]
    )


def _clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _refuse("name", "must be a non-empty string")
    if len(value.strip()) > 100:
        raise _refuse("name", "at most 100 characters")
    return value.strip()


def _int_in(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(field_name, f"an integer from {low} to {high}")
    return value


def _clean_params(value: Any) -> dict[str, Any]:
    """temperature 0 to 2, max_tokens 1 to 1,000,000, concurrency 1 to 32 calls at once,
    calls_per_minute 1 to 100,000; nothing else."""
    value = params_object_clean(value, PARAMS)
    # The call's own params are checked as an endpoint's are.
    call = {name: value[name] for name in ("temperature", "max_tokens") if name in value}
    params: dict[str, Any] = endpoint_fields_clean({"params": call})["params"]
    bounds = {"concurrency": (1, MAX_CONCURRENCY), "calls_per_minute": (1, 100_000)}
    for name, (low, high) in bounds.items():
        if value.get(name) is not None:
            params[name] = _int_in(value[name], f"params.{name}", low, high)
    return params


def _clean_endpoint(project: Project, value: Any) -> ModelEndpoint:
    if isinstance(value, ModelEndpoint):
        value = value.pk
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse("endpoint", "must be the id of an endpoint of this project")
    endpoint = ModelEndpoint.objects.filter(project=project, pk=value).first()
    if endpoint is None:
        raise _refuse("endpoint", f"no endpoint {value} in this project")
    return endpoint


def judge_kind(project: Project) -> str:
    """The kind of prompt a project's judges use: pairwise for imported pairs and the
    arena's live pairs alike, else the project's kind."""
    return PAIRWISE if project.is_pairwise else project.kind


def _clean_template(project: Project, value: Any) -> str:
    try:
        return template_check(value, kind=judge_kind(project))
    except TemplateInvalid as exc:
        raise _refuse("template", str(exc)) from None


def judge_fields_clean(*, project: Project, changes: dict[str, Any]) -> dict[str, Any]:
    """The given fields checked as create and update check them (a 400 naming the first
    bad one), nothing saved: the console's form reports them on their fields."""
    cleaners = {
        "name": _clean_name,
        "endpoint": lambda value: _clean_endpoint(project, value),
        "template": lambda value: _clean_template(project, value),
        "params": _clean_params,
    }
    unknown = sorted(set(changes) - set(cleaners))
    if unknown:
        raise _refuse(unknown[0], "unknown field")
    return {name: cleaners[name](value) for name, value in changes.items()}


def judge_default_template(*, project: Project) -> str:
    """The template a judge of this project starts with."""
    return DEFAULT_TEMPLATES[judge_kind(project)]


def _judge_annotator(name: str) -> Annotator:
    """The model annotator whose judgments are the verdicts of judges called `name`."""
    annotator, _ = Annotator.objects.get_or_create(
        source=Annotator.Source.JUDGE,
        external_id=name,
        defaults={"kind": Annotator.Kind.MODEL},
    )
    return annotator


def _save(judge: Judge) -> Judge:
    """Save, turning a name already used in the project into a 400 naming `name`."""
    taken = Judge.objects.filter(project_id=judge.project_id, name=judge.name).exclude(pk=judge.pk)
    if taken.exists():
        raise _refuse("name", "already used by another judge of this project")
    try:
        with transaction.atomic():
            judge.save()
    except IntegrityError as exc:
        raise _refuse("name", "already used by another judge of this project") from exc
    return judge


def judge_create(
    *,
    project: Project,
    name: Any,
    endpoint: Any,
    template: Any = None,
    params: Any = None,
) -> Judge:
    """A new judge of `project`; without a template it takes the default of the kind."""
    clean_name = _clean_name(name)
    judge = Judge(
        project=project,
        name=clean_name,
        endpoint=_clean_endpoint(project, endpoint),
        template=_clean_template(
            project, judge_default_template(project=project) if template is None else template
        ),
        params=_clean_params(params),
    )
    with transaction.atomic():
        judge.annotator = _judge_annotator(clean_name)
        return _save(judge)


def judge_update(*, judge: Judge, **changes: Any) -> Judge:
    """Change the given fields. A new template or params bumps `template_version` (verdicts
    record the version they were made under); a new name renames the judge's verdicts in
    this project with it."""
    unknown = sorted(set(changes) - {"name", "endpoint", "template", "params"})
    if unknown:
        raise _refuse(unknown[0], "unknown field")
    project = judge.project
    if "endpoint" in changes:
        judge.endpoint = _clean_endpoint(project, changes["endpoint"])
    bumped = False
    if "template" in changes:
        template = _clean_template(project, changes["template"])
        bumped |= template != judge.template
        judge.template = template
    if "params" in changes:
        params = _clean_params(changes["params"])
        bumped |= params != judge.params
        judge.params = params
    if bumped:
        judge.template_version += 1
    with transaction.atomic():
        if "name" in changes:
            name = _clean_name(changes["name"])
            if name != judge.name:
                judge.name = name
                _rename_verdicts(judge)
        return _save(judge)


def _rename_verdicts(judge: Judge) -> None:
    """Move the judge's judgments in its project to the annotator of its new name."""
    renamed = _judge_annotator(judge.name)
    if Judgment.objects.filter(project_id=judge.project_id, annotator=renamed).exists():
        raise _refuse("name", "already names judgments in this project")
    Judgment.objects.filter(project_id=judge.project_id, annotator_id=judge.annotator_id).update(
        annotator=renamed
    )
    judge.annotator = renamed


def judge_run_unfinished(*, judge: Judge) -> tuple[int, str] | None:
    """The id and status of the judge's first run pending or running, if any: while there
    is one the judge cannot be deleted."""
    unfinished = (JudgeRun.Status.PENDING, JudgeRun.Status.RUNNING)
    runs = judge.runs.filter(status__in=unfinished).order_by("pk")
    return runs.values_list("pk", "status").first()


def judge_delete(*, judge: Judge) -> None:
    """Delete the judge, its runs and its verdicts (its judgments in the project too). A
    judge with a run pending or running is refused (JudgeBusy, a 409): its worker would go
    on writing judgments of the deleted judge. The judge's row is locked, so no run starts
    meanwhile (judge_run_start locks it too)."""
    with transaction.atomic():
        Judge.objects.select_for_update().filter(pk=judge.pk).first()
        unfinished = judge_run_unfinished(judge=judge)
        if unfinished is not None:
            run_id, status = unfinished
            raise JudgeBusy(
                f"Run {run_id} of this judge is {status}: delete the judge once it has ended.",
                errors=[{"field": "judge", "error": f"run {run_id} is {status}"}],
            )
        Judgment.objects.filter(
            project_id=judge.project_id, annotator_id=judge.annotator_id
        ).delete()
        judge.delete()


# ---------------------------------------------------------------- prompts


def criteria_texts(*, project: Project) -> list[CriterionText]:
    """The project's criteria as prompts describe them."""
    return [
        CriterionText(
            key=c.key,
            label=c.label,
            description=c.description,
            type=c.type,
            min=c.min,
            max=c.max,
            levels=tuple(c.levels()) if c.type == Criterion.Type.SCORE else (),
        )
        for c in project.criteria.order_by("position", "id")
    ]


def task_responses_in_order(task: Task, *, swapped: bool) -> list[Any]:
    """The responses of a task in the order a prompt shows them: a pair as a, b (b, a when
    swapped); a ranking item's by position (reversed when swapped); a rubric task's one."""
    if task.project.kind == Project.Kind.RANKING:
        responses = list(task.item.responses.all())
    else:
        responses = [r for r in (task.response_a, task.response_b) if r is not None]
    return responses[::-1] if swapped else responses


def judge_prompt(
    *,
    judge: Judge,
    task: Task,
    swapped: bool = False,
    criteria: list[CriterionText] | None = None,
) -> str:
    """The prompt `judge` sends for `task`, its responses in the given order."""
    project = judge.project
    responses = task_responses_in_order(task, swapped=swapped)
    return template_render(
        judge.template,
        kind=judge_kind(project),
        prompt=task.item.prompt,
        responses=[r.text for r in responses],
        criteria=criteria_texts(project=project) if criteria is None else criteria,
    )
