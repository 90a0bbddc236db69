"""The dataset card of a snapshot: front matter the Hugging Face Hub reads, the
project's protocol, agreement, filters, the declared fields of its format and how to load
the file.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import yaml
from django.db.models import Count, Q, QuerySet

from annotation.exports.fields import ROW, field_table, fields_of
from annotation.exports.plan import ExportPlan, rubric_score_column
from annotation.exports.readers import passing_judgments
from annotation.licenses import hub_license
from annotation.models import Annotator, Criterion, Item, Judgment, Project, Snapshot
from annotation.selectors.reports import report_latest

INSTRUCTIONS_EXCERPT = 600
CARD_DATA_DIR = "data"  # where a folder download keeps the file, as the card's configs say


# ---------------------------------------------------------------- the dataset card

_KIND_TEXT = {
    Project.Kind.PAIRWISE: (
        "Pairwise comparison: annotators saw a prompt and two responses side by side "
        "(model names hidden, sides drawn at random) and chose the better one"
    ),
    Project.Kind.RUBRIC: (
        "Rubric rating: annotators saw a prompt and one response (model name hidden) "
        "and scored it on every criterion below"
    ),
    Project.Kind.ARENA: (
        "Arena: each annotator wrote a prompt (or picked one of the project's seed prompts), "
        "two models drawn from the project's endpoints answered it live side by side (names "
        "hidden until the vote), and the annotator chose the better answer; a conversation "
        "could go on for more turns with the same two models, each turn its own item"
    ),
    Project.Kind.RANKING: (
        "Listwise ranking: annotators saw a prompt and all of its responses (model names "
        "hidden), labelled A, B, C... in an order drawn at random for each annotator and "
        "kept with the judgment, and ordered them best first"
    ),
}

#: How a ranking became the pairs of a `dpo` file, by its `expand`.
_EXPAND_TEXT = {
    "adjacent": (
        "each response against each response of the next group down, and each pair of "
        "responses tied in one group a tie"
    ),
    "all": (
        "every pair of its responses, the higher-ranked one winning, and each pair tied in one "
        "group a tie"
    ),
    "best_worst": (
        "each response of its first group against each of its last (a ranking that ties "
        "everything, a tie on each pair)"
    ),
}


def _ranking_pairs_text(plan: ExportPlan) -> str:
    expand = plan.query.filters.expand or "adjacent"
    return (
        f"The pairs come from rankings (`source: ranking`, `expand: {expand}`): each ranking "
        f"gave a vote on {_EXPAND_TEXT[expand]}. Those votes are counted per pair of responses "
        "exactly as a pairwise task's votes are, each pair's row deciding by them as below; "
        "`pair_id` is made of the two responses' database ids."
    )


#: What the card says of a format beyond its fields (declared in annotation/exports/fields.py).
_FIELDS_NOTE = {
    "labels": (
        "Both computed labels were computed when this file was written, from the judgments "
        "passing the filters below; adjudications are as they were then."
    ),
    "rubric": "Judgments made under different criteria are never pooled.",
    "kto": (
        "Annotators judged one response at a time, good or bad on each verdict criterion; "
        "the rows are TRL's unpaired preference (KTO) format."
    ),
    "rewrites": (
        "Annotators edited a response they judged not good enough (rubric: the response; "
        "pairwise: the preferred one; ranking: the first)."
    ),
    "items": "It re-imports into a new project unchanged.",
    "annotators": (
        "Crowd platforms' worker ids are never exported. Consent and quality figures are as "
        "they were when the file was written."
    ),
    "spans": (
        "Annotators selected passages of a response and gave each a label of the project's "
        "spans criteria; offsets count Unicode code points of the response as imported."
    ),
    "spans_merged": (
        "Each annotator's marks of a label are united; the marked characters are cut wherever "
        "the number of annotators marking them changes. Offsets count Unicode code points."
    ),
}


def _fields_lines(plan: ExportPlan) -> list[str]:
    """The card's field list: the format's declared fields for this project's kind."""
    export_format = plan.query.format
    fields = fields_of(export_format, kind=plan.project.task_kind, uses=plan.uses)
    note = _FIELDS_NOTE.get(export_format)
    return [
        ROW[export_format] + (f" {note}" if note else ""),
        "",
        field_table(fields, kinds=False),
    ]


