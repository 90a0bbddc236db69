"""Figures by group (README "Figures by group"): `?by=profile.<key>` splits the judgments by
who gave them (their answer to a survey question), `?by=metadata.<key>` by the items' category.

The groups of annotators are k-anonymous: a group with fewer than the project's
`min_group_annotators` annotators among the judgments counted is never shown alone; such
groups are merged into `other`, which is left out when it is still too small. A sensitive
question's groups are shown only when asked for with `include_sensitive=true`.

Like the style-controlled and category leaderboards, the figures are computed from the votes
the current report covers (its `last_judgment_id`), once per report and state of the answers,
and kept in the cache. While the worker recomputes a stale report, the last report's figures
are served (`stale: true`); once it has stored the new one it computes the figures by group
asked for lately (services.group_warming), so a researcher reading them again waits for no fit,
and until it has, a request is served the previous figures, stale, rather than fitting them
(group_figures_cached).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.db.models.fields.json import KeyTextTransform

from annotation.errors import ValidationFailed
from annotation.models import AgreementReport, Item, Project, SurveyAnswers
from annotation.selectors.judgment_table import CHOICES, JudgmentTable, judgment_table
from annotation.selectors.profiles import GROUPABLE_TYPES, profile_members, profile_question
from annotation.services.reports import (
    DEFAULT_KIND,
    N_BOOT,
    group_figures_remember,
    group_figures_warm_soon,
    kind_ratings,
    report_current,
    report_state_fields,
)
from annotation.stats import agreement_reports
from annotation.stats.groups import groups_at_least_k, majority_agreement_between

SOURCES = ("profile", "metadata")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")
#: How long figures by group are kept in the cache (a new report makes a new key).
CACHE_SECONDS = 24 * 3600

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class GroupBy:
    """What a `by` query splits figures by: a survey question (`profile`) or an item
    metadata key (`metadata`)."""

    source: str
    key: str
    question: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.source}.{self.key}"


def include_sensitive_param(params: Mapping[str, Any]) -> bool:
    """`include_sensitive` as a GET gives it (default false); a bad value is a 400 naming it."""
    raw = str(params.get("include_sensitive", "false")).strip().lower()
    if raw not in TRUE_WORDS + FALSE_WORDS:
        raise ValidationFailed(
            "The query is not valid.",
            errors=[{"field": "include_sensitive", "error": "must be true or false"}],
        )
    return raw in TRUE_WORDS


def group_by_parse(*, project: Project, by: str, include_sensitive: bool) -> GroupBy:
    """`profile.<key>` (a survey question with options; a sensitive one only with
    include_sensitive) or `metadata.<key>`; anything else is a 400 naming the field."""
    source, _, key = by.partition(".")
    if source not in SOURCES or not key:
        raise ValidationFailed(
            "The query is not valid.",
            errors=[
                {
                    "field": "by",
                    "error": "must be profile.<key> (a survey question) or metadata.<key> "
                    "(an item metadata key), e.g. profile.age_band",
                }
            ],
        )
    if source == "metadata":
        return GroupBy(source, key)
    question = profile_question(project=project, key=key)
    if question is None:
        raise ValidationFailed(
            f"Project {project.slug!r} has no survey question {key!r}.",
            errors=[{"field": "by", "error": f"no survey question with key {key!r}"}],
        )
    if question.get("sensitive") and not include_sensitive:
        raise ValidationFailed(
            f"Survey question {key!r} is sensitive: figures by it need include_sensitive=true.",
            errors=[
                {
                    "field": "include_sensitive",
                    "error": f"must be true to group by the sensitive question {key!r}",
                }
            ],
        )
    if question["type"] not in GROUPABLE_TYPES:
        raise ValidationFailed(
            f"Survey question {key!r} is a {question['type']} question: its answers are "
            "not groups.",
            errors=[
                {
                    "field": "by",
                    "error": f"must be a {', '.join(GROUPABLE_TYPES)} question; "
                    f"{key!r} is {question['type']}",
                }
            ],
        )
    return GroupBy(source, key, question)


def item_categories(
    *, project: Project, key: str
) -> tuple[npt.NDArray[np.int64], list[str], npt.NDArray[np.int64]]:
    """Items with metadata key `key` (sorted ids), the distinct values (as text: JSON numbers
    and booleans as written) and each item's value code, in one query."""
    values = (
        Item.objects.filter(project=project)
        .annotate(value=KeyTextTransform(key, "metadata"))
        .filter(value__isnull=False)
        .order_by("pk")
        .values_list("pk", "value")
    )
    pairs = list(values.iterator(chunk_size=5000))
    items = np.array([pk for pk, _ in pairs], dtype=np.int64)
    names, code = np.unique(np.array([v for _, v in pairs], dtype=object), return_inverse=True)
    return items, [str(n) for n in names], code.reshape(-1).astype(np.int64)


