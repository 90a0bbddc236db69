"""The leaderboard with style control (`?style_control=true`), by category
(`?by=metadata.<key>`, README "Style control and category leaderboards") and by annotator
profile (`?by=profile.<key>`, README "Figures by group": groups of annotators, k-anonymous).

Both are fitted when first asked for, from the votes the current report covers (its
`last_judgment_id`), and kept in the cache for that report: the stored report stays as small
and as fast to compute as before, and a project nobody asks this of pays nothing. The same
votes count as in the plain leaderboard (no gold, no self-pairs; the annotator kind; flagged
and blocked annotators left out unless asked).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from django.core.cache import cache

from annotation.errors import ValidationFailed
from annotation.models import AgreementReport, Project, Response, Task
from annotation.selectors.judgment_table import judgment_table
from annotation.selectors.quality import flagged_annotator_ids
from annotation.services.groups import (
    CachedFigures,
    GroupBy,
    cache_key,
    cached_figures_fields,
    group_by_parse,
    group_figures_cached,
    include_sensitive_param,
    item_group_codes,
    profile_groups,
    profile_state,
)
from annotation.services.reports import (
    board_as_api,
    group_figures_remember,
    leaderboard_current,
    report_current,
    report_state_fields,
)
from annotation.stats import (
    STYLE_COVARIATES,
    aggregate_votes,
    leaderboard_from_counts,
    style_cells,
    style_covariates,
    style_features,
    style_leaderboard,
)
from annotation.stats.groups import rating_differences

#: Bootstrap rounds of a style-controlled fit (Chatbot Arena uses 100): fewer than the plain
#: leaderboard's 1000, as each round refits every vote; bench/README.md gives the times.
STYLE_N_BOOT = 200
#: Bootstrap rounds of a plain category leaderboard (fitted from its win table: cheap).
GROUP_N_BOOT = 1000
#: How long a fitted leaderboard is kept in the cache (a new report makes a new key).
CACHE_SECONDS = 24 * 3600
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class LeaderboardOptions:
    style_control: bool = False
    by: GroupBy | None = None

    @property
    def plain(self) -> bool:
        return not self.style_control and self.by is None


def leaderboard_options(params: Mapping[str, Any], *, project: Project) -> LeaderboardOptions:
    """`style_control`, `by` and `include_sensitive` as a GET gives them; a bad value (or a
    sensitive question without include_sensitive) is a 400 naming it."""
    style = str(params.get("style_control", "false")).strip().lower()
    if style not in TRUE_WORDS + FALSE_WORDS:
        raise ValidationFailed(
            "The query is not valid.",
            errors=[{"field": "style_control", "error": "must be true or false"}],
        )
    include_sensitive = include_sensitive_param(params)
    by = params.get("by")
    group_by = None
    if by is not None:
        group_by = group_by_parse(project=project, by=by, include_sensitive=include_sensitive)
    return LeaderboardOptions(style_control=style in TRUE_WORDS, by=group_by)


@dataclass
class Votes:
    """The usable votes of one leaderboard variant, one entry per vote."""

    model_a: npt.NDArray[np.int64]
    model_b: npt.NDArray[np.int64]
    outcome: npt.NDArray[np.float64]
    task: npt.NDArray[np.int64]
    item: npt.NDArray[np.int64]
    annotator: npt.NDArray[np.int64]
    models: list[str]
    #: The covariate features (STYLE_COVARIATES) of each vote's response a and b, (N, K).
    features_a: npt.NDArray[np.float64] | None = None
    features_b: npt.NDArray[np.float64] | None = None

    def subset(self, mask: npt.NDArray[np.bool_]) -> Votes:
        return Votes(
            self.model_a[mask],
            self.model_b[mask],
            self.outcome[mask],
            self.task[mask],
            self.item[mask],
            self.annotator[mask],
            self.models,
            None if self.features_a is None else self.features_a[mask],
            None if self.features_b is None else self.features_b[mask],
        )


def _votes(
    project: Project, report: AgreementReport, annotator_kind: str, exclude_flagged: bool
) -> Votes:
    table = judgment_table(project=project, up_to_id=report.last_judgment_id)
    keep = ~table.is_gold & (table.choice >= 0) & (table.model_a >= 0) & (table.model_b >= 0)
    keep &= (table.model_a != table.model_b) & ~table.identity_leak
    if annotator_kind != "all":
        keep &= table.is_model == (annotator_kind == "model")
    if exclude_flagged:
        flagged = [row["pk"] for row in flagged_annotator_ids(project=project)]
        keep &= ~np.isin(table.annotator, np.array(flagged, dtype=np.int64))
    choice = table.choice[keep]
    return Votes(
        model_a=table.model_a[keep],
        model_b=table.model_b[keep],
        outcome=np.where(choice == 0, 1.0, np.where(choice == 1, 0.0, 0.5)),
        task=table.task[keep],
        item=table.item[keep],
        annotator=table.annotator[keep],
        models=table.models,
    )


def response_styles_fill(*, project: Project) -> int:
    """Count the style features of the project's responses that have none yet (made by a
    path other than the import, e.g. before the migration finished); returns how many."""
    missing = list(Response.objects.filter(item__project=project, style={}).only("pk", "text"))
    for response in missing:
        response.style = style_features(response.text)
    Response.objects.bulk_update(missing, ["style"], batch_size=2000)
    return len(missing)


def _task_features(
    project: Project, tasks: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The covariate features (STYLE_COVARIATES) of each vote's response a and b."""
    response_styles_fill(project=project)
    ids, position = np.unique(tasks, return_inverse=True)
    # Every task of the project in one query (no list of ids: SQLite limits parameters).
    rows = Task.objects.filter(project=project).values_list(
        "pk", "response_a__style", "response_b__style"
    )
    features = np.zeros((2, len(ids), len(STYLE_COVARIATES)))
    for pk, style_a, style_b in rows.iterator(chunk_size=5000):
        at = np.searchsorted(ids, pk)
        if at < len(ids) and ids[at] == pk:
            features[0, at] = [style_a.get(name, 0) for name in STYLE_COVARIATES]
            features[1, at] = [(style_b or {}).get(name, 0) for name in STYLE_COVARIATES]
    return features[0][position], features[1][position]