def _margin_text(project: Project) -> str:
    if project.strength_scale and project.is_pairwise:
        return (
            "`margin` is the mean preference strength (1 = slightly better ... 3 = much "
            "better) of the judgments behind the winner."
        )
    return "`margin` is (votes for the winner - votes for the loser) / all votes of the pair."


def _label_text(plan: ExportPlan) -> str:
    if plan.query.filters.label == "adjudicated":
        return (
            "Pairs are decided by a researcher's adjudication where there is one (a row when "
            "the researcher chose a or b, whatever the agreement and judgment filters; none "
            "for a tie or both bad), and by majority elsewhere: a row when a or b has more "
            "votes than any other answer. `agreement` is the share of the pair's judgments "
            "that agree with the winner."
        )
    if plan.query.filters.label == "hybrid":
        return (
            "Pairs are decided by people where people judged them (majority of their votes, "
            "as with label=majority) and, where no person did, by the plurality of the "
            "project's LLM judges' calibrated verdicts (each judged in both orders; a "
            "disagreement between orders is a tie, which gives no row). `label_source` says "
            "which: `human` or `judge`; `agreement` is the winner's share of the votes that "
            "decided."
        )
    if plan.query.filters.label == "dawid_skene":
        return (
            "Pairs are decided by their Dawid-Skene label (fitted when this file was written "
            "on every judgment passing the filters, each annotator weighed by their estimated "
            "reliability): a pair is a row when that label is a or b, and `agreement` is its "
            "posterior probability."
        )
    return (
        "Pairs are decided by majority: a row when a or b has more votes than any other "
        "answer (ties, 'both bad' and pairs without a single leader are left out); "
        "`agreement` is the winner's share of the pair's judgments."
    )


def _criteria_lines(criteria: Sequence[Criterion]) -> list[str]:
    lines = []
    for criterion in criteria:
        if criterion.is_verdict:
            line = f"- **{criterion.label}** (`{criterion.key}`, verdict: good or bad)"
        else:
            line = f"- **{criterion.label}** (`{criterion.key}`, {criterion.level}, "
            line += f"{criterion.min} to {criterion.max})"
        if criterion.description:
            line += f": {criterion.description.strip().rstrip('.')}"
        levels = [f"{score} = {label}" for score, label in criterion.levels() if label]
        if levels:
            line += f". Levels: {'; '.join(levels)}"
        lines.append(line + ".")
    return lines


def _agreement_lines(project: Project) -> list[str]:
    report = report_latest(project=project)
    if report is None:
        return ["No agreement report has been computed for this project yet."]
    lines = [
        f"From the project's latest report ({report.computed_at:%Y-%m-%d %H:%M} UTC, over "
        f"{report.n_judgments} judgments; human, non-gold judgments, whatever the export's "
        "filters):",
        "",
        "| criterion | Krippendorff's alpha | 95% interval | percent agreement | judgments |",
        "| --- | --- | --- | --- | --- |",
    ]

    def number(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, int | float) else "n/a"

    for key, figures in (report.report.get("criteria") or {}).items():
        alpha = figures.get("krippendorff_alpha") or {}
        percent = figures.get("percent_agreement") or {}
        interval = alpha.get("ci") or [None, None]
        lines.append(
            f"| {key} | {number(alpha.get('value'))} | "
            f"[{number(interval[0])}, {number(interval[1])}] | "
            f"{number(percent.get('value'))} | {figures.get('n_judgments', 'n/a')} |"
        )
    concordance = (report.report.get("criteria") or {}).get("overall", {}).get("kendall_w")
    if concordance:
        interval = concordance.get("ci") or [None, None]
        lines += [
            "",
            f"Kendall's W over the rankings: {number(concordance.get('value'))} "
            f"[{number(interval[0])}, {number(interval[1])}] over {concordance.get('n_items')} "
            "items ranked at least twice; alpha above is ordinal, over ranks.",
        ]
    return lines + _judge_lines(report.report.get("model_judges") or [], number)