def item_group_codes(
    row_item: npt.NDArray[np.int64], project: Project, key: str
) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Each row's item category code (-1 without one) and the categories' names."""
    items, names, code = item_categories(project=project, key=key)
    at = np.searchsorted(items, row_item)
    found = at < len(items)
    found[found] = items[at[found]] == row_item[found]
    row_code = np.full(len(row_item), -1, dtype=np.int64)
    row_code[found] = code[at[found]]
    return row_code, names


def profile_groups(
    *, project: Project, group_by: GroupBy, row_annotator: npt.NDArray[np.int64]
) -> tuple[dict[str, BoolArray], dict[str, int]]:
    """The rows of each group of annotators that may be shown, and its number of annotators
    (groups_at_least_k with the project's min_group_annotators)."""
    assert group_by.question is not None
    members = profile_members(project=project, question=dict(group_by.question))
    return groups_at_least_k(
        row_annotator,
        members.annotator,
        members.group,
        members.names,
        project.min_group_annotators,
    )


def profile_state(*, project: Project) -> str:
    """A token that changes whenever an annotator's answers do (one query): part of the
    cache key of figures by profile, so a changed answer is never served from the cache."""
    state = SurveyAnswers.objects.filter(project=project).aggregate(
        n=Count("pk"), last=Max("updated_at")
    )
    last = state["last"].isoformat() if state["last"] else ""
    return f"{state['n']}:{last}"


def cache_key(prefix: str, *parts: Any) -> str:
    """A cache key for figures by group: hashed, so neither a free-text metadata key nor
    anything about a group appears in it."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return f"{prefix}:{digest}"


@dataclass(frozen=True)
class CachedFigures:
    """Figures by group and when the report they come from was computed; `stale` when they
    are the previous report's (or answers'), served while the worker computes these."""

    figures: dict[str, Any]
    computed_at: str
    stale: bool = False


def group_figures_cached(
    *,
    figure: str,
    report: AgreementReport,
    query: list[Any],
    state: list[Any],
    compute: Callable[[], dict[str, Any]],
    stale_ok: bool,
) -> CachedFigures:
    """The figures of `query` (the parameters and group settings) from `report` and the
    answers' `state`, computed once and cached. With `stale_ok` (a request, with a worker)
    figures not computed yet are not fitted here when earlier ones of the same query exist:
    those are served, marked stale, and the worker's computation is queued (the same
    stale-while-recompute as a report's). The group settings are part of the query, so
    figures under other k-anonymity settings are never served."""
    computed_at = report.computed_at.isoformat()
    current = cache_key(figure, report.project_id, report.pk, computed_at, *query, *state)
    latest = cache_key(f"{figure}-latest", report.project_id, *query)
    figures = cache.get(current)
    if figures is None and stale_ok and not settings.CELERY_TASK_ALWAYS_EAGER:
        previous = cache.get(latest)
        if previous is not None:
            group_figures_warm_soon(project_id=report.project_id, report_id=report.pk)
            return CachedFigures(previous["figures"], previous["computed_at"], stale=True)
    if figures is None:
        figures = compute()
        cache.set(current, figures, CACHE_SECONDS)
        cache.set(latest, {"figures": figures, "computed_at": computed_at}, CACHE_SECONDS)
    return CachedFigures(figures, computed_at)


# ------------------------------------------------------------------ agreement by group


def _agreement_rows(table: JudgmentTable, annotator_kind: str) -> JudgmentTable:
    """The judgments a kind's agreement counts (not on gold tasks)."""
    if annotator_kind == "all":
        keep = np.ones(len(table), dtype=bool)
    else:
        keep = table.is_model == (annotator_kind == "model")
    return table.subset(keep & ~table.is_gold)


def _group_report(regular: JudgmentTable, project: Project, criteria: list) -> dict[str, Any]:
    ratings, _, _ = kind_ratings(regular, project, criteria)
    return {
        "criteria": agreement_reports(ratings, n_boot=N_BOOT) if len(regular) else {},
        "n_annotators": len(np.unique(regular.annotator)),
        "n_judgments": len(regular),
    }


