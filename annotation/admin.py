"""The researcher console. Each action calls a service; nothing here decides domain rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from annotation.charts import agreement_over_time_svg, leaderboard_svg
from annotation.errors import ImportRejected
from annotation.models import (
    Annotator,
    AnnotatorStats,
    Assignment,
    Criterion,
    Item,
    Judgment,
    Project,
    Response,
    Task,
)
from annotation.presets import PRESET_CHOICES
from annotation.selectors.progress import progress_context
from annotation.selectors.projects import projects_managed_by
from annotation.services.importing import filetype_from_name, items_import
from annotation.services.projects import (
    PROJECT_FIELDS,
    criteria_add,
    preset_apply,
    rubric_snapshot,
    rubric_version_bump,
)
from annotation.services.quality import annotator_block
from annotation.services.reports import report_is_stale, report_latest

METRICS = (
    "krippendorff_alpha",
    "fleiss_kappa",
    "cohen_kappa_mean",
    "gwet_ac1",
    "percent_agreement",
)


class CriterionInline(admin.TabularInline):
    model = Criterion
    extra = 0
    fields = ["position", "key", "label", "description", "min", "max", "level", "level_labels"]


class ProjectAdminForm(forms.ModelForm):
    preset = forms.ChoiceField(
        choices=[("", "— none: set everything by hand —"), *PRESET_CHOICES],
        required=False,
        help_text="On a new project: fills in the kind, the protocol and the criteria "
        "(anything you set yourself wins).",
    )

    class Meta:
        model = Project
        fields = [*PROJECT_FIELDS, "owner", "researchers", "members"]


class ItemImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL, JSON or CSV in the import format (README).")


class ManagedProjectMixin:
    """Researchers see only the projects they own or that are shared with them."""

    project_path = "project"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return queryset
        managed = projects_managed_by(user=request.user)
        if self.project_path == "":
            return queryset.filter(pk__in=managed.values("pk"))
        return queryset.filter(**{f"{self.project_path}__in": managed.values("pk")})


@admin.register(Project)
class ProjectAdmin(ManagedProjectMixin, admin.ModelAdmin):
    project_path = ""
    list_display = ["name", "slug", "kind", "status", "access", "annotations_per_task", "owner"]
    list_filter = ["kind", "status", "access"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [CriterionInline]
    form = ProjectAdminForm
    filter_horizontal = ["researchers"]
    # A crowd project has thousands of annotators: members are searched for, not listed.
    autocomplete_fields = ["members"]
    readonly_fields = [
        "progress",
        "import_link",
        "agreement",
        "leaderboard",
        "agreement_history",
        "rubric_version",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "slug", "kind", "status", "access", "instructions"]}),
        ("Progress", {"fields": ["progress", "import_link"]}),
        ("Statistics", {"fields": ["agreement", "leaderboard", "agreement_history"]}),
        (
            "Protocol",
            {
                "fields": [
                    "annotations_per_task",
                    "lease_seconds",
                    "allow_tie",
                    "allow_both_bad",
                    "strength_scale",
                    "rationale",
                    "gold_rate",
                    "max_tasks_per_annotator",
                ]
            },
        ),
        (
            "Quality thresholds",
            {
                "fields": [
                    "min_seconds_per_task",
                    "flag_min_judgments",
                    "flag_fast_share",
                    "flag_side_rate",
                    "flag_min_gold_accuracy",
                ]
            },
        ),
        (
            "Crowd study",
            {
                "fields": [
                    "completion_code",
                    "completion_url",
                    "qualification_tasks",
                    "qualification_min_accuracy",
                ]
            },
        ),
        ("People", {"fields": ["owner", "researchers", "members"]}),
        ("Dates", {"fields": ["rubric_version", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Progress")
    def progress(self, project: Project) -> str:
        if not project.pk:
            return "—"
        return render_to_string("annotation/partials/progress.html", progress_context(project))

    @admin.display(description="Agreement (95% intervals)")
    def agreement(self, project: Project) -> str:
        report = report_latest(project=project) if project.pk else None
        if report is None:
            return "No report yet: it is computed by a worker as judgments arrive."
        rows = []
        for name, entry in report.report.get("criteria", {}).items():
            cells = []
            for metric in METRICS:
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
        stale = report_is_stale(project=project, report=report)
        header = format_html(
            "<p>Computed {} in {} s over {} judgments{}.</p>",
            f"{report.computed_at:%Y-%m-%d %H:%M:%S}",
            f"{report.duration_seconds:.2f}",
            report.n_judgments,
            " (stale: newer votes exist)" if stale else "",
        )
        table = format_html(
            "<table><thead><tr><th>criterion</th>{}<th>items</th><th>annotators</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            format_html_join("", "<th>{}</th>", ((m.replace("_", " "),) for m in METRICS)),
            format_html_join("", "<tr>" + "<td>{}</td>" * (len(METRICS) + 3) + "</tr>", rows),
        )
        return header + table

    @admin.display(description="Leaderboard (Bradley-Terry, 95% bootstrap intervals)")
    def leaderboard(self, project: Project) -> str:
        report = report_latest(project=project) if project.pk else None
        board = (report.leaderboard or {}) if report else {}
        if not board.get("results"):
            return "—"
        return mark_safe(leaderboard_svg(board["results"]))

    @admin.display(description="Agreement over time (Krippendorff's alpha)")
    def agreement_history(self, project: Project) -> str:
        if not project.pk:
            return "—"
        key = (
            "overall"
            if project.is_pairwise
            else (project.criteria.values_list("key", flat=True).first() or "")
        )
        points = [
            (
                report.computed_at,
                (report.report.get("criteria", {}).get(key) or {})
                .get("krippendorff_alpha", {})
                .get("value"),
            )
            for report in project.reports.order_by("computed_at")[:500]
        ]
        return mark_safe(agreement_over_time_svg(points)) or "—"

    @admin.display(description="Import items")
    def import_link(self, project: Project) -> str:
        if not project.pk:
            return "Save the project first."
        url = reverse("admin:annotation_project_import", args=[project.pk])
        preview = reverse("annotation:preview", args=[project.slug])
        return format_html(
            '<a class="button" href="{}">Upload a file of items</a> '
            '<a class="button" href="{}">Preview a task as annotators see it</a>',
            url,
            preview,
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":  # researchers are staff; annotators' accounts are not
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "researchers":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True)
        elif db_field.name == "members":  # each shown by its account's name
            kwargs["queryset"] = Annotator.objects.select_related("user")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Project | None = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return [("Start from a preset", {"fields": ["preset"]}), *fieldsets]
        return fieldsets

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        if not change and obj.owner_id is None:
            obj.owner = request.user
        preset = form.cleaned_data.get("preset")
        if not change and preset:
            chosen = {n: getattr(obj, n) for n in form.changed_data if n in PROJECT_FIELDS}
            fields, _ = preset_apply(preset=preset, fields=chosen, criteria=None)
            for name, value in fields.items():
                setattr(obj, name, value)
        self._rubric_before = rubric_snapshot(project=obj) if change else []
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        project = form.instance
        preset = form.cleaned_data.get("preset")
        if not change and preset and not project.criteria.exists():
            _, criteria = preset_apply(preset=preset, fields={}, criteria=None)
            criteria_add(project=project, criteria=criteria)
        if change and rubric_version_bump(project=project, previous=self._rubric_before):
            messages.info(
                request,
                f"The criteria changed after judgments were made: this is rubric version "
                f"{project.rubric_version}; earlier judgments keep their version.",
            )

    def get_urls(self) -> list:
        return [
            path(
                "<int:project_id>/import/",
                self.admin_site.admin_view(self.import_view),
                name="annotation_project_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest, project_id: int) -> HttpResponse:
        project = get_object_or_404(self.get_queryset(request), pk=project_id)
        if not self.has_change_permission(request, project):
            return HttpResponseRedirect(reverse("admin:index"))
        form = ItemImportForm(request.POST or None, request.FILES or None)
        errors: list[dict[str, Any]] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = items_import(
                    project=project,
                    content=upload.read(),
                    filetype=filetype_from_name(upload.name),
                )
            except ImportRejected as exc:
                errors = exc.errors
                messages.error(request, f"{exc.detail} ({len(errors)} bad line(s) listed below)")
            else:
                messages.success(request, result.summary())
                return HttpResponseRedirect(
                    reverse("admin:annotation_project_change", args=[project.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import items into {project.name}",
            "project": project,
            "form": form,
            "errors": errors,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/annotation/project_import.html", context)


@admin.register(Criterion)
class CriterionAdmin(ManagedProjectMixin, admin.ModelAdmin):
    list_display = ["key", "label", "project", "min", "max", "level"]
    list_filter = ["project"]


class ResponseInline(admin.TabularInline):
    model = Response
    extra = 0
    fields = ["external_id", "model", "text", "position"]


@admin.register(Item)
class ItemAdmin(ManagedProjectMixin, admin.ModelAdmin):
    list_display = ["external_id", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id"]
    inlines = [ResponseInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["external_id", "model", "item"]
    search_fields = ["item__external_id", "model"]
    list_select_related = ["item"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            item__project__in=projects_managed_by(user=request.user).values("pk")
        )


@admin.register(Task)
class TaskAdmin(ManagedProjectMixin, admin.ModelAdmin):
    list_display = ["id", "project", "item", "is_gold", "judgment_count"]
    list_filter = ["project", "is_gold"]
    raw_id_fields = ["item", "response_a", "response_b"]
    list_select_related = ["project", "item"]


@admin.register(Annotator)
class AnnotatorAdmin(admin.ModelAdmin):
    list_display = ["__str__", "pseudonym", "source", "kind", "is_blocked", "created_at"]
    list_filter = ["source", "kind", "is_blocked"]
    search_fields = ["external_id", "pseudonym", "user__username"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]
    actions = ["block", "unblock"]

    @admin.action(description="Block the selected annotators (their judgments stay stored)")
    def block(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(is_blocked=True)

    @admin.action(description="Unblock the selected annotators")
    def unblock(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(is_blocked=False, blocked_reason="")


@admin.register(Assignment)
class AssignmentAdmin(ManagedProjectMixin, admin.ModelAdmin):
    list_display = ["id", "project", "task", "annotator", "status", "leased_at", "expires_at"]
    list_filter = ["project", "status"]
    raw_id_fields = ["task", "annotator", "left_response"]
    list_select_related = ["project", "task", "annotator__user"]


@admin.register(Judgment)
class JudgmentAdmin(ManagedProjectMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "task",
        "annotator",
        "choice",
        "strength",
        "seconds",
        "is_gold",
        "created_at",
    ]
    list_filter = ["project", "choice", "is_gold", "source"]
    raw_id_fields = ["task", "annotator", "assignment", "shown_left"]
    list_select_related = ["project", "task", "annotator__user"]


@admin.register(AnnotatorStats)
class AnnotatorStatsAdmin(ManagedProjectMixin, admin.ModelAdmin):
    """Annotator quality per project: figures, flags, and blocking."""

    list_display = [
        "annotator",
        "project",
        "judgments",
        "gold",
        "left",
        "fast",
        "mean_seconds",
        "flag_list",
        "is_blocked",
    ]
    list_filter = ["project", "is_blocked"]
    search_fields = ["annotator__pseudonym", "annotator__external_id", "annotator__user__username"]
    list_select_related = ["annotator__user", "project"]
    readonly_fields = [f.name for f in AnnotatorStats._meta.fields if f.name != "blocked_reason"]
    actions = ["block", "unblock"]

    @admin.display(description="gold accuracy")
    def gold(self, stats: AnnotatorStats) -> str:
        accuracy = stats.gold_accuracy
        return "—" if accuracy is None else f"{accuracy:.0%} of {stats.gold_judgments}"

    @admin.display(description="left-side rate")
    def left(self, stats: AnnotatorStats) -> str:
        rate = stats.left_rate
        return "—" if rate is None else f"{rate:.0%}"

    @admin.display(description="too fast")
    def fast(self, stats: AnnotatorStats) -> str:
        share = stats.fast_share
        return "—" if share is None else f"{share:.0%}"

    @admin.display(description="mean seconds")
    def mean_seconds(self, stats: AnnotatorStats) -> str:
        return f"{stats.seconds_total / stats.judgments:.1f}" if stats.judgments else "—"

    @admin.display(description="flags")
    def flag_list(self, stats: AnnotatorStats) -> str:
        return ", ".join(stats.flags) or "—"

    @admin.action(description="Block in their project (judgments stay stored, left out of exports)")
    def block(self, request: HttpRequest, queryset: QuerySet) -> None:
        for stats in queryset.select_related("project", "annotator"):
            annotator_block(
                project=stats.project,
                annotator=stats.annotator,
                reason=f"blocked by {request.user}",
            )
        messages.success(request, f"Blocked {queryset.count()} annotator(s).")

    @admin.action(description="Unblock in their project")
    def unblock(self, request: HttpRequest, queryset: QuerySet) -> None:
        for stats in queryset.select_related("project", "annotator"):
            annotator_block(project=stats.project, annotator=stats.annotator, blocked=False)