def _judge_lines(judges: list[dict[str, Any]], number: Any) -> list[str]:
    """The model judges' measures against the people (README, LLM judges)."""
    if not judges:
        return []

    def interval(entry: dict[str, Any] | None) -> str:
        entry = entry or {}
        low, high = entry.get("ci") or [None, None]
        return f"{number(entry.get('value'))} [{number(low)}, {number(high)}]"

    lines = [
        "",
        "LLM judges against the human majority (kappa, tau and position bias with bootstrap "
        "95% intervals; position bias is the share of decisive answers picking the response "
        "shown first, before calibration; tau compares the judge's leaderboard with people's):",
        "",
        "| judge | tasks | percent agreement | Cohen's kappa | Kendall's tau | position bias "
        "| swap consistency | routed to people |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in judges:
        routing = entry.get("routing")
        routed = f"{routing['routed']} of {routing['judged']}" if routing else "n/a"
        lines.append(
            f"| {entry.get('judge') or entry.get('annotator')} | {entry.get('n', 0)} | "
            f"{number(entry.get('percent_agreement'))} | {interval(entry.get('cohen_kappa'))} | "
            f"{interval(entry.get('kendall_tau'))} | "
            f"{interval(entry.get('position_bias')) if entry.get('position_bias') else 'n/a'} | "
            f"{number(entry.get('swap_consistency'))} | {routed} |"
        )
    ranked = [entry for entry in judges if "item_kendall_tau" in entry]
    if ranked:
        lines += [
            "",
            "Ranking judges (position bias against chance, 1/n of n responses shown):",
            "",
        ]
        lines += [
            f"- {entry.get('judge') or entry.get('annotator')}: Kendall's tau per item against "
            f"people's mean places {interval(entry['item_kendall_tau'])} over "
            f"{entry['item_kendall_tau'].get('n_items', 0)} items; chance of the first shown "
            f"on top {number((entry.get('position_bias') or {}).get('expected'))}"
            for entry in ranked
        ]
    return lines + _judge_criterion_lines(judges, interval)


def _judge_criterion_lines(judges: list[dict[str, Any]], interval: Any) -> list[str]:
    """Each judge per criterion (README, LLM judges): Cohen's kappa of a pairwise or verdict
    criterion, the quadratic-weighted kappa and correlations of a scored rubric criterion."""
    rows = [
        (entry.get("judge") or entry.get("annotator"), key, figures)
        for entry in judges
        for key, figures in sorted((entry.get("criteria") or {}).items())
    ]
    if not rows:
        return []
    lines = [
        "",
        "Per criterion (Cohen's kappa against people's majority, or for a scored criterion the "
        "quadratic-weighted kappa against people's rounded median score and the correlations "
        "with their mean; tau compares leaderboards by mean score per model):",
        "",
        "| judge | criterion | n | Cohen's kappa | weighted kappa | Spearman | Pearson "
        "| Kendall's tau |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for judge, key, figures in rows:
        cells = [
            interval(figures[name]) if name in figures else "n/a"
            for name in ("cohen_kappa", "quadratic_kappa", "spearman", "pearson", "kendall_tau")
        ]
        lines.append(f"| {judge} | {key} | {figures.get('n', 0)} | {' | '.join(cells)} |")
    return lines


def _loading_lines(plan: ExportPlan, filename: str) -> list[str]:
    builder = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}[plan.query.filetype]
    lines = [
        "Downloaded as a folder (`GET .../snapshots/{id}/download/?as=folder`, a zip of this "
        f"card as `README.md` and the file as `data/{filename}`), the unzipped folder loads as "
        "it is, and uploads to the Hugging Face Hub as a dataset repository as it is:",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'dataset = load_dataset("path/to/unzipped/folder", split="train")',
        "```",
        "",
        "```sh",
        "hf upload --repo-type dataset <you>/<dataset> path/to/unzipped/folder",
        "# huggingface_hub before 1.0: huggingface-cli upload --repo-type dataset "
        "<you>/<dataset> path/to/unzipped/folder .",
        "```",
        "",
        "The file alone:",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'dataset = load_dataset("{builder}", data_files="{filename}", split="train")',
        "```",
    ]
    if plan.query.filetype == "csv":
        lines.append("")
        lines.append(
            "In CSV, message lists and objects are JSON text, and a text that starts with `=`, "
            "`+`, `-`, `@`, a tab or a carriage return has a leading `'` (so that spreadsheets "
            "do not run it as a formula; a text that starts with `'` before one of those has "
            "one more): drop one leading `'` from such a cell to get the text. Number columns "
            "are plain numbers."
        )
    return lines


# ---------------------------------------------------------------- the card's front matter

#: The Hub's task categories each format serves.
_TASK_CATEGORIES = {
    "judgments": ["text-classification", "reinforcement-learning"],
    "dpo": ["text-generation", "reinforcement-learning"],
    "kto": ["text-generation", "reinforcement-learning"],
    "rewrites": ["text-generation"],
    "rubric": ["text-classification", "reinforcement-learning"],
    "labels": ["text-classification", "reinforcement-learning"],
    "items": ["text-generation"],
    "annotators": ["tabular-classification"],
    "spans": ["token-classification"],
    "spans_merged": ["token-classification"],
}
_SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
_CROWD_SOURCES = {Annotator.Source.PROLIFIC, Annotator.Source.MTURK}


def size_category(rows: int) -> str:
    """The Hub's `size_categories` value for a number of rows."""
    for bound, name in _SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>1B" if rows < 10_000_000_000 else "other"


def annotations_creators(sources: set[tuple[str, str]]) -> list[str]:
    """The Hub's `annotations_creators` for the (annotator source, kind) pairs behind a
    dataset: model judges are machine-generated, crowd platforms' workers crowdsourced,
    the site's own accounts expert-generated (in-house annotators), and people's judgments
    imported from elsewhere found; no judgment at all is no-annotation."""
    creators = set()
    for source, kind in sources:
        if kind == Annotator.Kind.MODEL:
            creators.add("machine-generated")
        elif source in _CROWD_SOURCES:
            creators.add("crowdsourced")
        elif source == Annotator.Source.IMPORT:
            creators.add("found")
        else:
            creators.add("expert-generated")
    return sorted(creators) or ["no-annotation"]


def _creators(plan: ExportPlan, behind: set[tuple[str, str]]) -> list[str]:
    """An `items` file holds no judgments: its only labels are the references imported with
    the items (found elsewhere)."""
    if plan.query.format != "items":
        return annotations_creators(behind)
    labelled = Item.objects.filter(project=plan.project, reference__isnull=False).exists()
    return ["found"] if labelled else ["no-annotation"]


def card_language(content_language: str) -> list[str]:
    """The Hub's `language` (ISO 639 codes) from a BCP 47 tag: its language subtag."""
    primary = content_language.split("-")[0].strip().lower()
    return [primary] if primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 3 else []


def card_metadata(
    *,
    plan: ExportPlan,
    settings: dict[str, Any],
    filename: str,
    row_count: int,
    creators: list[str],
) -> dict[str, Any]:
    """The card's YAML front matter, as the Hugging Face Hub reads it. `settings` are the
    project's settings the snapshot recorded (its license as it was then)."""
    project = plan.project
    metadata: dict[str, Any] = hub_license(
        settings.get("license", project.license) or "",
        settings.get("license_name", project.license_name) or "",
    )
    language = card_language(settings.get("content_language", project.content_language) or "")
    if language:
        metadata["language"] = language
    kind_tag = "preference" if project.is_pairwise else "rating"
    metadata |= {
        "pretty_name": project.name,
        "task_categories": _TASK_CATEGORIES.get(plan.query.format, ["text-classification"]),
        "size_categories": [size_category(row_count)],
        "annotations_creators": creators,
        "tags": ["human-feedback", kind_tag, plan.query.format],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": f"{CARD_DATA_DIR}/{filename}"}],
            }
        ],
    }
    return metadata


