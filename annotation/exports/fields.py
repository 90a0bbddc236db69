"""Each export format's fields, declared once (README "Exports"): name, type, nullability and
what the field means. The Arrow schema of every file type (so the Parquet schema and the
types JSON Lines keep to), the dataset card's field table, the OpenAPI description of the
export and the README's field tables are derived from these declarations; a test checks
the README tables and the SQL readers against them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

# Nested types: lists hold no nulls and a message has both its fields, as in every file.
MESSAGE = pa.struct(
    [
        pa.field("role", pa.string(), nullable=False),
        pa.field("content", pa.string(), nullable=False),
    ]
)
MESSAGES = pa.list_(pa.field("item", MESSAGE, nullable=False))
RESPONSES = pa.list_(
    pa.field(
        "item",
        pa.struct(
            [pa.field(name, pa.string(), nullable=False) for name in ("id", "model", "text")]
        ),
        nullable=False,
    )
)
PAIRS = pa.list_(
    pa.field("item", pa.list_(pa.field("item", pa.string(), nullable=False)), nullable=False)
)
TEXTS = pa.list_(pa.field("item", pa.string(), nullable=False))
SPANS = pa.list_(
    pa.field(
        "item",
        pa.struct(
            [
                pa.field("response", pa.string(), nullable=False),
                pa.field("start", pa.int64(), nullable=False),
                pa.field("end", pa.int64(), nullable=False),
                pa.field("label", pa.string(), nullable=False),
                pa.field("note", pa.string(), nullable=False),
            ]
        ),
        nullable=False,
    )
)
EDITS = pa.list_(
    pa.field(
        "item",
        pa.struct(
            [pa.field("op", pa.string(), nullable=False)]
            + [
                pa.field(name, pa.int64(), nullable=False)
                for name in ("original_start", "original_end", "rewrite_start", "rewrite_end")
            ]
        ),
        nullable=False,
    )
)

#: A declared type: its Arrow type (None where the project decides it) and how the README
#: and the card name it.
_TYPES: dict[str, tuple[pa.DataType | None, str]] = {
    "string": (pa.string(), "string"),
    "int64": (pa.int64(), "integer"),
    "float64": (pa.float64(), "float"),
    "bool": (pa.bool_(), "boolean"),
    "time": (pa.string(), "ISO 8601 string"),
    "json": (pa.string(), "JSON text"),
    "texts": (TEXTS, "list of strings"),
    "responses": (RESPONSES, "list of {id, model, text}"),
    "pairs": (PAIRS, "list of [id, id]"),
    "groups": (PAIRS, "list of lists of ids"),
    "prompt": (None, "string or message list"),
    "completion": (None, "string or message list"),
    "answers": (None, "struct or null"),
    "score": (None, "integer or float"),
    "survey": (None, "by question type"),
    "edits": (EDITS, "list of {op, original_start, original_end, rewrite_start, rewrite_end}"),
    "spans": (SPANS, "list of {response, start, end, label, note}"),
    "reasons": (None, "struct of texts"),
}

PAIRWISE, RUBRIC, RANKING = "pairwise", "rubric", "ranking"
#: What a project may use that some fields need (ExportField.needs): a spans criterion, a
#: verdict criterion, rewrites (taken now, or once).
USES_SPANS, USES_VERDICTS, USES_REWRITES = "spans", "verdicts", "rewrites"
#: Not a project's feature but the pull's: `dpo` with `label=hybrid`.
USES_HYBRID = "hybrid"
_NEEDS_TEXT = {
    USES_SPANS: "with a spans criterion",
    USES_VERDICTS: "with a verdict criterion",
    USES_REWRITES: "that take (or took) rewrites",
    USES_HYBRID: "in a pull with `label=hybrid`",
}


@dataclass(frozen=True)
class ExportField:
    """One field of a format. `nullable`: may be null in any pull; `retractable`: null on a
    retraction row (so nullable in a `dpo` pull with `since`); `kind`: only in projects of
    this kind (None: every project); `needs`: only in projects that use it (USES_*);
    `per_criterion`: one column per criterion, `<key>` standing for the criterion's key;
    `per_question`: one per survey question, likewise."""

    name: str
    type: str
    description: str
    nullable: bool = False
    retractable: bool = False
    kind: str | None = None
    needs: str | None = None
    per_criterion: bool = False
    per_question: bool = False

    def arrow(self, *, conversational: bool = False) -> pa.DataType:
        """The field's Arrow type in a project with or without chat prompts (the types the
        project decides otherwise are built by the plan)."""
        if self.type in ("prompt", "completion"):
            return MESSAGES if conversational else pa.string()
        arrow_type = _TYPES[self.type][0]
        if arrow_type is None:
            raise ValueError(f"{self.name}: the project decides its type")
        return arrow_type

    def field(self, *, conversational: bool = False, retractable: bool = False) -> pa.Field:
        nullable = self.nullable or (self.retractable and retractable)
        return pa.field(self.name, self.arrow(conversational=conversational), nullable=nullable)

    @property
    def type_text(self) -> str:
        return _TYPES[self.type][1]

    @property
    def null_text(self) -> str:
        if self.type == "answers":
            return "when no criteria"
        if self.type == "reasons":
            return "no (each key: yes)"
        if self.nullable:
            return "yes"
        return "with `since`" if self.retractable else "no"


F = ExportField

JUDGMENTS = (
    F("id", "int64", "The judgment's id (what `since` takes)."),
    F("project", "string", "The project's slug."),
    F("item_id", "string", "The item's id, as imported."),
    F("task", "int64", "The task's id (for a pairwise task, the `pair_id` of `dpo`)."),
    F(
        "annotator",
        "string",
        "Pseudonymous annotator id (imported annotators keep their id, LLM judges their "
        "name; a crowd platform's worker id is never exported).",
    ),
    F("annotator_kind", "string", "`human` or `model`."),
    F(
        "label_source",
        "string",
        "`human` for a person's judgment, `judge` for an LLM judge's verdict, which the "
        "pull keeps only on tasks no person judged (the judgments behind `dpo`'s hybrid "
        "label).",
        needs=USES_HYBRID,
    ),
    F("a", "string", "Response id of side a.", kind=PAIRWISE),
    F("b", "string", "Response id of side b.", kind=PAIRWISE),
    F("a_model", "string", "Model of response a.", kind=PAIRWISE),
    F("b_model", "string", "Model of response b.", kind=PAIRWISE),
    F("choice", "string", "`a`, `b`, `tie` or `both_bad`.", kind=PAIRWISE),
    F(
        "strength",
        "int64",
        "How much better (1 = slightly ... 3 = much); null when not collected.",
        nullable=True,
        kind=PAIRWISE,
    ),
    F(
        "criteria",
        "answers",
        "One text per criterion key of every rubric version, null where unanswered; the "
        "column is null when the project has no criteria.",
        kind=PAIRWISE,
    ),
    F("response", "string", "The rated response's id.", kind=RUBRIC),
    F("model", "string", "The rated response's model.", kind=RUBRIC),
    F(
        "scores",
        "answers",
        "One integer per criterion key of every rubric version, null where unanswered; the "
        "column is null when the project has no criteria.",
        kind=RUBRIC,
    ),
    F(
        "ranking",
        "groups",
        'Response ids, best first, responses tied in one group: `[["r3"], ["r1", "r4"], ["r2"]]`.',
        kind=RANKING,
    ),
    F(
        "shown_order",
        "texts",
        "Response ids in the order the annotator saw them (labels A, B, C...); null for an "
        "imported ranking.",
        nullable=True,
        kind=RANKING,
    ),
    F(
        "reasons",
        "reasons",
        "One text per verdict criterion key: the annotator's optional reason for the "
        "verdict, null when none given.",
        kind=RUBRIC,
        needs=USES_VERDICTS,
    ),
    F(
        "spans",
        "spans",
        "The passages marked (empty when none): the response id, character offsets (code "
        "points, end excluded), the label's key and the note, by response and offset.",
        needs=USES_SPANS,
    ),
    F(
        "rewrite",
        "string",
        "The annotator's rewrite of a response; null when none.",
        nullable=True,
        needs=USES_REWRITES,
    ),
    F(
        "rewrite_of",
        "string",
        "Response id of the response the rewrite replaces; null when no rewrite.",
        nullable=True,
        needs=USES_REWRITES,
    ),
    F("rationale", "string", "The annotator's free text (empty when none)."),
    F("shown_left", "string", "Response id shown on the left.", nullable=True),
    F("seconds", "float64", "Time spent on the task.", nullable=True),
    F("created_at", "time", "When the judgment was made (UTC, with microseconds)."),
    F("is_gold", "bool", "Whether the task was a gold (known-answer) one."),
    F("rubric_version", "int64", "The rubric version the judgment was made under."),
    F(
        "profile.<key>",
        "survey",
        "With `with_profile=k1,k2`: one column per survey key named, in that order: the "
        "annotator's latest answer, typed as in `annotators`' `survey.<key>`; null when not "
        "answered. Sensitive keys only with `include_sensitive=true`.",
        nullable=True,
        per_question=True,
    ),
)

DPO = (
    F(
        "pair_id",
        "int64",
        "The same pair has the same id in every pull: the task's id, or for a pair from "
        "rankings a number made of its two responses' database ids.",
    ),
    F("prompt", "prompt", "The prompt.", retractable=True),
    F("chosen", "completion", "The winning response's text.", retractable=True),
    F("rejected", "completion", "The losing response's text.", retractable=True),
    F("chosen_model", "string", "Model of the winning response.", retractable=True),
    F("rejected_model", "string", "Model of the losing response.", retractable=True),
    F("item_id", "string", "The item's id."),
    F("chosen_id", "string", "Response id of the winner.", retractable=True),
    F("rejected_id", "string", "Response id of the loser.", retractable=True),
    F("n_judgments", "int64", "The pair's passing votes."),
    F(
        "agreement",
        "float64",
        "The winner's share of the votes (with `label=dawid_skene`, the label's posterior).",
        retractable=True,
    ),
    F(
        "margin",
        "float64",
        "Mean strength of the winner's votes, or the vote margin.",
        nullable=True,
    ),
    F(
        "source",
        "string",
        "`pairwise` (the votes of a pairwise task), `ranking` (the pairs rankings imply) or "
        "`rewrite` (with `include_rewrites=true`: an annotator's rewrite chosen over the "
        "response it replaces; `chosen_model` is `human_rewrite`, `chosen_id` "
        "`rewrite-<judgment id>`, `pair_id` minus the judgment's id).",
    ),
    F(
        "expand",
        "string",
        "How rankings became pairs (`adjacent`, `all` or `best_worst`); null for `pairwise`.",
        nullable=True,
    ),
    F(
        "label_source",
        "string",
        "`human`: people judged the pair, their label decides it; `judge`: no person did, "
        "the calibrated verdicts of the project's LLM judges decide it (their majority).",
        needs=USES_HYBRID,
    ),
    F("retracted", "bool", "True only in a pull with `since`, for a pair that is no longer one."),
)

LABELS = (
    F("pair_id", "int64", "The task's id, as in `dpo`."),
    F("item_id", "string", "The item's id."),
    F("a", "string", "Response id of side a."),
    F("b", "string", "Response id of side b."),
    F(
        "majority",
        "string",
        "`a`, `b`, `tie` or `both_bad`; null when two answers share the most votes.",
        nullable=True,
    ),
    F("majority_share", "float64", "Share of the votes behind the most frequent answer."),
    F(
        "ds_label",
        "string",
        "The Dawid-Skene label (each annotator weighed by their estimated reliability).",
        nullable=True,
    ),
    F("ds_posterior", "float64", "The Dawid-Skene label's posterior probability."),
    F("n_judgments", "int64", "The task's passing votes."),
    F(
        "adjudicated_label",
        "string",
        "A researcher's decision in the review queue; null when none.",
        nullable=True,
    ),
    F(
        "adjudicated_by",
        "string",
        "The deciding researcher as `researcher-<account id>`.",
        nullable=True,
    ),
)

RUBRIC_FIELDS = (
    F("prompt", "prompt", "The prompt."),
    F("response", "string", "The response's text."),
    F("model", "string", "The response's model."),
    F("item_id", "string", "The item's id."),
    F("response_id", "string", "The response's id."),
    F("rubric_version", "int64", "The rubric version of the judgments summarised."),
    F(
        "<key>",
        "score",
        "Per criterion: nominal, the most frequent value (null on a tie); ordinal, the "
        "median (the lower middle one of an even count); interval, the mean (a float). "
        "A key named like a fixed column is `score_<key>`.",
        nullable=True,
        per_criterion=True,
    ),
    F(
        "share_<key>",
        "float64",
        "Per nominal criterion, right after its value: the share of judgments that gave it.",
        nullable=True,
        per_criterion=True,
    ),
    F("n_judgments", "int64", "The response's passing judgments under that version."),
    F(
        "agreement_<key>",
        "float64",
        "Per criterion: 1 - mean absolute difference of pairs of scores / (max - min); for "
        "a nominal one the share of agreeing pairs.",
        nullable=True,
        per_criterion=True,
    ),
    F("agreement", "float64", "The mean of the criteria's agreements.", nullable=True),
)

KTO = (
    F("prompt", "prompt", "The prompt."),
    F(
        "completion",
        "completion",
        "The response's text (one assistant message when prompts are conversations).",
    ),
    F(
        "label",
        "bool",
        "The agreed verdict: true (good) or false (bad). A judgment is good when every verdict "
        "it gave is good; the label is the plurality of the judgments (no row on a tie).",
    ),
    F("item_id", "string", "The item's id."),
    F("response_id", "string", "The response's id."),
    F("model", "string", "The response's model."),
    F("n_judgments", "int64", "The response's passing judgments with a verdict."),
    F("agreement", "float64", "The label's share of those judgments."),
)

REWRITES = (
    F("judgment", "int64", "The judgment's id, as in `judgments`."),
    F("item_id", "string", "The item's id."),
    F("prompt", "prompt", "The prompt."),
    F("response_id", "string", "The id of the response rewritten."),
    F("model", "string", "Its model."),
    F("original", "string", "Its text, as imported."),
    F("rewrite", "string", "The annotator's rewrite."),
    F(
        "diff",
        "edits",
        "The character edits from `original` to `rewrite`: difflib's opcodes without the "
        "equal runs, offsets in code points, end excluded.",
    ),
    F("annotator", "string", "Pseudonymous annotator id, as in `judgments`."),
)

ITEMS = (
    F("id", "string", "The item's id."),
    F("prompt", "prompt", "The prompt."),
    F("responses", "responses", "The responses."),
    F("pairs", "pairs", "The response pairs to compare.", kind=PAIRWISE),
    F("metadata", "json", "The item's metadata."),
    F("gold", "json", "The known answer; null when absent.", nullable=True),
    F("reference", "json", "The dataset's original label; null when absent.", nullable=True),
)

ANNOTATORS = (
    F("annotator", "string", "The pseudonymous id of the `judgments` export."),
    F("annotator_kind", "string", "`human` or `model`."),
    F("platform", "string", "`local`, `prolific`, `mturk`, `import` or `judge`."),
    F("consented_at", "time", "Their latest agreement to the consent text.", nullable=True),
    F("consent_version", "int64", "The consent text's version they agreed to.", nullable=True),
    F("n_judgments", "int64", "Their judgments passing the filters."),
    F("gold_judgments", "int64", "Their gold judgments."),
    F("gold_accuracy", "float64", "Share of their gold judgments that were right.", nullable=True),
    F(
        "left_rate",
        "float64",
        "Share of their decided votes for the left side (a ranking project: of their "
        "rankings whose first-shown response they ranked first).",
        nullable=True,
    ),
    F("fast_share", "float64", "Share under the project's minimum time.", nullable=True),
    F("mean_seconds", "float64", "Mean time over their passing judgments.", nullable=True),
    F("median_seconds", "float64", "Median time over their passing judgments.", nullable=True),
    F("qualified", "bool", "The qualification quiz; null when not taken.", nullable=True),
    F("flags", "texts", "Why they are flagged."),
    F("blocked", "bool", "Whether they are blocked in the project."),
    F(
        "survey_version",
        "int64",
        "The survey version of their latest answers; null when they gave none.",
        nullable=True,
    ),
    F(
        "survey.<key>",
        "survey",
        "One column per question of the project's survey, in its order: their latest answer "
        "(`single` and `text` a string, `multiple` a list of strings, `number` a float, "
        "`scale` an integer); null when not answered. Sensitive questions only with "
        "`include_sensitive=true`.",
        nullable=True,
        per_question=True,
    ),
)

_SPAN_PLACE = (
    F("item_id", "string", "The item's id."),
    F("response_id", "string", "The marked response's id."),
    F("model", "string", "The marked response's model."),
    F("start", "int64", "First character of the span (0-based, in Unicode code points)."),
    F("end", "int64", "One past its last character: `text` is `response[start:end]`."),
    F("text", "string", "The marked characters of the response."),
    F("label", "string", "The span label's key (e.g. `factual_error`)."),
)

SPANS = (
    *_SPAN_PLACE,
    F("note", "string", "The annotator's note on the span (empty when none)."),
    F("annotator", "string", "Pseudonymous annotator id, as in `judgments`."),
    F("annotator_kind", "string", "`human` or `model`."),
    F("judgment", "int64", "The judgment's id (the `id` of `judgments`)."),
)

SPANS_MERGED = (
    *_SPAN_PLACE,
    F(
        "support",
        "int64",
        "How many annotators marked every character of this stretch with the label: the "
        "marks of one label are cut wherever that number changes.",
    ),
    F("n_annotators", "int64", "Annotators whose passing judgments showed the response."),
    F("agreement", "float64", "`support / n_annotators`."),
)

#: Every format's fields, in file order, and what one row is.
FIELDS: dict[str, tuple[ExportField, ...]] = {
    "judgments": JUDGMENTS,
    "dpo": DPO,
    "labels": LABELS,
    "rubric": RUBRIC_FIELDS,
    "kto": KTO,
    "rewrites": REWRITES,
    "items": ITEMS,
    "annotators": ANNOTATORS,
    "spans": SPANS,
    "spans_merged": SPANS_MERGED,
}
ROW: dict[str, str] = {
    "judgments": "One row per judgment.",
    "dpo": "One row per decided pair (pairwise and ranking projects).",
    "labels": "One row per pairwise task with a passing judgment.",
    "rubric": "One row per rated response and rubric version (rubric projects).",
    "kto": "One row per response with an agreed verdict (rubric projects with verdict criteria).",
    "rewrites": "One row per passing judgment with a rewrite.",
    "items": "One row per item, in the import format.",
    "annotators": "One row per annotator of the project.",
    "spans": "One row per marked span (projects with a spans criterion).",
    "spans_merged": "One row per stretch of a response marked with one label, with its "
    "support (projects with a spans criterion).",
}


def fields_of(
    export_format: str, *, kind: str | None = None, uses: frozenset[str] | None = None
) -> tuple[ExportField, ...]:
    """A format's fields in a project of that kind (None: of any kind) that uses those
    features (None: whatever it uses)."""
    return tuple(
        f
        for f in FIELDS[export_format]
        if (kind is None or f.kind in (None, kind))
        and (uses is None or f.needs is None or f.needs in uses)
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def field_table(fields: Sequence[ExportField], *, kinds: bool = True) -> str:
    """A Markdown table of fields, as the README and the dataset card show them; `kinds`
    says which fields only projects of one kind have."""
    lines = ["| field | type | null | description |", "| --- | --- | --- | --- |"]
    for f in fields:
        only = ""
        if kinds and (f.kind or f.needs):
            projects = f"{f.kind.capitalize()} projects" if f.kind else "Projects"
            needs = f" {_NEEDS_TEXT[f.needs]}" if f.needs else ""
            only = f"{projects}{needs} only. "
        lines.append(
            f"| `{f.name}` | {f.type_text} | {f.null_text} | {only}{_cell(f.description)} |"
        )
    return "\n".join(lines)


def readme_tables() -> str:
    """The README's field tables, one per format, exactly as the README must hold them."""
    parts = []
    for export_format in FIELDS:
        table = field_table(FIELDS[export_format])
        parts += [f"#### `{export_format}`", "", ROW[export_format], "", table, ""]
    return "\n".join(parts).rstrip("\n")


def openapi_description() -> str:
    """The export's fields for the OpenAPI description, per format."""
    return "\n\n".join(
        f"**{export_format}**: {ROW[export_format]} Fields: "
        + ", ".join(f"`{f.name}`" for f in fields)
        + "."
        for export_format, fields in FIELDS.items()
    )
