"""The LLM judges page of a project (README, LLM judges): its judges, a form to start a run,
and the runs with their progress (refreshed by htmx while one is unfinished); all through
the services the API calls, scoped as the API scopes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from annotation.console.pages import ConsolePage, console_project
from annotation.errors import NotFound, ValidationFailed
from annotation.models import JudgeRun, Project
from annotation.numbers import ascii_int
from annotation.selectors.judges import judge_of, judge_runs_of, judges_of
from annotation.selectors.reports import report_latest
from annotation.services.judge_runs import judge_run_start

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PAGE = ConsolePage(title="LLM judges", url_name="annotation_project_judges")
TEMPLATE = "admin/annotation/project_judges.html"
#: How many runs the page lists, newest first (the API lists them all).
RECENT_RUNS = 50
POLL_SECONDS = 2
UNFINISHED = (JudgeRun.Status.PENDING, JudgeRun.Status.RUNNING)


def _page_url(project: Project) -> str:
    return reverse(f"admin:{PAGE.url_name}", args=[project.pk])


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _with_interval(entry: dict[str, Any] | None) -> str:
    """A figure and its 95% interval, as '0.71 [0.55, 0.84]'."""
    if not entry or entry.get("value") is None:
        return "—"
    low, high = entry.get("ci") or (None, None)
    if low is None:
        return _number(entry["value"])
    return f"{_number(entry['value'])} [{_number(low)}, {_number(high)}]"


def _routing(entry: dict[str, Any], key: str) -> str:
    routing = entry.get("routing")
    if not routing:
        return "—"
    if key == "routed":
        return f"{routing['routed']} of {routing['judged']}"
    agreement = routing["spot_check_agreement"]
    if agreement is None:
        return f"n/a ({routing['spot_checked']} settled; see the figures above)"
    if agreement["value"] is None:
        return f"— ({routing['spot_checked']} settled, none checked yet)"
    return (
        f"{_number(agreement['value'])} over {agreement['n']} ({routing['spot_checked']} settled)"
    )


#: The rows of the measures table (README, LLM judges: Measures of a judge), one column a judge.
MEASURES: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Tasks compared with the human majority", lambda e: str(e.get("n", 0))),
    ("Agreement with the human majority", lambda e: _number(e.get("percent_agreement"))),
    ("Cohen's kappa [95% interval]", lambda e: _with_interval(e.get("cohen_kappa"))),
    ("Kendall's tau, leaderboards [95% interval]", lambda e: _with_interval(e.get("kendall_tau"))),
    (
        "Position bias: first shown wins [95% interval]",
        lambda e: _with_interval(e.get("position_bias")) + _chance(e.get("position_bias")),
    ),
    ("Swap consistency", lambda e: _number(e.get("swap_consistency"))),
    ("Tasks routed to people", lambda e: _routing(e, "routed")),
    ("Spot checks agreeing with it", lambda e: _routing(e, "spot_checks")),
)

#: Rows shown only when some judge has the field (a ranking project's).
OPTIONAL_MEASURES: tuple[tuple[str, str], ...] = (
    ("Kendall's tau per item, against people's mean places [95% interval]", "item_kendall_tau"),
)


def _chance(bias: dict[str, Any] | None) -> str:
    """A ranking judge's position bias is read against 1/n, not 0.5."""
    if not bias or bias.get("expected") is None:
        return ""
    return f" (chance {_number(bias['expected'])})"


def _measure_rows(judges: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    rows = [(label, [cell(entry) for entry in judges]) for label, cell in MEASURES]
    rows += [
        (label, [_with_interval(entry.get(field)) for entry in judges])
        for label, field in OPTIONAL_MEASURES
        if any(field in entry for entry in judges)
    ]
    return rows


def _measures(project: Project) -> dict[str, Any]:
    """The judges' measures from the newest report, side by side (one query)."""
    report = report_latest(project=project)
    judges = (report.report.get("model_judges") or []) if report is not None else []
    return {
        "measured_at": report.computed_at if report is not None else None,
        "measured_judges": [entry.get("judge") or entry["annotator"] for entry in judges],
        "measures": _measure_rows(judges),
        "criteria_measures": _criteria_rows(judges),
    }


#: The rows of each criterion (label, field): Cohen's kappa for a pairwise or verdict
#: criterion, kappa and correlations for a scored rubric criterion; a row is shown when some
#: judge has the field.
CRITERION_MEASURES: tuple[tuple[str, str], ...] = (
    ("Cohen's kappa on", "cohen_kappa"),
    ("Quadratic-weighted kappa on", "quadratic_kappa"),
    ("Spearman's rho on", "spearman"),
    ("Pearson's r on", "pearson"),
    ("Kendall's tau, leaderboards by mean, on", "kendall_tau"),
)


def _criteria_rows(judges: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    figures = [entry.get("criteria") or {} for entry in judges]
    keys = sorted({key for criteria in figures for key in criteria})
    return [
        (label, key, [_with_interval(criteria.get(key, {}).get(field)) for criteria in figures])
        for key in keys
        for label, field in CRITERION_MEASURES
        if any(field in criteria.get(key, {}) for criteria in figures)
    ]


def _context(project_admin: ModelAdmin, request: HttpRequest, project: Project) -> dict[str, Any]:
    runs = list(judge_runs_of(project=project)[:RECENT_RUNS])
    return {
        **project_admin.admin_site.each_context(request),
        "title": f"LLM judges of {project.name}",
        "project": project,
        "opts": Project._meta,
        "judges": list(judges_of(project=project).select_related("endpoint")),
        "runs": runs,
        "runs_unfinished": any(run.status in UNFINISHED for run in runs),
        "runs_url": reverse("admin:annotation_project_judge_runs", args=[project.pk]),
        "poll_seconds": POLL_SECONDS,
        **_measures(project),
    }


def judges_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_GET
    @vary_on_headers("HX-Request")
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        return TemplateResponse(request, TEMPLATE, _context(project_admin, request, project))

    return view


def runs_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """The runs table alone: what the page polls while a run is unfinished."""

    @require_GET
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        context = _context(project_admin, request, project)
        return TemplateResponse(request, f"{TEMPLATE}#judge-runs", context)

    return view


def run_start_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """Start a run from the page's form; a refused value is told and nothing is started."""

    @require_POST
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        form = request.POST
        try:
            judge = judge_of(project=project, judge_id=ascii_int(form.get("judge", "")) or 0)
            max_calls = form.get("max_calls", "").strip()
            run = judge_run_start(
                judge=judge,
                tasks="unjudged" if form.get("tasks") == "unjudged" else "all",
                swap=form.get("swap") == "on",
                samples=ascii_int(form.get("samples", "1").strip()) or 0,
                max_calls=(ascii_int(max_calls) or 0) if max_calls else None,
                created_by=request.user,
            )
        except (ValidationFailed, NotFound) as exc:
            messages.error(request, exc.detail)
        else:
            messages.success(request, f"Run {run.pk} of {judge.name} started on {run.total} tasks.")
        return HttpResponseRedirect(_page_url(project))

    return view


def urlpatterns(project_admin: ModelAdmin) -> list[Any]:
    def route(pattern: str, make: Callable[..., Any], name: str) -> Any:
        return path(pattern, project_admin.admin_site.admin_view(make(project_admin)), name=name)

    return [
        route("<int:project_id>/judges/", judges_view, PAGE.url_name),
        route("<int:project_id>/judges/runs/", runs_view, "annotation_project_judge_runs"),
        route(
            "<int:project_id>/judges/runs/new/", run_start_view, "annotation_project_judge_run_new"
        ),
    ]