def _front_matter(metadata: dict[str, Any]) -> list[str]:
    text = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return ["---", *text.rstrip("\n").splitlines(), "---"]


def _rubric_version_lines(plan: ExportPlan, versions: list[int]) -> list[str]:
    """The rubric version(s) of the judgments behind the file, beside the current one."""
    current = plan.project.rubric_version
    if not versions:
        return [f"- rubric version: none in the data (the project's current one is {current})"]
    named = ", ".join(str(v) for v in versions)
    plural = "s" if len(versions) > 1 else ""
    return [f"- rubric version{plural} of the judgments: {named} (current: {current})"]


def dataset_card(*, snapshot: Snapshot, plan: ExportPlan) -> str:
    """The snapshot's dataset card: Markdown with the YAML front matter the Hugging Face
    Hub reads (license, language, task and size categories, annotations creators, configs
    pointing at the folder download's data file)."""
    project = plan.project
    filters = plan.query.filters
    passing = passing_judgments(project=project, filters=filters)
    counts = passing.aggregate(judgments=Count("pk"), annotators=Count("annotator", distinct=True))
    behind = passing.order_by().values_list("annotator__source", "annotator__kind").distinct()
    versions = sorted(set(passing.order_by().values_list("rubric_version", flat=True).distinct()))
    filename = os.path.basename(snapshot.file.name)
    settings = (snapshot.protocol or {}).get("project") or {}
    metadata = card_metadata(
        plan=plan,
        settings=settings,
        filename=filename,
        row_count=snapshot.row_count or 0,
        creators=_creators(plan, set(behind)),
    )
    lines = [
        *_front_matter(metadata),
        "",
        f"# {project.name}: `{plan.query.format}` snapshot {snapshot.pk}",
        "",
        f"- file: `{filename}` ({plan.query.filetype}), {snapshot.row_count} rows",
        f"- sha256: `{snapshot.sha256}`",
        f"- created: {snapshot.created_at:%Y-%m-%d %H:%M} UTC from project `{project.slug}`, "
        f"judgments up to id {filters.up_to_id}",
        f"- license: {_license_text(metadata)}",
        *(_rubric_version_lines(plan, versions) if plan.criteria else []),
        "",
        "## What annotators were asked",
        "",
        _asked_text(project) + ".",
        "",
        *_instructions_lines(project),
        *_criteria_section(plan, versions),
        *_protocol_lines(plan, passing),
        "## Annotation",
        "",
        f"- judgments passing the filters below: {counts['judgments']}, from "
        f"{counts['annotators']} annotators ({', '.join(metadata['annotations_creators'])})",
        f"- {project.annotations_per_task} judgments wanted per task; gold rate "
        f"{project.gold_rate:g}",
        *_routing_lines(project),
        "",
        "## Agreement",
        "",
        *_agreement_lines(project),
        "",
        "## Filters",
        "",
        "| filter | value |",
        "| --- | --- |",
        *(
            f"| {key} | {json.dumps(value)} |"
            for key, value in plan.query.as_dict().items()
            if key not in ("format", "filetype")
        ),
        "",
        "## Fields",
        "",
        *_fields_lines(plan),
        *_format_notes(plan),
        "",
        "## Loading",
        "",
        *_loading_lines(plan, filename),
        "",
    ]
    return "\n".join(lines)


