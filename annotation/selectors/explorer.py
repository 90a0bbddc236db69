"""The data explorer (README "Researchers"): a project's tasks under filters and a full-text
search of their prompts, and everything one item holds (its tasks' judgments, with the side
each annotator saw, and their labels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Greatest

from annotation.exports.readers import pair_labels, passing_judgments, rubric_summary
from annotation.exports.readers.rewrites import diff_pieces
from annotation.models import (
    AgreementReport,
    AnnotatorStats,
    Item,
    Judgment,
    Project,
    Response,
    Task,
)
from annotation.rankings import mean_places, ranking_text, screen_labels
from annotation.selectors.judgment_table import CHOICES
from annotation.selectors.quality import flagged_annotator_ids
from annotation.selectors.review import REVIEW_FILTERS, TaskLabelsShown, task_labels_shown
from annotation.spans import span_pieces

#: The votes the explorer counts and labels: the review queue's (people's, flagged and
#: blocked annotators left out, gold tasks' votes kept), so a task the queue calls split is
#: split here too.
VOTE_FILTERS = REVIEW_FILTERS

#: The text search configuration: 'simple' (lower-cased words, no stemming) because a
#: project's prompts may be in any language. The index in migration 0019 is built on the
#: same expression.
SEARCH_CONFIG = "simple"


class PromptVector(Func):
    """The words of an item's prompt, a string or the contents of its messages
    (PostgreSQL's to_tsvector of a jsonb value reads its string values only)."""

    template = f"to_tsvector('{SEARCH_CONFIG}'::regconfig, %(expressions)s)"
    output_field = SearchVectorField()


@dataclass(frozen=True)
class ExplorerFilters:
    """What the explorer's form asks for; empty values filter nothing."""

    search: str = ""
    model: str = ""
    meta_key: str = ""
    meta_value: str = ""
    share_min: float | None = None
    share_max: float | None = None
    split: bool = False
    cyclic: bool = False
    gold: bool | None = None
    flagged: bool = False
    rubric_version: int | None = None


def prompt_search(*, project: Project, text: str) -> QuerySet[Item]:
    """The project's items whose prompt holds the words of `text` (web-search syntax:
    "quoted phrases", -excluded words, or). PostgreSQL uses its full-text search on an
    index; elsewhere (SQLite in development) a case-insensitive substring of the prompt."""
    items = Item.objects.filter(project=project)
    if connection.vendor != "postgresql":
        return items.annotate(prompt_text=Cast("prompt", TextField())).filter(
            prompt_text__icontains=text
        )
    query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
    return items.annotate(prompt_words=PromptVector("prompt")).filter(prompt_words=query)


@dataclass(frozen=True)
class CyclicItems:
    """The items the latest report names as holding a cycle of majority preferences (the
    report lists CONSISTENCY_LISTED of them at most, most cycles first; `total` counts all)."""

    item_ids: list[int]
    total: int


def cyclic_items(*, project: Project) -> CyclicItems | None:
    """What the latest good report says of cycles, or None when it holds no consistency
    details (no report yet, or one from before they were kept): then the explorer offers no
    such filter. One query."""
    report = (
        AgreementReport.objects.filter(project=project, failed=False)
        .order_by("-computed_at", "-pk")
        .values_list("report", flat=True)
        .first()
    )
    details = (report or {}).get("consistency_details") if isinstance(report, dict) else None
    if not isinstance(details, dict):
        return None
    listed = [int(row["item_id"]) for row in details.get("cyclic_items", [])]
    return CyclicItems(item_ids=listed, total=int(details.get("n_cyclic_items", len(listed))))


def vote_counts(*, project: Project) -> QuerySet:
    """One row per pairwise task with a counted vote: `task_id`, `n_votes`, `n_a`, `n_b`,
    `n_tie`, `n_both_bad`, `top` (the most frequent answer's votes), `share` (top / n_votes)
    and `needed` (the votes an answer needs for the task not to be split: the project's
    review_min_share of them), grouped by task alone so it stays narrow."""
    votes = passing_judgments(project=project, filters=VOTE_FILTERS).filter(choice__in=CHOICES)
    return (
        votes.order_by()
        .values("task_id")
        .annotate(
            n_votes=Count("pk"),
            **{f"n_{choice}": Count("pk", filter=Q(choice=choice)) for choice in CHOICES},
        )
        .annotate(top=Greatest(*(F(f"n_{choice}") for choice in CHOICES)))
        .annotate(
            share=ExpressionWrapper(
                Cast("top", FloatField()) / Cast("n_votes", FloatField()),
                output_field=FloatField(),
            ),
            needed=ExpressionWrapper(
                F("n_votes") * project.review_min_share, output_field=FloatField()
            ),
        )
    )


def explorer_task_ids(
    *, project: Project, filters: ExplorerFilters, cyclic: CyclicItems | None = None
) -> QuerySet:
    """The ids of the project's tasks passing the filters, in order: one statement over
    narrow rows (votes are counted only when a filter is on them). Count it and slice it
    to paginate, then read a page with explorer_page."""
    tasks = Task.objects.filter(project=project)
    if filters.search:
        tasks = tasks.filter(item__in=prompt_search(project=project, text=filters.search))
    if filters.model:
        model = filters.model
        if project.is_ranking:  # a ranking task shows every response of its item
            shown = Response.objects.filter(item_id=OuterRef("item_id"), model=model)
            tasks = tasks.filter(Exists(shown))
        else:
            tasks = tasks.filter(Q(response_a__model=model) | Q(response_b__model=model))
    if filters.meta_key:
        tasks = tasks.annotate(
            meta_value=Cast(KeyTextTransform(filters.meta_key, "item__metadata"), TextField())
        ).filter(meta_value=filters.meta_value)
    counted = vote_counts(project=project)
    if project.is_pairwise and filters.share_min is not None:
        counted = counted.filter(share__gte=filters.share_min)
    if project.is_pairwise and filters.share_max is not None:
        counted = counted.filter(share__lte=filters.share_max)
    if project.is_pairwise and filters.split:
        counted = counted.filter(top__lt=F("needed"))
    if project.is_pairwise and (
        filters.share_min is not None or filters.share_max is not None or filters.split
    ):
        tasks = tasks.filter(pk__in=counted.values("task_id"))
    if filters.cyclic and cyclic is not None:
        tasks = tasks.filter(item_id__in=cyclic.item_ids)
    if filters.gold is not None:
        tasks = tasks.filter(is_gold=filters.gold)
    if filters.flagged:
        flagged = Judgment.objects.filter(
            task=OuterRef("pk"), annotator_id__in=flagged_annotator_ids(project=project)
        )
        tasks = tasks.filter(Exists(flagged))
    if filters.rubric_version is not None:
        versioned = Judgment.objects.filter(
            task=OuterRef("pk"), rubric_version=filters.rubric_version
        )
        tasks = tasks.filter(Exists(versioned))
    # A search sorts its matches rather than walking the tasks in id order: with a small
    # LIMIT (a one-task page) PostgreSQL otherwise took the ordered walk and read every
    # prompt's words to test each task (0.29 s instead of 1 ms on 20,000 items).
    order = F("pk") + 0 if filters.search else F("pk")
    return tasks.order_by(order).values_list("pk", flat=True)


def explorer_page(*, project: Project, task_ids: list[int]) -> list[Task]:
    """A page of tasks with their item, responses, the latest report's label and the
    adjudication, each carrying `n_votes` and, when pairwise, vote_counts' other columns
    (None without votes). Two queries whatever the page holds."""
    tasks = Task.objects.select_related(
        "item", "response_a", "response_b", "adjudication", "label"
    ).in_bulk(task_ids)
    columns = ("n_votes", *(f"n_{choice}" for choice in CHOICES), "top", "share", "needed")
    if project.is_pairwise:
        counts = {
            row["task_id"]: row for row in vote_counts(project=project).filter(task_id__in=task_ids)
        }
    else:
        counts = {
            row["task_id"]: row
            for row in passing_judgments(project=project, filters=VOTE_FILTERS)
            .filter(task_id__in=task_ids)
            .order_by()
            .values("task_id")
            .annotate(n_votes=Count("pk"))
        }
    page = [tasks[pk] for pk in task_ids if pk in tasks]
    for task in page:
        row = counts.get(task.pk, {})
        for name in columns:
            setattr(task, name, row.get(name, 0 if name.startswith("n_") else None))
    return page


def explorer_models(*, project: Project) -> list[str]:
    """The models of the project's responses, for the model filter (one query)."""
    return list(
        Response.objects.filter(item__project=project)
        .order_by("model")
        .values_list("model", flat=True)
        .distinct()
    )


def explorer_rubric_summaries(*, project: Project, tasks: list[Task]) -> dict[int, dict[str, Any]]:
    """{task id: rubric_summary of its passing judgments} for a page of a rubric project's
    tasks (one query for the scores, one for the criteria)."""
    criteria = tuple(c for c in project.criteria.all() if not c.is_spans)  # marks, not scores
    scores: dict[int, list[dict[str, Any]]] = {task.pk: [] for task in tasks}
    rows = (
        passing_judgments(project=project, filters=VOTE_FILTERS)
        .filter(task_id__in=list(scores))
        .values_list("task_id", "scores")
    )
    for task_id, stored in rows:
        scores[task_id].append(stored or {})
    return {task_id: rubric_summary(values, criteria) for task_id, values in scores.items()}


# ---------------------------------------------------------------- one item


#: Canonical choice -> what the annotator's screen called it, given which response was on
#: the left ("Response A" on the screen is always the left one).
SCREEN = {True: {"a": "A (left)", "b": "B (right)"}, False: {"a": "B (right)", "b": "A (left)"}}


@dataclass
class JudgmentShown:
    judgment: Judgment
    choice: str  # canonical: a, b, tie, both_bad (or "" for a rubric rating)
    screen: str | None  # the button as the annotator saw it; None when the side is unknown
    criteria: list[tuple[str, str, str | None]]  # (key, canonical, on screen)
    flags: list[str]
    counted: bool
    ranking: str | None = None  # a ranking by response ids: "r3 > r1 = r4 > r2"
    ranking_screen: str | None = None  # the same in the labels the annotator saw
    marked: list[MarkedResponse] = field(default_factory=list)  # its spans, per response
    verdicts: list[tuple[str, bool, str]] = field(default_factory=list)  # (key, good, reason)
    rewrite: RewriteShown | None = None


@dataclass(frozen=True)
class MarkedResponse:
    """A response's text with a judgment's marks on it: pieces (text, the spans covering it,
    the labels of those starting there) to highlight, and the spans listed."""

    name: str
    pieces: list[tuple[str, list[dict[str, Any]], list[str]]]
    spans: list[dict[str, Any]]


def _labelled_pieces(
    text: str, spans: list[dict[str, Any]]
) -> list[tuple[str, list[dict[str, Any]], list[str]]]:
    """span_pieces, each with the labels of the marks that start at it: the page writes them
    before the highlight, so a label is seen and read, not only a hover's title."""
    pieces = []
    at = 0
    for piece, covering in span_pieces(text, spans):
        pieces.append((piece, covering, [s["label"] for s in covering if s["start"] == at]))
        at += len(piece)
    return pieces


@dataclass(frozen=True)
class RewriteShown:
    """A rewrite and the response it replaces, as a character diff: (op, text) pieces."""

    of: str
    text: str
    diff: list[tuple[str, str]]


@dataclass
class TaskShown:
    task: Task
    judgments: list[JudgmentShown] = field(default_factory=list)
    labels: TaskLabelsShown | None = None
    summary: dict[str, Any] | None = None  # a rubric task's rubric_summary
    gold: str | None = None
    places: list[tuple[str, float]] | None = None  # a ranking task's mean place per response


#: Answers that name no side read the same on any screen.
SIDELESS = {"tie": "Tie", "both_bad": "Both bad"}


def _on_screen(value: str, a_was_left: bool | None) -> str | None:
    if value not in ("a", "b"):
        return SIDELESS.get(value)
    return None if a_was_left is None else SCREEN[a_was_left][value]


def explorer_item_tasks(
    *, project: Project, item: Item, responses: list[Response] | None = None
) -> list[TaskShown]:
    """Every task of the item with every judgment of it (oldest first; the side each
    annotator saw, their flags in the project, whether the labels count it) and its labels:
    majority and Dawid-Skene from the labels export's computation (pair_labels) on a
    pairwise project, the rubric export's summary on a rubric one; each judgment's spans on
    the response texts, verdict reasons and rewrite (`responses`: the item's, when the
    caller has read them). A fixed number of queries, whatever the number of tasks,
    judgments and annotators."""
    tasks = list(
        Task.objects.filter(item=item)
        .select_related("response_a", "response_b", "adjudication__researcher")
        .order_by("pk")
    )
    shown = {task.pk: TaskShown(task=task) for task in tasks}
    judgments = list(
        Judgment.objects.filter(task__in=list(shown))
        .select_related("annotator")
        .order_by("task_id", "created_at", "pk")
    )
    annotators = {j.annotator_id for j in judgments}
    stats = {
        row["annotator_id"]: row
        for row in AnnotatorStats.objects.filter(
            project=project, annotator_id__in=annotators
        ).values("annotator_id", "flags", "is_blocked")
    }
    passing = set(
        passing_judgments(project=project, filters=VOTE_FILTERS)
        .filter(task_id__in=list(shown))
        .values_list("pk", flat=True)
    )
    names = response_names(item_ids=[item.pk]) if project.is_ranking else {}
    if responses is None:
        responses = list(item.responses.all())
    by_pk = {response.pk: response for response in responses}
    for judgment in judgments:
        task = shown[judgment.task_id].task
        a_was_left = (
            None if judgment.shown_left_id is None else judgment.shown_left_id == task.response_a_id
        )
        row = stats.get(judgment.annotator_id) or {}
        flags = [str(flag) for flag in row.get("flags") or []]
        if row.get("is_blocked"):
            flags.append("blocked in this project")
        if judgment.annotator.is_blocked:
            flags.append("blocked site-wide")
        criteria = [
            (key, str(value), _on_screen(str(value), a_was_left))
            for key, value in sorted((judgment.criteria or {}).items())
        ]
        shown[judgment.task_id].judgments.append(
            JudgmentShown(
                judgment=judgment,
                choice=judgment.choice,
                screen=_on_screen(judgment.choice, a_was_left),
                criteria=criteria,
                flags=flags,
                counted=judgment.pk in passing,
                **_ranking_shown(judgment, names),
                **_marks_shown(judgment, by_pk),
            )
        )
    if project.is_ranking:
        for entry in shown.values():
            counted = [
                j.judgment.ranking for j in entry.judgments if j.counted and j.judgment.ranking
            ]
            entry.places = [(names[pk], place) for pk, place in mean_places(counted)]
            gold = entry.task.gold_answer
            if isinstance(gold, dict) and "ranking" in gold:
                entry.gold = ranking_text(gold["ranking"], names)
    elif project.is_pairwise:
        labels, _ = pair_labels(project=project, filters=VOTE_FILTERS)
        for entry in shown.values():
            entry.labels = task_labels_shown(labels, entry.task.pk)
            gold = entry.task.gold_answer
            entry.gold = gold.get("choice") if isinstance(gold, dict) else None
    else:
        criteria = tuple(c for c in project.criteria.all() if not c.is_spans)  # marks, not scores
        for entry in shown.values():
            scores = [j.judgment.scores or {} for j in entry.judgments if j.counted]
            entry.summary = rubric_summary(scores, criteria)
    return list(shown.values())


def response_names(*, item_ids: list[int]) -> dict[int, str]:
    """{response id: "external id (model)"} of the items' responses (one query): how the
    console names the responses of a ranking."""
    rows = Response.objects.filter(item_id__in=item_ids).values_list("pk", "external_id", "model")
    return {pk: f"{external_id} ({model})" for pk, external_id, model in rows}


def _marks_shown(judgment: Judgment, responses: dict[int, Response]) -> dict[str, Any]:
    """A judgment's spans on the texts they mark, its verdicts with their reasons and its
    rewrite against the original, as the item page shows them."""

    def name(response: Response) -> str:
        return f"{response.external_id} ({response.model})"

    shown: dict[str, Any] = {}
    by_response: dict[int, list[dict[str, Any]]] = {}
    for span in judgment.spans or []:
        by_response.setdefault(span["response"], []).append(span)
    shown["marked"] = [
        MarkedResponse(
            name(responses[pk]),
            _labelled_pieces(responses[pk].text, spans),
            [{**s, "text": responses[pk].text[s["start"] : s["end"]]} for s in spans],
        )
        for pk, spans in by_response.items()
        if pk in responses
    ]
    reasons = judgment.reasons or {}
    shown["verdicts"] = [
        (key, value, reasons.get(key, ""))
        for key, value in (judgment.scores or {}).items()
        if isinstance(value, bool)
    ]
    original = responses.get(judgment.rewrite_of_id) if judgment.rewrite else None
    if original is not None:
        shown["rewrite"] = RewriteShown(
            name(original), judgment.rewrite, diff_pieces(original.text, judgment.rewrite)
        )
    return shown


def _ranking_shown(judgment: Judgment, names: dict[int, str]) -> dict[str, str | None]:
    """A ranking judgment as the item page shows it: by response and as it was on screen."""
    if not judgment.ranking:
        return {}
    screen = None
    if judgment.shown_order:
        labels = dict(
            zip(judgment.shown_order, screen_labels(len(judgment.shown_order)), strict=True)
        )
        screen = ranking_text(judgment.ranking, labels)
    return {"ranking": ranking_text(judgment.ranking, names), "ranking_screen": screen}


def explorer_ranking_places(
    *, project: Project, tasks: list[Task]
) -> dict[int, list[tuple[str, float]]]:
    """{task id: mean place per response, best first} over the passing judgments of a page
    of a ranking project's tasks (one query for the rankings, one for the names)."""
    rankings: dict[int, list[Any]] = {task.pk: [] for task in tasks}
    rows = (
        passing_judgments(project=project, filters=VOTE_FILTERS)
        .filter(task_id__in=list(rankings))
        .exclude(ranking=None)
        .values_list("task_id", "ranking")
    )
    for task_id, ranking in rows:
        rankings[task_id].append(ranking)
    names = response_names(item_ids=[task.item_id for task in tasks])
    return {
        task_id: [(names[pk], place) for pk, place in mean_places(found)]
        for task_id, found in rankings.items()
    }


def item_judgment_counts(*, item_ids: list[int]) -> dict[int, int]:
    """{item id: judgments given on its tasks} of the judged ones among `item_ids` (one
    query): a judged item's prompt and responses are fixed, and it is not deleted."""
    rows = (
        Judgment.objects.filter(task__item_id__in=item_ids)
        .order_by()
        .values("task__item_id")
        .annotate(n=Count("pk"))
        .values_list("task__item_id", "n")
    )
    return dict(rows)
