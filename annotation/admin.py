"""The researcher console. Each action calls a service; nothing here decides domain rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.vary import vary_on_headers

from annotation.console.datasets import crowd_links_context
from annotation.console.instructions import InstructionsPreviewWidget
from annotation.console.pages import console_pages, console_urlpatterns
from annotation.console.statistics import placeholder_html as statistics_placeholder
from annotation.errors import ImportRejected, ValidationFailed
from annotation.models import (
    Annotator,
    AnnotatorStats,
    Assignment,
    Criterion,
    CrowdSession,
    ImportJob,
    Item,
    Judge,
    JudgeRun,
    JudgeVerdict,
    Judgment,
    ModelEndpoint,
    Project,
    Response,
    Task,
)
from annotation.presets import PRESET_CHOICES, SURVEY_PRESET_CHOICES
from annotation.selectors.crowd import crowd_sessions_with_counts
from annotation.selectors.explorer import item_judgment_counts
from annotation.selectors.progress import progress_context
from annotation.selectors.projects import projects_managed_by
from annotation.services.consent import consent_version_bump
from annotation.services.endpoints import endpoint_fields_clean, endpoint_update
from annotation.services.import_jobs import import_job_summary, import_start
from annotation.services.importing import filetype_from_name
from annotation.services.judges import (
    judge_create,
    judge_default_template,
    judge_delete,
    judge_fields_clean,
    judge_kind,
    judge_prompt,
    judge_run_unfinished,
    judge_update,
)
from annotation.services.projects import (
    CRITERION_FIELDS,
    PROJECT_FIELDS,
    criteria_add,
    preset_apply,
    rubric_snapshot,
    rubric_version_bump,
)
from annotation.services.quality import annotator_block
from annotation.services.researchers import annotators_seen_by, member_candidates
from annotation.services.surveys import survey_clean, survey_version_bump


def _is_superuser(request: HttpRequest) -> bool:
    return bool(request.user.is_superuser)


def _managed(request: HttpRequest) -> QuerySet[Project]:
    return projects_managed_by(user=request.user)


def choices_for(model: type[models.Model], request: HttpRequest) -> QuerySet | None:
    """What a researcher may pick for a foreign key or many-to-many to `model`: rows of the
    projects they manage (the form refuses any other id, drop-down or raw id alike).
    None: no narrowing (superusers)."""
    if _is_superuser(request):
        return None
    managed = _managed(request).values("pk")
    if model is Project:
        return Project.objects.filter(pk__in=managed)
    if model is Response:
        return Response.objects.filter(item__project__in=managed)
    if model in (Criterion, Item, Task, Assignment, Judgment, ModelEndpoint, Judge):
        return model._default_manager.filter(project__in=managed)
    if model is Annotator:
        return annotators_seen_by(user=request.user).select_related("user")
    if model is get_user_model():
        return get_user_model().objects.filter(is_staff=True)
    return model._default_manager.none()


class ScopedChoicesMixin:
    """Drop-downs and raw-id fields of forms and inlines accept only the researcher's rows."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        choices = choices_for(db_field.related_model, request)
        if choices is not None and "queryset" not in kwargs:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        choices = choices_for(db_field.related_model, request)
        if choices is not None and "queryset" not in kwargs:
            kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]


class ManagedProjectMixin(ScopedChoicesMixin):
    """Researchers see only the rows of projects they own or that are shared with them;
    superusers see everything. `project_path` leads from the model to its project."""

    project_path = "project"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)  # type: ignore[misc]
        if _is_superuser(request):
            return queryset
        managed = _managed(request).values("pk")
        if self.project_path == "":
            return queryset.filter(pk__in=managed)
        return queryset.filter(**{f"{self.project_path}__in": managed})