def _routing_lines(project: Project) -> list[str]:
    if project.route != Project.Route.UNCERTAIN:
        return []
    return [
        "- routing to people: tasks an LLM judge could not settle (its two orders disagreed, "
        "or its confidence was low) were served to people first and wanted "
        f"{project.annotations_per_task} judgments; the tasks it settled wanted "
        f"{project.route_human_k} (spot checks)"
    ]


def _protocol_lines(plan: ExportPlan, passing: QuerySet[Judgment]) -> list[str]:
    """How each task type the project uses was collected, with counts over the judgments
    passing the file's filters: the ranking's responses, ties and expansion; the span label
    set; the verdict criteria; the rewrite policy."""
    project = plan.project
    criteria = list(project.criteria.all())
    parts = [
        _ranking_protocol(plan, passing) if project.is_ranking else [],
        _spans_protocol([c for c in criteria if c.is_spans], passing),
        _verdict_protocol([c for c in criteria if c.is_verdict], passing),
        _rewrite_protocol(project, passing),
    ]
    lines = [line for part in parts for line in part]
    return ["## Protocol", "", *lines] if lines else []


def _ranking_protocol(plan: ExportPlan, passing: QuerySet[Judgment]) -> list[str]:
    project = plan.project
    sizes = Counter(
        Item.objects.filter(project=project)
        .annotate(n=Count("responses"))
        .values_list("n", flat=True)
    )
    sizes_text = ", ".join(f"{sizes[n]} of {n} responses" for n in sorted(sizes)) or "none"
    rankings = passing.exclude(ranking=None).count()
    tie = (
        "responses could be tied (one group of two or more)"
        if project.allow_tie
        else "no ties: every response in a place of its own"
    )
    expand = plan.query.filters.expand or "adjacent"
    expansion = (
        f"this file's pairs come from `expand: {expand}`"
        if plan.query.format == "dpo"
        else "a `dpo` file turns them into pairs by `expand` (`adjacent` by default, `all` or "
        "`best_worst`)"
    )
    return [
        f"- **Ranking**: {rankings} rankings of items with {sizes_text}; shown in an order "
        f"drawn at random per annotator, labelled A, B, C...; {tie}; {expansion}.",
    ]