def _cross_group(
    regular: JudgmentTable, project: Project, criteria: list, groups: dict[str, BoolArray]
) -> dict[str, list[dict[str, Any]]]:
    """Whether the groups' majority labels agree: the pairwise choice (`overall`), or each
    criterion of a rubric project."""
    labelled: dict[str, tuple[npt.NDArray[np.int64], int]] = {}
    if project.is_pairwise:
        labelled["overall"] = (regular.choice, len(CHOICES))
    else:
        for criterion in criteria:
            values = regular.criteria[criterion.key]
            labelled[criterion.key] = (values - criterion.min, criterion.max - criterion.min + 1)
    cross = {}
    for name, (label, n_labels) in labelled.items():
        keep = (label >= 0) & (label < n_labels)
        cross[name] = majority_agreement_between(
            regular.task[keep],
            label[keep],
            regular.item[keep],
            {group: mask[keep] for group, mask in groups.items()},
            n_labels=n_labels,
            n_boot=N_BOOT,
        )
    return cross


def agreement_by_group(
    *,
    project: Project,
    report: AgreementReport,
    annotator_kind: str,
    group_by: GroupBy,
    stale_ok: bool = False,
) -> CachedFigures:
    """Each group's agreement (the report's figures over the group's judgments only) and, by
    profile, how often two groups' majority labels agree; computed once per report (with
    `stale_ok`, the previous ones while the worker computes them: group_figures_cached)."""

    def compute() -> dict[str, Any]:
        table = judgment_table(project=project, up_to_id=report.last_judgment_id)
        regular = _agreement_rows(table, annotator_kind)
        criteria = [c for c in project.criteria.all() if not c.is_spans]
        if group_by.source == "profile":
            masks, _ = profile_groups(
                project=project, group_by=group_by, row_annotator=regular.annotator
            )
            return {
                "by": group_by.name,
                "min_group_annotators": project.min_group_annotators,
                "groups": {
                    name: _group_report(regular.subset(mask), project, criteria)
                    for name, mask in masks.items()
                },
                "cross_group": _cross_group(regular, project, criteria, masks),
            }
        code, names = item_group_codes(regular.item, project, group_by.key)
        counts = np.bincount(code[code >= 0], minlength=len(names))
        least = max(project.min_group_votes, 1)
        return {
            "by": group_by.name,
            "min_group_votes": project.min_group_votes,
            "groups": {
                names[g]: _group_report(regular.subset(code == g), project, criteria)
                for g in np.flatnonzero(counts >= least)
            },
            "groups_left_out": int(np.count_nonzero((counts > 0) & (counts < least))),
        }

    query: list[Any] = [annotator_kind, group_by.name]
    state: list[Any] = []
    if group_by.source == "profile":
        query.append(project.min_group_annotators)
        state.append(profile_state(project=project))
    else:
        query.append(project.min_group_votes)
    return group_figures_cached(
        figure="agreement-by",
        report=report,
        query=query,
        state=state,
        compute=compute,
        stale_ok=stale_ok,
    )


def agreement_by_current(
    *, project: Project, annotator_kind: str = DEFAULT_KIND, group_by: GroupBy
) -> dict[str, Any]:
    """The agreement by group as the API gives it (pairwise and rubric projects; a ranking
    project is a 400)."""
    if project.is_ranking:
        raise ValidationFailed(
            "Agreement by group is read on pairwise choices or rubric scores; "
            f"project {project.slug!r} is a ranking project.",
            errors=[{"field": "by", "error": "pairwise and rubric projects only"}],
        )
    state = report_current(project=project)
    body = {**report_state_fields(state), "annotator_kind": annotator_kind}
    if state.report is None:
        return {**body, "by": group_by.name, "groups": {}}
    group_figures_remember(
        project_id=project.pk,
        query={"figure": "agreement", "by": group_by.name, "annotator_kind": annotator_kind},
    )
    cached = agreement_by_group(
        project=project,
        report=state.report,
        annotator_kind=annotator_kind,
        group_by=group_by,
        stale_ok=True,
    )
    return {**body, **cached_figures_fields(cached), **cached.figures}


def cached_figures_fields(cached: CachedFigures) -> dict[str, Any]:
    """What an answer serving earlier figures says instead of its report's `computed_at` and
    `stale`: when their report was computed, and that they are stale."""
    if not cached.stale:
        return {}
    return {"computed_at": cached.computed_at, "stale": True}