class ManagedProjectFilter(admin.RelatedFieldListFilter):
    """The project filter offers only the projects the researcher manages."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        ordering = self.field_admin_ordering(field, request, model_admin)
        if _is_superuser(request):
            return field.get_choices(include_blank=False, ordering=ordering)
        return field.get_choices(
            include_blank=False,
            limit_choices_to={"pk__in": _managed(request).values("pk")},
            ordering=ordering,
        )


PROJECT_FILTER = ("project", ManagedProjectFilter)


class CriterionInline(ScopedChoicesMixin, admin.TabularInline):
    model = Criterion
    extra = 0
    fields = ["position", *CRITERION_FIELDS]


#: Settings whose emptied box (or absence from a form older than the setting) means the default.
DEFAULT_WHEN_EMPTY = (
    "arming_ms",
    "review_min_share",
    "min_group_votes",
    "min_group_annotators",
    "sampling",
    "explore_share",
    "route",
    "route_human_k",
    "arena_prompts_per_hour",
)


class ProjectAdminForm(forms.ModelForm):
    preset = forms.ChoiceField(
        choices=[("", "— none: set everything by hand —"), *PRESET_CHOICES],
        required=False,
        help_text="On a new project: fills in the kind, the protocol and the criteria "
        "(anything you set yourself wins).",
    )

    survey_preset = forms.ChoiceField(
        choices=[("", "— none —"), *SURVEY_PRESET_CHOICES],
        required=False,
        help_text="Fills the survey with a preset's questions when the survey box is empty.",
    )

    class Meta:
        model = Project
        fields = [*PROJECT_FIELDS, "owner", "researchers", "members"]
        widgets = {"instructions": InstructionsPreviewWidget()}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "survey" in self.errors:
            return cleaned
        survey, preset = cleaned.get("survey"), cleaned.get("survey_preset") or None
        try:
            cleaned["survey"] = survey_clean(
                survey=None if preset and not survey else survey or [],
                survey_preset=preset,
                language=cleaned.get("ui_language") or "",
            )
        except ValidationFailed as exc:
            self.add_error("survey", "; ".join(f"{e['field']}: {e['error']}" for e in exc.errors))
        return cleaned

    def clean_group_quotas(self) -> dict:
        return self.cleaned_data.get("group_quotas") or {}  # an emptied box: no quotas

    def clean_media_hosts(self) -> list:
        return self.cleaned_data.get("media_hosts") or []  # an emptied box: no extra hosts

    def clean_prompt_blocklist(self) -> list:
        return self.cleaned_data.get("prompt_blocklist") or []  # an emptied box: no terms

    def clean_seed_prompts(self) -> list:
        return self.cleaned_data.get("seed_prompts") or []  # an emptied box: none

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in DEFAULT_WHEN_EMPTY:
            if name in self.fields:
                self.fields[name].required = False

    def _default_when_empty(self, name: str) -> Any:
        value = self.cleaned_data.get(name)
        # An emptied box (or a form from before the setting existed): the default.
        return Project._meta.get_field(name).default if value in (None, "") else value

    def clean_review_min_share(self) -> float:
        return self._default_when_empty("review_min_share")

    def clean_arming_ms(self) -> int:
        return self._default_when_empty("arming_ms")

    def clean_min_group_votes(self) -> int:
        return self._default_when_empty("min_group_votes")

    def clean_min_group_annotators(self) -> int:
        return self._default_when_empty("min_group_annotators")

    def clean_explore_share(self) -> float:
        return self._default_when_empty("explore_share")

    def clean_sampling(self) -> str:
        return self._default_when_empty("sampling")

    def clean_arena_prompts_per_hour(self) -> int:
        return self._default_when_empty("arena_prompts_per_hour")

    def clean_route(self) -> str:
        return self._default_when_empty("route")

    def clean_route_human_k(self) -> int:
        return self._default_when_empty("route_human_k")


class ItemImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL, JSON or CSV in the import format (README).")


def _is_owner(request: HttpRequest, project: Project) -> bool:
    return _is_superuser(request) or project.owner_id == request.user.pk


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
        "statistics",
        "rubric_version",
        "consent_version",
        "survey_version",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "slug", "kind", "status", "access", "instructions"]}),
        ("Progress", {"fields": ["progress", "import_link"]}),
        ("Statistics", {"fields": ["statistics"]}),
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
                    "sampling",
                    "explore_share",
                    "route",
                    "route_human_k",
                ]
            },
        ),
        (
            "Arena",
            {
                "fields": ["seed_prompts", "reveal_after_vote"],
                "description": "Arena projects only (README, Arena): the models are the "
                "project's model endpoints.",
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
                    "review_min_share",
                    "min_group_votes",
                    "min_group_annotators",
                ]
            },
        ),
        (
            "Crowd study",
            {
                "fields": [
                    "completion_code",
                    "completion_url",
                    "completion_min_answers",
                    "screenout_code",
                    "screenout_url",
                    "prolific_study_id",
                    "crowd_new_per_hour",
                    "qualification_tasks",
                    "qualification_min_accuracy",
                    "group_quotas",
                    "media_hosts",
                ]
            },
        ),
        (
            "Annotator page",
            {
                "fields": [
                    "arming_ms",
                    "consent_text",
                    "consent_version",
                    "survey",
                    "survey_preset",
                    "survey_version",
                    "ui_language",
                    "content_language",
                ]
            },
        ),
        ("Arena safety", {"fields": ["arena_prompts_per_hour", "prompt_blocklist"]}),
        ("Datasets", {"fields": ["license", "license_name"]}),
        ("People", {"fields": ["owner", "researchers", "members"]}),
        ("Dates", {"fields": ["rubric_version", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Progress")
    def progress(self, project: Project) -> str:
        if not project.pk:
            return "—"
        return render_to_string("annotation/partials/progress.html", progress_context(project))

    @admin.display(description="Statistics")
    def statistics(self, project: Project) -> str:
        """A spinner the block replaces once htmx has fetched it: the page never waits for a
        report to be computed."""
        return statistics_placeholder(project) if project.pk else "—"

    @admin.display(description="Import items")
    def import_link(self, project: Project) -> str:
        if not project.pk:
            return "Save the project first."
        url = reverse("admin:annotation_project_import", args=[project.pk])
        preview = reverse("annotation:preview", args=[project.slug])
        pages = format_html_join(
            " ",
            '<a class="button" href="{}">{}</a>',
            (
                (reverse(f"admin:{page.url_name}", args=[project.pk]), page.title)
                for page in console_pages()
            ),
        )
        return format_html(
            '<a class="button" href="{}">Upload a file of items</a> '
            '<a class="button" href="{}">Preview a task as annotators see it</a> {}',
            url,
            preview,
            pages,
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":  # researchers are staff; annotators' accounts are not
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "researchers":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True)
        elif db_field.name == "members":  # each shown by its account's name
            kwargs["queryset"] = member_candidates(user=request.user).select_related("user")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not _is_owner(request, obj):
            fields += ["owner", "researchers"]  # sharing lets a colleague work, not give away
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Project | None = None) -> bool:
        return super().has_delete_permission(request, obj) and (
            obj is None or _is_owner(request, obj)
        )

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
        previous_consent_text = form.initial.get("consent_text", "")
        if change and consent_version_bump(project=obj, previous_text=previous_consent_text):
            messages.info(
                request,
                f"The consent text changed after annotators agreed to it: this is consent "
                f"version {obj.consent_version}; everyone is asked to agree again.",
            )

        if change and survey_version_bump(project=obj, previous=form.initial.get("survey", [])):
            messages.info(
                request,
                f"The survey changed after annotators answered it: this is survey version "
                f"{obj.survey_version}; everyone is asked again.",
            )

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

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The project page also shows the crowd links to paste into Prolific or MTurk."""
        project = self.get_object(request, object_id)
        if project is not None:
            extra_context = {**(extra_context or {}), **crowd_links_context(request, project)}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list:
        return [
            path(
                "<int:project_id>/import/",
                self.admin_site.admin_view(self.import_view),
                name="annotation_project_import",
            ),
            path(
                "<int:project_id>/import/<int:job_id>/",
                self.admin_site.admin_view(self.import_job_view),
                name="annotation_project_import_job",
            ),
            *console_urlpatterns(self),
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
                result = import_start(
                    project=project,
                    kind=ImportJob.Kind.ITEMS,
                    body=upload.read(),
                    filetype=filetype_from_name(upload.name),
                    file_name=upload.name,
                    created_by=request.user,
                )
            except ImportRejected as exc:
                errors = exc.errors
                messages.error(request, f"{exc.detail} ({len(errors)} bad line(s) listed below)")
            else:
                if isinstance(result, ImportJob):
                    return HttpResponseRedirect(
                        reverse("admin:annotation_project_import_job", args=[project.pk, result.pk])
                    )
                messages.success(request, result.summary())
                return HttpResponseRedirect(
                    reverse("admin:annotation_project_change", args=[project.pk])
                )
        return self._import_page(request, project, form=form, errors=errors)

    @method_decorator(vary_on_headers("HX-Request"))
    def import_job_view(self, request: HttpRequest, project_id: int, job_id: int) -> HttpResponse:
        """An import job's progress: the whole import page, or (for htmx, every second until
        the job ends) its progress panel alone."""
        project = get_object_or_404(self.get_queryset(request), pk=project_id)
        if not self.has_change_permission(request, project):
            return HttpResponseRedirect(reverse("admin:index"))
        job = get_object_or_404(ImportJob.objects.defer("content"), pk=job_id, project=project)
        if request.htmx:
            context = {"project": project, "job": job, "summary": import_job_summary(job)}
            return TemplateResponse(
                request, "admin/annotation/project_import.html#import-job", context
            )
        return self._import_page(request, project, form=ItemImportForm(), job=job)

    def _import_page(
        self,
        request: HttpRequest,
        project: Project,
        *,
        form: ItemImportForm,
        errors: list[dict[str, Any]] | None = None,
        job: ImportJob | None = None,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import items into {project.name}",
            "project": project,
            "form": form,
            "errors": errors or [],
            "job": job,
            "summary": import_job_summary(job) if job else "",
            "async_rows": settings.IMPORT_ASYNC_ROWS,
            "recent_jobs": (
                ImportJob.objects.defer("content")
                .filter(project=project)
                .exclude(pk=job.pk if job else None)[:5]
            ),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/annotation/project_import.html", context)


@admin.register(Criterion)
class CriterionAdmin(ManagedProjectMixin, admin.ModelAdmin):
    list_display = ["key", "label", "project", "type", "min", "max", "level"]
    list_filter = [PROJECT_FILTER]
    list_select_related = ["project"]

    def get_readonly_fields(self, request: HttpRequest, obj: Criterion | None = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if obj is None else [*fields, "project"]


RESPONSE_FIELDS = ["external_id", "model", "text", "position"]


class JudgedItemMixin:
    """An item (or a response of one) whose tasks have judgments keeps its texts and is
    not deleted: changing what was judged would change what the votes mean, and the
    judgments are the collected data (paid for, counted in reports, in exports and snapshots
    already shared). `item_id_of` leads from the admin's object to its item."""

    def item_id_of(self, obj: Any) -> int:
        raise NotImplementedError

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
        if obj is not None:
            item_id = self.item_id_of(obj)
            judged = item_judgment_counts(item_ids=[item_id]).get(item_id, 0)
            if judged:
                # Read-only fields are ignored in a POST: say that a change was not kept.
                kept = " Your change to them was not saved." if request.method == "POST" else ""
                messages.warning(
                    request,
                    f"The prompt and responses are read-only: {judged} "
                    f"judgment{pluralize(judged)} were given on them, and changing what was "
                    f"judged would change what those votes mean.{kept}",
                )
        return super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(  # type: ignore[misc]
            objs, request
        )
        items = Item.objects.filter(pk__in={self.item_id_of(obj) for obj in objs})
        counts = item_judgment_counts(item_ids=[item.pk for item in items])
        judged = [
            f"{counts[item.pk]} judgment{pluralize(counts[item.pk])} of item "
            f"{item.external_id} (judged items are kept: their judgments are the dataset)"
            for item in items
            if counts.get(item.pk)
        ]
        if not judged:
            return deleted, model_count, perms_needed, protected
        # The page then says why (the judgments), not which permission an account lacks.
        return deleted, model_count, set(), [*protected, *judged]


class ResponseInline(ScopedChoicesMixin, admin.TabularInline):
    model = Response
    extra = 0
    fields = RESPONSE_FIELDS

    def _judged(self, item: Item | None) -> bool:
        return item is not None and bool(item_judgment_counts(item_ids=[item.pk]))

    def get_readonly_fields(self, request: HttpRequest, obj: Item | None = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, *RESPONSE_FIELDS] if self._judged(obj) else fields

    def has_add_permission(self, request: HttpRequest, obj: Item | None = None) -> bool:
        return not self._judged(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Item | None = None) -> bool:
        return not self._judged(obj) and super().has_delete_permission(request, obj)


@admin.register(Item)
class ItemAdmin(JudgedItemMixin, ManagedProjectMixin, admin.ModelAdmin):
    list_display = ["external_id", "project", "created_at"]
    list_filter = [PROJECT_FILTER]
    search_fields = ["external_id"]
    list_select_related = ["project"]
    inlines = [ResponseInline]

    def item_id_of(self, obj: Item) -> int:
        return obj.pk

    def get_readonly_fields(self, request: HttpRequest, obj: Item | None = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        fields = [*fields, "project", "explorer_link"]  # its tasks stay where they are
        return [*fields, "prompt"] if item_judgment_counts(item_ids=[obj.pk]) else fields

    def get_fields(self, request: HttpRequest, obj: Item | None = None) -> list:
        fields = [f for f in super().get_fields(request, obj) if f != "explorer_link"]
        return fields if obj is None else ["explorer_link", *fields]

    @admin.display(description="Votes")
    def explorer_link(self, item: Item) -> str:
        url = reverse("admin:annotation_project_explorer_item", args=[item.project_id, item.pk])
        return format_html('<a href="{}">Every judgment of this item (data explorer)</a>', url)


@admin.register(Response)
class ResponseAdmin(JudgedItemMixin, ManagedProjectMixin, admin.ModelAdmin):
    project_path = "item__project"
    list_display = ["external_id", "model", "item"]
    list_filter = [("item__project", ManagedProjectFilter)]
    search_fields = ["item__external_id", "model"]
    list_select_related = ["item"]
    raw_id_fields = ["item"]

    def item_id_of(self, obj: Response) -> int:
        return obj.item_id

    def get_readonly_fields(self, request: HttpRequest, obj: Response | None = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        if item_judgment_counts(item_ids=[obj.item_id]):
            return [*fields, "item", *RESPONSE_FIELDS]
        return [*fields, "item"]


@admin.register(Task)
class TaskAdmin(ManagedProjectMixin, admin.ModelAdmin):
    """Tasks are made by imports; a researcher marks gold here."""

    list_display = ["id", "project", "item", "is_gold", "judgment_count"]
    list_filter = [PROJECT_FILTER, "is_gold"]
    raw_id_fields = ["item", "response_a", "response_b"]
    list_select_related = ["project", "item"]

    def get_readonly_fields(self, request: HttpRequest, obj: Task | None = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fields
        return [*fields, "project", "item", "response_a", "response_b", "judgment_count"]


@admin.register(Annotator)
class AnnotatorAdmin(ScopedChoicesMixin, admin.ModelAdmin):
    """Annotators are shared by projects: a researcher sees those who worked in, entered or
    belong to their projects, never another project's crowd workers. Site-wide blocks are
    a superuser's (researchers block per project, in annotator quality)."""

    SITE_WIDE = ("is_blocked", "blocked_reason")
    list_display = ["__str__", "pseudonym", "source", "kind", "is_blocked", "created_at"]
    list_filter = ["source", "kind", "is_blocked"]
    search_fields = ["external_id", "pseudonym", "user__username"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]
    actions = ["block", "unblock"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return annotators_seen_by(user=request.user).select_related("user")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if _is_superuser(request) or not term or not _is_autocomplete(request):
            return found, may_have_duplicates
        # Adding members: any local account may be found by its username, not listed.
        by_username = member_candidates(user=request.user).filter(user__username__istartswith=term)
        return (
            Annotator.objects.select_related("user").filter(
                Q(pk__in=found.values("pk")) | Q(pk__in=by_username.values("pk"))
            ),
            False,
        )

    def get_list_display(self, request: HttpRequest) -> list:
        shown = super().get_list_display(request)
        return shown if _is_superuser(request) else [f for f in shown if f not in self.SITE_WIDE]

    def get_list_filter(self, request: HttpRequest) -> list:
        shown = super().get_list_filter(request)
        return shown if _is_superuser(request) else [f for f in shown if f not in self.SITE_WIDE]

    def get_fields(self, request: HttpRequest, obj: Annotator | None = None) -> list:
        fields = super().get_fields(request, obj)
        if _is_superuser(request):
            return fields
        # The last study and session ids may be another project's: sessions list their own.
        hidden = (*self.SITE_WIDE, "study_id", "session_id")
        return [f for f in fields if f not in hidden]

    def has_site_block_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    @admin.action(
        description="Block the selected annotators everywhere (their judgments stay stored)",
        permissions=["site_block"],
    )
    def block(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(is_blocked=True)

    @admin.action(
        description="Unblock the selected annotators everywhere", permissions=["site_block"]
    )
    def unblock(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.update(is_blocked=False, blocked_reason="")


def _is_autocomplete(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.url_name == "autocomplete"


@admin.register(CrowdSession)
class CrowdSessionAdmin(ManagedProjectMixin, admin.ModelAdmin):
    """Crowd visits with the work done in each, to check a submission before approving it
    on the platform. Read only: entry pages write them."""

    list_display = [
        "platform",
        "external_id",
        "study_id",
        "session_id",
        "started_at",
        "completed_at",
        "outcome",
        "answered",
        "skipped",
        "project",
    ]
    list_filter = [PROJECT_FILTER, "platform", "outcome"]
    search_fields = ["external_id"]
    list_select_related = ["project"]
    fields = [
        "project",
        "annotator",
        "platform",
        "external_id",
        "study_id",
        "session_id",
        "started_at",
        "completed_at",
        "outcome",
        "answered",
        "skipped",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return crowd_sessions_with_counts(super().get_queryset(request))

    @admin.display(description="answered", ordering="answered")
    def answered(self, session: CrowdSession) -> int:
        return session.answered  # type: ignore[attr-defined]

    @admin.display(description="skipped", ordering="skipped")
    def skipped(self, session: CrowdSession) -> int:
        return session.skipped  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Assignment)
class AssignmentAdmin(ManagedProjectMixin, admin.ModelAdmin):
    list_display = ["id", "project", "task", "annotator", "status", "leased_at", "expires_at"]
    list_filter = [PROJECT_FILTER, "status"]
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
    list_filter = [PROJECT_FILTER, "choice", "is_gold", "source"]
    raw_id_fields = ["task", "annotator", "assignment", "shown_left"]
    list_select_related = ["project", "task", "annotator__user"]


@admin.register(AnnotatorStats)
class AnnotatorStatsAdmin(ManagedProjectMixin, admin.ModelAdmin):
    """Annotator quality per project: figures, flags, and blocking. Who blocked is kept
    for researchers; the blocked annotator is told only that they can no longer work."""

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
        "blocked_by",
    ]
    list_filter = [PROJECT_FILTER, "is_blocked"]
    search_fields = ["annotator__pseudonym", "annotator__external_id", "annotator__user__username"]
    list_select_related = ["annotator__user", "project", "blocked_by"]
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

    @admin.action(
        description="Block in their project (judgments stay stored, left out of exports)",
        permissions=["change"],
    )
    def block(self, request: HttpRequest, queryset: QuerySet) -> None:
        blocked = 0
        for stats in queryset.select_related("project", "annotator"):
            annotator_block(project=stats.project, annotator=stats.annotator, by=request.user)
            blocked += 1
        messages.success(request, f"Blocked {blocked} annotator(s).")

    @admin.action(description="Unblock in their project", permissions=["change"])
    def unblock(self, request: HttpRequest, queryset: QuerySet) -> None:
        for stats in queryset.select_related("project", "annotator"):
            annotator_block(project=stats.project, annotator=stats.annotator, blocked=False)


#: The endpoint's fields the console edits as they are (the key goes through its own box).
ENDPOINT_FORM_FIELDS = ("name", "base_url", "model", "params", "enabled", "aliases")


class ModelEndpointAdminForm(forms.ModelForm):
    """The API key is a password box: never filled in, left empty to keep the key."""

    api_key = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Sent as Authorization: Bearer; stored encrypted, never shown again. "
        "Leave empty to keep the current key.",
    )
    remove_api_key = forms.BooleanField(required=False, label="Remove the API key")

    class Meta:
        model = ModelEndpoint
        fields = ["project", *ENDPOINT_FORM_FIELDS]

    def clean(self) -> dict[str, Any]:
        """The service's checks (public address, params), reported on their fields."""
        data = super().clean()
        changes = {name: data[name] for name in ENDPOINT_FORM_FIELDS if name in data}
        if data.get("api_key"):
            changes["api_key"] = data["api_key"]
        elif data.get("remove_api_key"):
            changes["api_key"] = ""
        try:
            endpoint_fields_clean(changes)
        except ValidationFailed as exc:
            for error in exc.errors:
                name = error["field"].split(".")[0]
                self.add_error(name if name in self.fields else None, exc.detail)
        self.endpoint_changes = changes
        return data


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(ManagedProjectMixin, admin.ModelAdmin):
    """A project's model endpoints (README, Model endpoints); the key is write-only here too."""

    form = ModelEndpointAdminForm
    list_display = ["name", "project", "model", "base_url", "enabled", "api_key_set", "health"]
    list_filter = [PROJECT_FILTER, "enabled"]
    search_fields = ["name", "model"]
    list_select_related = ["project"]
    readonly_fields = [
        "api_key_set",
        "unhealthy_until",
        "last_error",
        "last_error_at",
        "created_at",
        "updated_at",
    ]

    @admin.display(boolean=True, description="API key set")
    def api_key_set(self, endpoint: ModelEndpoint) -> bool:
        return endpoint.api_key_set

    @admin.display(description="health")
    def health(self, endpoint: ModelEndpoint) -> str:
        until = endpoint.unhealthy_until
        return f"unhealthy until {until:%Y-%m-%d %H:%M}" if until else "ok"

    def save_model(self, request: HttpRequest, obj: ModelEndpoint, form: Any, change: bool) -> None:
        endpoint_update(endpoint=obj, **form.endpoint_changes)


#: The judge's fields the console edits (the service checks them).
JUDGE_FORM_FIELDS = ("name", "endpoint", "template", "params")


class JudgeAdminForm(forms.ModelForm):
    """A judge's template left empty takes the default of the project's kind."""

    class Meta:
        model = Judge
        fields = ["project", *JUDGE_FORM_FIELDS]
        widgets = {"template": forms.Textarea(attrs={"rows": 24, "cols": 100})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].required = False
        self.fields["template"].help_text = (
            "Fields: {{ prompt }}, the responses ({{ response_a }} and {{ response_b }}; "
            "{{ response }} and {{ rubric }}; {{ responses }}), {{ criteria }}, and "
            "{{ answer_format }}, the JSON answer asked for (appended when not placed). "
            "Empty: the default template of the project's kind."
        )
        self.fields["params"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        project = data.get("project") or getattr(self.instance, "project", None)
        if project is None:
            return data
        changes = {name: data.get(name) for name in JUDGE_FORM_FIELDS if name in data}
        if not changes.get("template"):
            changes["template"] = judge_default_template(project=project)
        if isinstance(changes.get("endpoint"), ModelEndpoint):
            changes["endpoint"] = changes["endpoint"].pk
        try:
            judge_fields_clean(project=project, changes=changes)
        except ValidationFailed as exc:
            for error in exc.errors:
                name = error["field"].split(".")[0]
                self.add_error(name if name in self.fields else None, exc.detail)
        self.judge_changes = changes
        return data


@admin.register(Judge)
class JudgeAdmin(ManagedProjectMixin, admin.ModelAdmin):
    """A project's LLM judges (README, LLM judges), each with a preview of its prompt on a
    real task of the project, in both orders."""

    form = JudgeAdminForm
    list_display = ["name", "project", "endpoint", "template_version", "updated_at"]
    list_filter = [PROJECT_FILTER]
    search_fields = ["name"]
    list_select_related = ["project", "endpoint"]
    readonly_fields = ["template_version", "prompt_preview", "created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Judge | None = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "project"] if obj is not None else fields

    @admin.display(description="Prompt preview")
    def prompt_preview(self, judge: Judge) -> str:
        task = judge.project.tasks.select_related("item", "response_a", "response_b").first()
        if task is None:
            return "The project has no task yet: import items to see the prompt."
        task.project = judge.project
        orders = (False,) if judge_kind(judge.project) == "rubric" else (False, True)
        return format_html_join(
            "",
            '<h4>{}</h4><pre class="judge-prompt">{}</pre>',
            (
                (
                    f"Task {task.pk}, {'swapped' if swapped else 'as stored'}",
                    judge_prompt(judge=judge, task=task, swapped=swapped),
                )
                for swapped in orders
            ),
        )

    def has_delete_permission(self, request: HttpRequest, obj: Judge | None = None) -> bool:
        """Not while a run of the judge is pending or running (its worker would go on
        writing the judge's judgments); the list's bulk delete is off."""
        busy = obj is not None and judge_run_unfinished(judge=obj) is not None
        return not busy and super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: Judge) -> None:
        """Through the service: the judge's judgments go with it."""
        judge_delete(judge=obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Its runs and verdicts go with the judge: whoever may delete the judge may delete
        them (they have no delete permission of their own)."""
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def save_model(self, request: HttpRequest, obj: Judge, form: Any, change: bool) -> None:
        changes = form.judge_changes
        if change:
            stored = Judge.objects.select_related("project").get(pk=obj.pk)
            judge = judge_update(judge=stored, **changes)
        else:
            judge = judge_create(project=form.cleaned_data["project"], **changes)
        obj.pk, obj.template_version, obj.annotator_id = (
            judge.pk,
            judge.template_version,
            judge.annotator_id,
        )


@admin.register(JudgeRun)
class JudgeRunAdmin(ManagedProjectMixin, admin.ModelAdmin):
    """Judge runs with their progress (read only: runs start from the API or the project's
    LLM judges page)."""

    list_display = [
        "id",
        "judge",
        "project",
        "status",
        "progress",
        "calls",
        "tokens",
        "failures",
        "unparseable",
        "stopped",
        "created_at",
    ]
    list_filter = [PROJECT_FILTER, "status"]
    list_select_related = ["project", "judge"]
    exclude = ["task_ids"]

    @admin.display(description="progress (tasks)")
    def progress(self, run: JudgeRun) -> str:
        return format_html(
            '<progress max="{}" value="{}"></progress> {} / {}',
            run.total or 1,
            run.done,
            run.done,
            run.total,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JudgeVerdict)
class JudgeVerdictAdmin(ManagedProjectMixin, admin.ModelAdmin):
    """Each verdict with its raw outputs, per order and sample (read only)."""

    project_path = "run__project"
    list_display = ["id", "judge", "task", "status", "choice", "consistent", "confidence", "tokens"]
    list_filter = ["status", "consistent"]
    list_select_related = ["judge"]
    raw_id_fields = ["task", "judgment"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
