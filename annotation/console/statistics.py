"""A project's statistics (README "Researchers"): agreement, leaderboard and agreement over time, as
a page and as the block the project page fetches by htmx once it has loaded. Reading it is
the API's read path (report_current): without a worker a stale report is computed then, so
the project page itself never waits for it; "Refresh statistics" forces a recomputation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from annotation.charts import agreement_over_time_svg, leaderboard_svg
from annotation.console.pages import ConsolePage, console_project
from annotation.models import Project
from annotation.selectors.consistency import consistency_rows
from annotation.selectors.quality import (
    annotator_quality,
    project_quality_columns,
    quality_columns,
    quality_sort,
)
from annotation.selectors.reports import ReportState, report_state
from annotation.services.leaderboard_options import LeaderboardOptions, leaderboard_with_options
from annotation.services.reports import (
    CONSISTENCY_LISTED,
    DEFAULT_KIND,
    ReportBusy,
    report_current,
    report_refresh_request,
)

PAGE = ConsolePage(title="Statistics", url_name="annotation_project_statistics")

METRICS = (
    "krippendorff_alpha",
    "fleiss_kappa",
    "cohen_kappa_mean",
    "gwet_ac1",
    "percent_agreement",
)


def urlpatterns(project_admin: Any) -> list[Any]:
    return [
        path(
            "<int:project_id>/statistics/annotators/",
            project_admin.admin_site.admin_view(quality_view(project_admin)),
            name="annotation_project_quality",
        ),
        path(
            "<int:project_id>/statistics/consistency/",
            project_admin.admin_site.admin_view(consistency_view(project_admin)),
            name="annotation_project_consistency",
        ),
        path(
            "<int:project_id>/statistics/",
            project_admin.admin_site.admin_view(statistics_view(project_admin)),
            name=PAGE.url_name,
        ),
        path(
            "<int:project_id>/statistics/styled/",
            project_admin.admin_site.admin_view(styled_view(project_admin)),
            name="annotation_project_styled_leaderboard",
        ),
        path(
            "<int:project_id>/statistics/refresh/",
            project_admin.admin_site.admin_view(refresh_view(project_admin)),
            name="annotation_project_statistics_refresh",
        ),
    ]


def statistics_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """The statistics block of a project page (htmx polls it; a full page otherwise)."""

    @vary_on_headers("HX-Request")
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        return _render(request, project_admin, project, report_current(project=project))

    return view


def styled_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """The style-controlled leaderboard, fetched by htmx once the block is shown: its first fit
    after a report can take seconds on a large project, and the rest of the block need not
    wait for it."""

    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        return HttpResponse(styled_leaderboard_html(project, report_state(project=project)))

    return view


def refresh_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """The "Refresh statistics" button: a forced recomputation, queued or done here."""

    @require_POST
    @vary_on_headers("HX-Request")
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        if not project_admin.has_change_permission(request, project):
            return HttpResponseForbidden("You may read this project but not refresh it.")
        try:
            computed = report_refresh_request(project=project)
        except ReportBusy:
            notice = "The statistics are being computed right now: look again in a moment."
        else:
            notice = (
                "Recomputation queued: a worker computes the statistics now; "
                "reload this block in a moment to see them."
                if computed is None
                else f"Statistics recomputed over {computed.n_judgments} judgments."
                if not computed.failed
                else "The recomputation failed: its error is shown below."
            )
        if not request.htmx:
            messages.info(request, notice)
            return HttpResponseRedirect(
                reverse("admin:annotation_project_change", args=[project.pk])
            )
        state = report_current(project=project)
        return _render(request, project_admin, project, state, notice=notice)

    return view


def consistency_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """The consistency details: cyclic items and inconsistent annotators."""

    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        state = report_current(project=project)
        context = {
            **project_admin.admin_site.each_context(request),
            "title": f"Consistency of {project.name}",
            "project": project,
            "opts": Project._meta,
            "state": state,
            "listed": CONSISTENCY_LISTED,
            **consistency_rows(project=project, report=state.report),
        }
        return TemplateResponse(request, "admin/annotation/project_consistency.html", context)

    return view


def quality_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """The annotator quality table, sorted and paged on the database."""

    @vary_on_headers("HX-Request")
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        columns = quality_columns(request.GET.getlist("cols"), project=project)
        sort = quality_sort(request.GET.get("sort"))
        page = Paginator(annotator_quality(project=project, sort=sort), QUALITY_PER_PAGE).get_page(
            request.GET.get("page")
        )
        chosen = [c.key for c in columns]
        context = {
            **project_admin.admin_site.each_context(request),
            "title": f"Annotator quality in {project.name}",
            "project": project,
            "opts": Project._meta,
            "all_columns": [(c, c.key in chosen) for c in project_quality_columns(project)],
            "headers": [
                {
                    "column": column,
                    "sorted": sort.lstrip("-") == column.key,
                    "descending": sort.startswith("-"),
                    "query": _query(chosen, _next_sort(sort, column.key)),
                }
                for column in columns
            ],
            "annotator_query": _query(chosen, _next_sort(sort, "annotator")),
            "sort": sort,
            "page": page,
            "page_queries": {
                "previous": _query(chosen, sort, page.previous_page_number())
                if page.has_previous()
                else "",
                "next": _query(chosen, sort, page.next_page_number()) if page.has_next() else "",
            },
            "rows": [
                (stats, [_quality_cell(stats, column.key) for column in columns])
                for stats in page.object_list
            ],
        }
        template = "admin/annotation/annotator_quality.html"
        if request.htmx:
            template += "#quality"
        return TemplateResponse(request, template, context)

    return view


def _render(
    request: HttpRequest,
    project_admin: Any,
    project: Project,
    state: ReportState,
    *,
    notice: str = "",
) -> HttpResponse:
    context = {
        **project_admin.admin_site.each_context(request),
        "title": f"Statistics of {project.name}",
        "project": project,
        "opts": Project._meta,
        "notice": notice,
        "can_refresh": project_admin.has_change_permission(request, project),
        "agreement": agreement_html(state),
        "leaderboard": leaderboard_html(state) if project.is_pairwise or project.is_ranking else "",
        "history": history_html(project),
        "details": (
            (state.report.report or {}).get("consistency_details") if state.report else None
        ),
    }
    template = "admin/annotation/project_statistics.html"
    if request.htmx:
        template += "#statistics-block"
    return TemplateResponse(request, template, context)


def placeholder_html(project: Project) -> SafeString:
    """What the project page holds until htmx has fetched the block: a spinner."""
    return format_html(
        '<link rel="stylesheet" href="{}">'
        '<div class="statistics-block" hx-get="{}" hx-trigger="load" hx-swap="outerHTML">'
        '<p class="statistics-loading" role="status"><span class="statistics-spinner"></span>'
        "Loading the statistics (computed now if votes came in since the last report)…</p>"
        "</div>",
        static("css/console-statistics.css"),
        reverse(f"admin:{PAGE.url_name}", args=[project.pk]),
    )


def agreement_html(state: ReportState) -> SafeString:
    """The agreement table with 95% intervals; a failed computation says why above the
    last good figures."""
    failure = state.failure
    failed = (
        format_html(
            '<p class="errornote">The last computation ({}) failed: {}. {}</p>',
            f"{failure.computed_at:%Y-%m-%d %H:%M:%S}",
            failure.error,
            "The figures below are the last good ones." if state.report else "",
        )
        if failure
        else ""
    )
    report = state.report
    if report is None:
        return format_html(
            "{}{}",
            failed,
            "No report yet: there are no judgments, or a worker has not computed it yet.",
        )
    criteria = report.report.get("criteria", {})
    # A ranking project's overall agreement is Kendall's W and alpha over ranks.
    metrics = (
        ("kendall_w", "krippendorff_alpha")
        if "kendall_w" in criteria.get("overall", {})
        else METRICS
    )
    rows = []
    for name, entry in criteria.items():
        cells = []
        for metric in metrics:
            figure = entry.get(metric) or {}
            value, ci = figure.get("value"), figure.get("ci") or [None, None]
            cells.append(
                "—"
                if value is None
                else (
                    f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"
                    if ci[0] is not None
                    else f"{value:.3f}"
                )
            )
        rows.append((name, *cells, entry.get("n_items"), entry.get("n_annotators")))
    header = format_html(
        "{}<p>Computed {} in {} s over {} judgments{} (people's judgments).</p>",
        failed,
        f"{report.computed_at:%Y-%m-%d %H:%M:%S}",
        f"{report.duration_seconds:.2f}",
        report.n_judgments,
        " (stale: newer votes exist)" if state.stale else "",
    )
    reference = report.report.get("reference_agreement")
    if reference and reference.get("value") is not None:
        low, high = reference["ci"]
        header += format_html(
            "<p>Agreement with the items' original labels (reference): {} [{}, {}] over {} "
            "decided tasks.</p>",
            f"{reference['value']:.3f}",
            "—" if low is None else f"{low:.2f}",
            "—" if high is None else f"{high:.2f}",
            reference["n"],
        )
    leaked = report.report.get("identity_leak_votes")
    if leaked:
        header += format_html(
            "<p>{} votes on answers that named their own model (identity leaks) are left out "
            "of the leaderboard and the exports.</p>",
            leaked,
        )
    table = format_html(
        '<table class="statistics-agreement"><thead><tr><th>criterion</th>{}<th>items</th>'
        "<th>annotators</th></tr></thead><tbody>{}</tbody></table>",
        format_html_join("", "<th>{}</th>", ((m.replace("_", " "),) for m in metrics)),
        format_html_join("", "<tr>" + "<td>{}</td>" * (len(metrics) + 3) + "</tr>", rows),
    )
    bias = report.report.get("position_bias")
    if bias and bias.get("first_shown_ranked_first") is not None:
        table += format_html(
            "<p>Position bias: the response shown first was ranked first in {} of {} "
            "rankings (blind to the order: {}).</p>",
            f"{bias['first_shown_ranked_first']:.0%}",
            bias["n_rankings"],
            f"{bias['expected']:.0%}",
        )
    return header + table


def leaderboard_html(state: ReportState) -> SafeString:
    board = (state.report.leaderboard or {}) if state.report else {}
    if not board.get("results"):
        return mark_safe("—")
    return mark_safe(leaderboard_svg(board["results"]))


def styled_leaderboard_html(project: Project, state: ReportState) -> SafeString:
    """The style-controlled leaderboard of the same votes (fitted once per report) and its
    style coefficients, shown beside the plain one."""
    if not project.is_pairwise:
        return mark_safe("")
    if state.report is None or not (state.report.leaderboard or {}).get("results"):
        return mark_safe("—")
    board = leaderboard_with_options(
        project=project,
        report=state.report,
        annotator_kind=DEFAULT_KIND,
        exclude_flagged=True,
        options=LeaderboardOptions(style_control=True),
    ).figures
    coefficients = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>[{}, {}]</td></tr>",
        (
            (
                name.replace("_", " "),
                f"{c['value']:+.3f}",
                f"{c['ci'][0]:+.3f}",
                f"{c['ci'][1]:+.3f}",
            )
            for name, c in board["style_coefficients"].items()
            if c["ci"][0] is not None
        ),
    )
    return format_html(
        '{}<table class="statistics-style"><caption>Style coefficients (log-odds per standard '
        "deviation of the difference; positive: the longer or richer answer is preferred)"
        "</caption><thead><tr><th>feature</th><th>coefficient</th><th>95% interval</th></tr>"
        "</thead><tbody>{}</tbody></table>",
        mark_safe(
            leaderboard_svg(board["results"], "Style-controlled leaderboard with 95% intervals")
        ),
        coefficients,
    )


def history_html(project: Project) -> SafeString:
    key = (
        "overall"
        if project.is_pairwise or project.is_ranking
        else (project.criteria.values_list("key", flat=True).first() or "")
    )
    points = [
        (
            report.computed_at,
            (report.report.get("criteria", {}).get(key) or {})
            .get("krippendorff_alpha", {})
            .get("value"),
        )
        for report in project.reports.filter(failed=False).order_by("computed_at")[:500]
    ]
    return mark_safe(agreement_over_time_svg(points) or "—")


QUALITY_PER_PAGE = 50


def _next_sort(sort: str, key: str) -> str:
    """Clicking a header sorts by it, figures largest first; clicking it again turns it."""
    if sort.lstrip("-") != key:
        return key if key == "annotator" else "-" + key
    return key if sort.startswith("-") else "-" + key


def _query(columns: list[str], sort: str, page: int | None = None) -> str:
    params: list[tuple[str, Any]] = [("sort", sort), *(("cols", key) for key in columns)]
    if page is not None:
        params.append(("page", page))
    return urlencode(params)


def _percent(value: float | None, of: int | None = None) -> str:
    if value is None:
        return "—"
    return f"{value:.0%}" if of is None else f"{value:.0%} of {of}"


def _quality_cell(stats: Any, key: str) -> str:
    """One shown figure of an annotator's row, as the quality admin page writes it."""
    if key == "judgments":
        return str(stats.judgments)
    if key == "gold":
        return _percent(stats.gold_accuracy, stats.gold_judgments)
    if key == "left":
        return _percent(stats.left_rate)
    if key == "fast":
        return _percent(stats.fast_share)
    if key == "seconds":
        return f"{stats.sort_seconds:.1f}" if stats.sort_seconds is not None else "—"
    if key == "flags":
        return ", ".join(stats.flags) or "—"
    if key == "blocked":
        return "yes" if stats.is_blocked else "no"
    if key == "qualified":
        return {True: "yes", False: "no", None: "—"}[stats.qualified]
    if key == "blocked_by":
        return str(stats.blocked_by) if stats.blocked_by else "—"
    return f"{stats.updated_at:%Y-%m-%d %H:%M}"
