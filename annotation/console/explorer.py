"""The data explorer (README "Researchers"): a project's tasks in a table with filters and a
search of the prompts, and an item page with the item as annotators see it, every judgment of
its tasks and their labels."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from annotation.console.pages import ConsolePage
from annotation.i18n import content_attributes
from annotation.models import Item, Project
from annotation.rendering import media_hosts_for, prompt_turns, render_markdown
from annotation.selectors.adjudications import researcher_pseudonym
from annotation.selectors.explorer import (
    ExplorerFilters,
    cyclic_items,
    explorer_item_tasks,
    explorer_models,
    explorer_page,
    explorer_ranking_places,
    explorer_rubric_summaries,
    explorer_task_ids,
)
from annotation.selectors.judgment_table import CHOICES

PAGE = ConsolePage(title="Data explorer", url_name="annotation_project_explorer")
PER_PAGE = 50
LABEL_NAMES = {"a": "A", "b": "B", "tie": "Tie", "both_bad": "Both bad"}
META_KEY = re.compile(r"^[^=]{1,100}$")


class ExplorerForm(forms.Form):
    """The explorer's filters, read from the query string (a GET form)."""

    q = forms.CharField(required=False, max_length=300, label="Search prompts")
    model = forms.ChoiceField(required=False, label="Model (either side)")
    meta = forms.CharField(
        required=False,
        max_length=300,
        label="Metadata",
        widget=forms.TextInput(attrs={"placeholder": "key=value"}),
    )
    share_min = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Majority share from"
    )
    share_max = forms.FloatField(required=False, min_value=0, max_value=1, label="to")
    split = forms.BooleanField(required=False, label="Split votes only")
    cyclic = forms.BooleanField(required=False, label="Items with cycles only")
    gold = forms.ChoiceField(
        required=False,
        choices=[("", "Gold or not"), ("yes", "Gold only"), ("no", "Not gold")],
        label="Gold",
    )
    flagged = forms.BooleanField(required=False, label="Judged by a flagged annotator")
    rubric_version = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Rubric version"
    )

    def __init__(
        self,
        *args: Any,
        project: Project,
        models: list[str],
        versions: list[int],
        cyclic: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "Any model"), *((m, m) for m in models)]
        self.fields["rubric_version"].choices = [
            ("", "Any version"),
            *((v, f"Version {v}") for v in versions),
        ]
        if not cyclic:  # no report yet, or one that counts cycles without naming items
            del self.fields["cyclic"]
        if not project.is_pairwise:
            for name in ("share_min", "share_max", "split", "cyclic"):
                self.fields.pop(name, None)
        if len(versions) < 2:
            del self.fields["rubric_version"]

    def clean_meta(self) -> tuple[str, str] | None:
        meta = self.cleaned_data["meta"].strip()
        if not meta:
            return None
        key, sep, value = meta.partition("=")
        if not sep or not META_KEY.match(key.strip()):
            raise forms.ValidationError("Write a metadata filter as key=value.")
        return key.strip(), value.strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        low, high = data.get("share_min"), data.get("share_max")
        if low is not None and high is not None and low > high:
            self.add_error("share_max", "The upper bound is below the lower one.")
        return data

    def filters(self) -> ExplorerFilters:
        if not self.is_bound or not self.is_valid():
            return ExplorerFilters()
        data = self.cleaned_data
        key, value = data.get("meta") or ("", "")
        return ExplorerFilters(
            search=data["q"].strip(),
            model=data["model"],
            meta_key=key,
            meta_value=value,
            share_min=data.get("share_min"),
            share_max=data.get("share_max"),
            split=bool(data.get("split")),
            cyclic=bool(data.get("cyclic")),
            gold={"yes": True, "no": False}.get(data["gold"]),
            flagged=data["flagged"],
            rubric_version=data.get("rubric_version"),
        )