def _board_rows(board: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    return [
        {"model": names[r["model_index"]], "rating": r["rating"], "ci": r["ci"], "n": r["n"]}
        for r in board["leaderboard"]
    ]


def _styled(votes: Votes) -> dict[str, Any]:
    assert votes.features_a is not None and votes.features_b is not None
    x, scale = style_covariates(votes.features_a, votes.features_b)
    cells = style_cells(votes.model_a, votes.model_b, votes.outcome, x, scale=scale)
    board = style_leaderboard(cells, len(votes.models), n_boot=STYLE_N_BOOT)
    return {
        "results": _board_rows(board, votes.models),
        "style_coefficients": board["style_coefficients"],
        "n_votes": board["n_votes"],
        "n_boot": board["n_boot"],
        "ties": "half a win each",
    }


def _plain_fit(votes: Votes, seed: int = 0) -> dict[str, Any]:
    """The Bradley-Terry fit with its bootstrap rounds kept (to compare groups' ratings)."""
    tables = aggregate_votes(votes.model_a, votes.model_b, votes.outcome, len(votes.models))
    return leaderboard_from_counts(*tables, n_boot=GROUP_N_BOOT, seed=seed, keep_boot=True)


def _group_seed(name: str) -> int:
    """A bootstrap seed of its own for each group, the same in every request: two groups'
    rounds must be independent draws for their differences' intervals to hold."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def _vote_groups(
    votes: Votes, project: Project, group_by: GroupBy
) -> tuple[dict[str, npt.NDArray[np.bool_]], dict[str, dict[str, Any]], dict[str, Any]]:
    """The votes of each group shown, each group's counts, and what the answer says about the
    grouping: by profile the groups of at least min_group_annotators annotators (the rest
    merged into `other`), by metadata those of at least min_group_votes votes."""
    if group_by.source == "profile":
        masks, n_annotators = profile_groups(
            project=project, group_by=group_by, row_annotator=votes.annotator
        )
        counts = {
            name: {"n": int(mask.sum()), "n_annotators": n_annotators[name]}
            for name, mask in masks.items()
        }
        return masks, counts, {"min_group_annotators": project.min_group_annotators}
    code, names = item_group_codes(votes.item, project, group_by.key)
    per_group = np.bincount(code[code >= 0], minlength=len(names))
    least = max(project.min_group_votes, 1)
    shown = np.flatnonzero(per_group >= least)
    masks = {names[g]: code == g for g in shown}
    counts = {names[g]: {"n": int(per_group[g])} for g in shown}
    left_out = int(np.count_nonzero((per_group > 0) & (per_group < least)))
    return masks, counts, {"min_group_votes": project.min_group_votes, "groups_left_out": left_out}


def _grouped(votes: Votes, project: Project, options: LeaderboardOptions) -> dict[str, Any]:
    """One leaderboard per group and, for plain fits, each two groups' rating differences."""
    assert options.by is not None
    masks, counts, about = _vote_groups(votes, project, options.by)
    groups: dict[str, Any] = {}
    fits: dict[str, dict[str, Any]] = {}
    for name, mask in masks.items():
        if options.style_control:
            board = _styled(votes.subset(mask))
        else:
            fits[name] = _plain_fit(votes.subset(mask), seed=_group_seed(name))
            board = board_as_api(fits[name], votes.models)
        groups[name] = {**board, **counts[name]}
    body = {"by": options.by.name, **about, "groups": groups}
    if not options.style_control:
        body["differences"] = [
            {
                "groups": [one, other],
                "models": rating_differences(fits[one], fits[other], votes.models),
            }
            for position, one in enumerate(fits)
            for other in list(fits)[position + 1 :]
        ]
    return body


def leaderboard_with_options(
    *,
    project: Project,
    report: AgreementReport,
    annotator_kind: str,
    exclude_flagged: bool,
    options: LeaderboardOptions,
    stale_ok: bool = False,
) -> CachedFigures:
    """The style-controlled and/or category leaderboard of the votes `report` covers,
    fitted once per report and options (the cache keeps it; the fits are seeded, so two
    requests at once agree); by group with `stale_ok`, the previous ones while the worker
    fits them (group_figures_cached)."""

    def fit() -> dict[str, Any]:
        votes = _votes(project, report, annotator_kind, exclude_flagged)
        if options.style_control:
            votes.features_a, votes.features_b = _task_features(project, votes.task)
        if options.by is not None:
            return _grouped(votes, project, options)
        return _styled(votes)

    query: list[Any] = [annotator_kind, exclude_flagged, options.style_control]
    query.append(project.min_group_votes)
    if options.by is None:
        parts = [report.project_id, report.pk, report.computed_at.isoformat(), *query]
        board = cache.get_or_set(cache_key("leaderboard-options", *parts), fit, CACHE_SECONDS)
        return CachedFigures(board, report.computed_at.isoformat())
    query.append(options.by.name)
    state: list[Any] = []
    if options.by.source == "profile":
        query.append(project.min_group_annotators)
        state.append(profile_state(project=project))
    return group_figures_cached(
        figure="leaderboard-options",
        report=report,
        query=query,
        state=state,
        compute=fit,
        stale_ok=stale_ok,
    )


def leaderboard_current_with_options(
    *,
    project: Project,
    annotator_kind: str,
    exclude_flagged: bool,
    options: LeaderboardOptions,
) -> dict[str, Any]:
    """The leaderboard as the API gives it: the stored one (leaderboard_current), or with
    style control and/or by category (pairwise projects only; a ranking or rubric project
    is a 400)."""
    if options.plain:
        return leaderboard_current(
            project=project, annotator_kind=annotator_kind, exclude_flagged=exclude_flagged
        )
    if not project.is_pairwise:
        raise ValidationFailed(
            "Style control and category leaderboards rank models from pairwise judgments; "
            f"project {project.slug!r} is a {project.kind} project.",
            errors=[
                {
                    "field": "style_control" if options.style_control else "by",
                    "error": "pairwise only",
                }
            ],
        )
    state = report_current(project=project)
    body: dict[str, Any] = {
        **report_state_fields(state),
        "annotator_kind": annotator_kind,
        "exclude_flagged": exclude_flagged,
        "style_control": options.style_control,
    }
    if state.report is None:
        empty = {"results": [], "n_votes": 0}
        if options.style_control:
            empty["style_coefficients"] = {}
        if options.by is not None:
            empty = {"by": options.by.name, "groups": {}}
        return {**body, **empty}
    if options.by is not None:
        query = {
            "figure": "leaderboard",
            "by": options.by.name,
            "annotator_kind": annotator_kind,
            "exclude_flagged": exclude_flagged,
            "style_control": options.style_control,
        }
        group_figures_remember(project_id=project.pk, query=query)
    cached = leaderboard_with_options(
        project=project,
        report=state.report,
        annotator_kind=annotator_kind,
        exclude_flagged=exclude_flagged,
        options=options,
        stale_ok=True,
    )
    return {**body, **cached_figures_fields(cached), **cached.figures}