def _spans_protocol(criteria: list[Criterion], passing: QuerySet[Judgment]) -> list[str]:
    if not criteria:
        return []
    marked: dict[str, int] = {}
    with_marks = 0
    for spans in passing.exclude(spans=[]).values_list("spans", flat=True).iterator():
        with_marks += 1
        for span in spans or []:
            marked[span["label"]] = marked.get(span["label"], 0) + 1
    lines = [
        f"- **Spans**: annotators marked passages of a response with a label (character "
        f"offsets); {with_marks} judgments mark {sum(marked.values())} spans. Labels:"
    ]
    for criterion in criteria:
        for label in criterion.labels:
            about = f": {label['description']}" if label.get("description") else ""
            lines.append(
                f"  - `{label['key']}` ({criterion.key}){about} ({marked.get(label['key'], 0)} "
                "spans)"
            )
    return lines


def _verdict_protocol(criteria: list[Criterion], passing: QuerySet[Judgment]) -> list[str]:
    if not criteria:
        return []
    counts = passing.aggregate(
        **{
            f"{c.key}-{verdict}": Count("pk", filter=Q(**{f"scores__{c.key}": verdict}))
            for c in criteria
            for verdict in (True, False)
        }
    )
    lines = [
        "- **Verdicts**: each response judged good or bad on each criterion, with an "
        "optional reason:"
    ]
    for c in criteria:
        about = f": {c.description.strip().rstrip('.')}" if c.description.strip() else ""
        lines.append(
            f"  - **{c.label}** (`{c.key}`){about} ({counts[f'{c.key}-True']} good, "
            f"{counts[f'{c.key}-False']} bad)"
        )
    return lines


_REWRITE_POLICY = {
    Project.Rewrite.OFF: "no longer asked for",
    Project.Rewrite.OPTIONAL: "optional",
    Project.Rewrite.REQUIRED: "required",
}