def urlpatterns(project_admin: Any) -> list[Any]:
    def managed(request: HttpRequest, project_id: int) -> Project:
        return get_object_or_404(project_admin.get_queryset(request), pk=project_id)

    def explorer_view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = managed(request, project_id)
        cyclic = cyclic_items(project=project)
        form = ExplorerForm(
            request.GET or None,
            project=project,
            models=explorer_models(project=project),
            versions=list(project.rubric_versions.values_list("version", flat=True)),
            cyclic=cyclic is not None,
        )
        invalid = form.is_bound and not form.is_valid()
        page = rows = None
        if not invalid:
            ids = explorer_task_ids(project=project, filters=form.filters(), cyclic=cyclic)
            page = Paginator(ids, PER_PAGE).get_page(request.GET.get("page"))
            rows = _rows(project, explorer_page(project=project, task_ids=list(page.object_list)))
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            **project_admin.admin_site.each_context(request),
            "title": f"Data explorer of {project.name}",
            "project": project,
            "form": form,
            "page": page,
            "rows": rows,
            "query": query.urlencode(),
            "cyclic": cyclic,
            "opts": Project._meta,
        }
        return TemplateResponse(
            request, "admin/annotation/explorer.html", context, status=400 if invalid else 200
        )

    def item_view(request: HttpRequest, project_id: int, item_id: int) -> HttpResponse:
        project = managed(request, project_id)
        item = get_object_or_404(Item, pk=item_id, project=project)
        hosts = media_hosts_for(project.media_hosts)
        responses = list(item.responses.all())
        tasks = explorer_item_tasks(project=project, item=item, responses=responses)
        for entry in tasks:
            _name_labels(entry)
        context = {
            **project_admin.admin_site.each_context(request),
            "title": f"Item {item.external_id}",
            "project": project,
            "item": item,
            "conversation": prompt_turns(item.prompt, media_hosts=hosts),
            "responses": [
                (response, mark_safe(render_markdown(response.text, media_hosts=hosts)))
                for response in responses
            ],
            "sample": {"content_attrs": content_attributes(project.content_language)},
            "tasks": tasks,
            "explorer_url": reverse(f"admin:{PAGE.url_name}", args=[project.pk]),
            "opts": Project._meta,
        }
        response = TemplateResponse(request, "admin/annotation/explorer_item.html", context)
        if hosts:
            response._csp_update = {"img-src": list(hosts), "media-src": list(hosts)}  # type: ignore[attr-defined]
        return response

    site = project_admin.admin_site
    return [
        path("<int:project_id>/explorer/", site.admin_view(explorer_view), name=PAGE.url_name),
        path(
            "<int:project_id>/explorer/items/<int:item_id>/",
            site.admin_view(item_view),
            name="annotation_project_explorer_item",
        ),
    ]


def _rows(project: Project, tasks: list[Any]) -> list[dict[str, Any]]:
    """A page of tasks as the table shows them: the majority from the counted votes, the
    Dawid-Skene label of the latest report, the gold answer and the adjudication."""
    summaries = {}
    places = {}
    if project.is_ranking:
        places = explorer_ranking_places(project=project, tasks=tasks)
    elif not project.is_pairwise:
        summaries = explorer_rubric_summaries(project=project, tasks=tasks)
    rows = []
    for task in tasks:
        row: dict[str, Any] = {"task": task, "places": places.get(task.pk)}
        if task.pk in summaries:
            summary = summaries[task.pk]
            row["agreement"] = summary["agreement"]
            row["scores"] = [
                (key, value)
                for key, value in summary.items()
                if key != "agreement" and not key.startswith(("agreement_", "share_"))
            ]
        if project.is_pairwise:
            counts = [getattr(task, f"n_{choice}") for choice in CHOICES]
            leaders = [c for c, n in zip(CHOICES, counts, strict=True) if n and n == task.top]
            row["majority"] = LABEL_NAMES[leaders[0]] if len(leaders) == 1 else None
            row["split"] = bool(task.n_votes) and task.top < task.needed
            stored = getattr(task, "label", None)  # a missing label raises AttributeError
            row["ds_label"] = LABEL_NAMES.get(stored.weighted) if stored else None
            gold = task.gold_answer
            row["gold"] = LABEL_NAMES.get(gold.get("choice")) if isinstance(gold, dict) else None
            adjudication = getattr(task, "adjudication", None)
            row["adjudicated"] = LABEL_NAMES.get(adjudication.label) if adjudication else None
        rows.append(row)
    return rows


def _name_labels(entry: Any) -> None:
    """The names the item page shows for a task's labels and its judgments' choices."""
    labels = entry.labels
    entry.names = {
        "majority": LABEL_NAMES.get(labels.majority) if labels and labels.majority else None,
        "ds_label": LABEL_NAMES.get(labels.ds_label) if labels and labels.ds_label else None,
        "gold": LABEL_NAMES.get(entry.gold),
    }
    adjudication = getattr(entry.task, "adjudication", None)
    entry.adjudication = adjudication
    entry.adjudicated_label = LABEL_NAMES.get(adjudication.label) if adjudication else None
    entry.adjudicated_pseudonym = (
        researcher_pseudonym(adjudication.researcher_id) if adjudication else None
    )
    for shown in entry.judgments:
        shown.choice_name = LABEL_NAMES.get(shown.choice, "")