def _rewrite_protocol(project: Project, passing: QuerySet[Judgment]) -> list[str]:
    rewrites = passing.exclude(rewrite="").count()
    if project.rewrite == Project.Rewrite.OFF and not rewrites:
        return []
    which = {
        Project.Kind.RUBRIC: "the response",
        Project.Kind.RANKING: "the response ranked first",
    }.get(project.kind, "the preferred response")
    return [
        f"- **Rewrites** ({_REWRITE_POLICY[project.rewrite]}): annotators who judged "
        f"{which} not good enough rewrote it in place; {rewrites} judgments carry a rewrite.",
    ]


def _license_text(metadata: dict[str, Any]) -> str:
    if metadata["license"] == "unknown":
        return "unknown: the project sets none (set its license before sharing)"
    return metadata.get("license_name", metadata["license"])


def _asked_text(project: Project) -> str:
    """What annotators were asked: the kind of task, and the answers allowed."""
    asked = _KIND_TEXT[project.kind]
    if project.is_ranking and project.allow_tie:
        asked += '; responses could be tied (one group, e.g. `[["C"], ["A", "D"], ["B"]]`)'
    if project.is_pairwise:
        extras = [
            text
            for allowed, text in (
                (project.allow_tie, "a tie was allowed"),
                (project.allow_both_bad, "'both bad' was allowed"),
                (project.strength_scale, "with a strength from 1 (slightly) to 3 (much better)"),
            )
            if allowed
        ]
        if extras:
            asked += "; " + "; ".join(extras)
    return asked


def _instructions_lines(project: Project) -> list[str]:
    """The start of the instructions, quoted (none when the project has none)."""
    instructions = project.instructions.strip()
    if not instructions:
        return []
    if len(instructions) > INSTRUCTIONS_EXCERPT:
        instructions = instructions[:INSTRUCTIONS_EXCERPT].rsplit(" ", 1)[0] + " ..."
    quoted = [f"> {line}" if line else ">" for line in instructions.splitlines()]
    return ["Instructions (excerpt):", "", *quoted, ""]


def _criteria_section(plan: ExportPlan, versions: list[int]) -> list[str]:
    """The criteria, per rubric version when the judgments span several."""
    by_version = dict(plan.rubric_versions)
    shown = [v for v in versions if v in by_version] if len(by_version) > 1 else []
    if len(shown) > 1:
        lines = []
        for version in shown:
            criteria = _criteria_lines(by_version[version])
            lines += [f"Criteria of rubric version {version}:", "", *criteria, ""]
        return lines
    if plan.criteria:
        return ["Criteria:", "", *_criteria_lines(plan.criteria), ""]
    return []


def _format_notes(plan: ExportPlan) -> list[str]:
    """What a format's rows need said beyond their fields: how dpo pairs come from rankings
    and are decided, renamed rubric columns, conversational prompts."""
    notes: list[str] = []
    if plan.query.format == "dpo" and plan.project.is_ranking:
        notes += ["", _ranking_pairs_text(plan)]
    if plan.query.format == "dpo":
        notes += ["", _label_text(plan), "", _margin_text(plan.project)]
    if plan.query.format == "dpo" and plan.query.filters.include_rewrites:
        notes += [
            "",
            "With `include_rewrites`, each annotator's rewrite is also a row (`source: "
            "rewrite`): the rewrite chosen, the response it replaces rejected, `chosen_model` "
            "`human_rewrite`.",
        ]
    if plan.query.format == "rubric":
        renamed = [c.key for c in plan.criteria if rubric_score_column(c.key) != c.key]
        if renamed:
            notes += ["", f"Criteria named like a fixed column get a `score_` prefix: {renamed}."]
    if plan.conversational and plan.query.format in ("dpo", "rubric", "kto", "items"):
        notes += [
            "",
            "Some prompts are conversations, so every `prompt` is a list of "
            '`{"role", "content"}` messages (a plain prompt is one user message)'
            + (
                "; `chosen` and `rejected` are one assistant message each (TRL's "
                "conversational preference format)."
                if plan.query.format == "dpo"
                else "; `completion` is one assistant message."
                if plan.query.format == "kto"
                else "."
            ),
        ]
    return notes
