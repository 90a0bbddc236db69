"""An export's query (README "Exports"): format, filetype and filters, read from
request parameters or a snapshot's stored query and checked once, every bad or
inapplicable value a 400 naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, time
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from annotation.errors import ValidationFailed
from annotation.models import Annotator, Criterion, Project
from annotation.numbers import BIGINT_MAX, INT_MAX, ascii_float, ascii_int
from annotation.surveys import KEY_PATTERN

EXPORT_FORMATS = (
    "judgments",
    "dpo",
    "rubric",
    "kto",
    "rewrites",
    "items",
    "annotators",
    "labels",
    "spans",
    "spans_merged",
)
EXPORT_FILETYPES = ("jsonl", "csv", "parquet")

# The filters each format understands. One given to a format it does not apply to is a
# 400, not silently ignored, so a snapshot's query always means what it says
# (`exclude_flagged`, true by default, is accepted everywhere).
_JUDGMENT_FILTERS = {
    "exclude_flagged",
    "include_gold",
    "since",
    "annotator_kind",
    "min_judgments",
    "include_identity_leak",
}
_FILTERS_OF = {
    "judgments": _JUDGMENT_FILTERS | {"with_profile", "include_sensitive", "label"},
    "dpo": _JUDGMENT_FILTERS | {"min_agreement", "label", "expand", "include_rewrites"},
    "rubric": _JUDGMENT_FILTERS | {"min_agreement", "rubric_version"},
    # A response's verdict is decided from all its judgments: no incremental pull.
    "kto": (_JUDGMENT_FILTERS - {"since"}) | {"min_agreement"},
    "rewrites": _JUDGMENT_FILTERS - {"min_judgments"},
    "labels": _JUDGMENT_FILTERS,
    "items": {"exclude_flagged", "include_gold", "since"},
    "annotators": {"exclude_flagged", "include_gold", "annotator_kind", "include_sensitive"},
    "spans": _JUDGMENT_FILTERS,
    "spans_merged": _JUDGMENT_FILTERS,
}
QUERY_KEYS = ("format", "filetype", *sorted(set().union(*_FILTERS_OF.values())))


def export_filters_of(export_format: str) -> frozenset[str]:
    """The filters a format understands (any other given to it is a 400)."""
    return frozenset(_FILTERS_OF[export_format])


#: Formats made from some kinds of project only (export_plan refuses them elsewhere).
_KINDS_OF_FORMAT = {
    "dpo": (Project.Kind.PAIRWISE, Project.Kind.RANKING),
    "labels": (Project.Kind.PAIRWISE,),
    "rubric": (Project.Kind.RUBRIC,),
    "kto": (Project.Kind.RUBRIC,),
}


#: Formats made from span marks: only of a project with a spans criterion.
SPAN_FORMATS = ("spans", "spans_merged")
#: Formats made from the answers of one type of criterion (export_plan refuses them in a
#: project without one, so the console does not offer them there).
_CRITERION_TYPE_OF_FORMAT = {
    "spans": Criterion.Type.SPANS,
    "spans_merged": Criterion.Type.SPANS,
    "kto": Criterion.Type.VERDICT,
}


def export_formats_of(*, project: Project) -> tuple[str, ...]:
    """The formats this project can be exported as, in EXPORT_FORMATS order (`rewrites`
    where there are or may be rewrites)."""
    types = set(project.criteria.values_list("type", flat=True))
    return tuple(
        f
        for f in EXPORT_FORMATS
        if project.task_kind in _KINDS_OF_FORMAT.get(f, (project.task_kind,))
        and _CRITERION_TYPE_OF_FORMAT.get(f, "") in types | {""}
        and (f != "rewrites" or has_rewrites(project=project))
    )


def has_rewrites(*, project: Project) -> bool:
    """Whether a `rewrites` export applies: the project takes rewrites, or took some once."""
    if project.rewrite != Project.Rewrite.OFF:
        return True
    return project.judgments.exclude(rewrite="").exists()


#: `annotator_kind`: a kind, or `all`. Aggregated formats count people unless asked (model
#: judges are not people's preferences); the others keep every row unless asked.
ANNOTATOR_KINDS = (*Annotator.Kind.values, "all")
_HUMAN_BY_DEFAULT = {"dpo", "rubric", "labels", "kto", "spans_merged"}
#: `label`: what decides a `dpo` pair (`adjudicated`: a researcher's decision where there
#: is one, else the majority).
#: `hybrid`: people's majority where people judged the pair, else the LLM judges' verdicts
#: (it reads both kinds: annotator_kind `all`).
PAIR_LABELS = ("majority", "dawid_skene", "adjudicated", "hybrid")
AVAILABLE_PAIR_LABELS = PAIR_LABELS
#: `expand`: which pairs a ranking gives a `dpo` export (ranking projects; README "Exports").
RANKING_EXPANSIONS = ("adjacent", "all", "best_worst")


@dataclass(frozen=True)
class ExportFilters:
    """Which judgments count. `up_to_id` pins a snapshot to the judgments it saw."""

    exclude_flagged: bool = True
    include_gold: bool = False
    since: datetime | int | None = None
    annotator_kind: str | None = None
    min_judgments: int | None = None
    min_agreement: float | None = None
    rubric_version: int | None = None
    label: str | None = None  # dpo: "majority", "dawid_skene", "adjudicated" or "hybrid"
    expand: str | None = None  # dpo of a ranking project: one of RANKING_EXPANSIONS
    include_rewrites: bool = False  # dpo: also each rewrite chosen over its original
    include_sensitive: bool = False  # annotators, judgments: also sensitive survey answers
    #: Also the votes on tasks whose answer named its model (Response.identity_leak).
    include_identity_leak: bool = False
    with_profile: tuple[str, ...] = ()  # judgments: survey keys joined as profile.<key>
    up_to_id: int | None = None


@dataclass(frozen=True)
class ExportQuery:
    format: str = "judgments"
    filetype: str = "jsonl"
    filters: ExportFilters = field(default_factory=ExportFilters)

    def as_dict(self) -> dict[str, Any]:
        """The query as JSON (what a snapshot stores and shows), defaults included."""
        filters = asdict(self.filters)
        filters.pop("up_to_id")
        for name in ("label", "expand"):  # only dpo has a label, only rankings an expand
            if filters[name] is None:
                filters.pop(name)
        if not filters["include_rewrites"]:  # only a dpo pull asks for them
            filters.pop("include_rewrites")
        if not filters["include_sensitive"]:  # only annotators and judgments pulls ask
            filters.pop("include_sensitive")
        if "include_identity_leak" not in _FILTERS_OF.get(self.format, ()):
            filters.pop("include_identity_leak")  # said wherever it applies: false by default
        if filters["with_profile"]:  # only a judgments pull asks for profile columns
            filters["with_profile"] = list(filters["with_profile"])
        else:
            filters.pop("with_profile")
        since = filters["since"]
        if isinstance(since, datetime):
            filters["since"] = since.isoformat()
        return {"format": self.format, "filetype": self.filetype, **filters}


# ---------------------------------------------------------------- reading the query


def _error(field_name: str, message: str) -> dict[str, str]:
    return {"field": field_name, "error": message}


def _read_bool(name: str, value: Any, default: bool, errors: list) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    errors.append(_error(name, "must be true or false"))
    return default


_SINCE_ERROR = f"must be a judgment id (0 to {BIGINT_MAX}) or an ISO datetime"
_MIN_JUDGMENTS_ERROR = f"must be an integer from 0 to {INT_MAX}"


def _read_since(value: Any, errors: list) -> datetime | int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = value.strip()
        number = ascii_int(value)
        if number is None and value.isascii():
            try:
                moment = parse_datetime(value)
                if moment is None and (day := parse_date(value)) is not None:
                    moment = datetime.combine(day, time.min)
                if moment is not None:
                    moment = moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
                    # The query compares in UTC, where an offset can push a moment near
                    # year 1 or 9999 out of the calendar (OverflowError).
                    moment.astimezone(UTC)
                    return moment
            except (ValueError, OverflowError):
                pass
        value = number
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= BIGINT_MAX:
        return value
    errors.append(_error("since", _SINCE_ERROR))
    return None


def _read_min_judgments(value: Any, errors: list) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = ascii_int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT_MAX:
        return value
    errors.append(_error("min_judgments", _MIN_JUDGMENTS_ERROR))
    return None


def _read_min_agreement(value: Any, errors: list) -> float | None:
    if value is None or value == "":
        return None
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        number = ascii_float(value)
    if number is None or math.isnan(number) or not 0.0 <= number <= 1.0:
        errors.append(_error("min_agreement", "must be a number from 0 to 1"))
        return None
    return number


_RUBRIC_VERSION_ERROR = f"must be a rubric version number from 1 to {INT_MAX}"


def _read_rubric_version(value: Any, errors: list) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = ascii_int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= INT_MAX:
        return value
    errors.append(_error("rubric_version", _RUBRIC_VERSION_ERROR))
    return None


def _read_choice(
    name: str, value: Any, default: str | None, choices: Sequence[str], errors: list
) -> str | None:
    """One of `choices` (a text), or the default when absent; anything else (another text, a
    list, an object) is an error naming the field."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and value in choices:
        return value
    errors.append(_error(name, f"must be one of {', '.join(choices)}"))
    return None


def _read_profile_keys(value: Any, errors: list) -> tuple[str, ...]:
    """`with_profile`: survey keys, comma-separated (a URL) or a list (a snapshot's body),
    each once, in the order given; whether the survey has them is the plan's check."""
    if value is None or value == "" or value == []:
        return ()
    keys = value.split(",") if isinstance(value, str) else value
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        errors.append(_error("with_profile", "must be survey keys separated by commas"))
        return ()
    cleaned = [k.strip() for k in keys if k.strip()]
    bad = [k for k in cleaned if not KEY_PATTERN.match(k)]
    if bad:
        errors.append(_error("with_profile", f"not a survey key: {', '.join(map(repr, bad))}"))
        return ()
    return tuple(dict.fromkeys(cleaned))


def export_query_from_params(params: Mapping[str, Any], *, strict: bool = False) -> ExportQuery:
    """Read and check an export's query: URL parameters (strings) or a snapshot's JSON
    body (typed values; `strict` then refuses unknown keys). Every bad value is named in
    one 400."""
    errors: list[dict[str, str]] = []
    if strict:
        errors.extend(_error(key, "unknown field") for key in sorted(set(params) - set(QUERY_KEYS)))
    export_format = _read_choice(
        "format", params.get("format"), "judgments", EXPORT_FORMATS, errors
    )
    filetype = _read_choice("filetype", params.get("filetype"), "jsonl", EXPORT_FILETYPES, errors)
    kind = _read_choice(
        "annotator_kind", params.get("annotator_kind"), None, ANNOTATOR_KINDS, errors
    )
    if kind is None and export_format in _HUMAN_BY_DEFAULT:
        kind = Annotator.Kind.HUMAN.value
    label = _read_choice("label", params.get("label"), None, PAIR_LABELS, errors)
    label_given = label is not None
    if label is None and export_format == "dpo":
        label = "majority"
    if export_format == "judgments" and label not in (None, "hybrid"):
        errors.append(_error("label", "judgments take label=hybrid only"))
    if label == "hybrid":
        if params.get("annotator_kind") not in (None, "all"):
            errors.append(
                _error("annotator_kind", "label=hybrid reads every kind: leave it out or say all")
            )
        kind = "all"
    filters = ExportFilters(
        exclude_flagged=_read_bool("exclude_flagged", params.get("exclude_flagged"), True, errors),
        include_gold=_read_bool("include_gold", params.get("include_gold"), False, errors),
        since=_read_since(params.get("since"), errors),
        annotator_kind=kind,
        min_judgments=_read_min_judgments(params.get("min_judgments"), errors),
        min_agreement=_read_min_agreement(params.get("min_agreement"), errors),
        rubric_version=_read_rubric_version(params.get("rubric_version"), errors),
        label=label,
        expand=_read_choice("expand", params.get("expand"), None, RANKING_EXPANSIONS, errors),
        include_rewrites=_read_bool(
            "include_rewrites", params.get("include_rewrites"), False, errors
        ),
        include_sensitive=_read_bool(
            "include_sensitive", params.get("include_sensitive"), False, errors
        ),
        include_identity_leak=_read_bool(
            "include_identity_leak", params.get("include_identity_leak"), False, errors
        ),
        with_profile=_read_profile_keys(params.get("with_profile"), errors),
    )
    if export_format in _FILTERS_OF:
        understood = _FILTERS_OF[export_format]
        given = {
            "since": filters.since is not None,
            "annotator_kind": filters.annotator_kind is not None,
            "min_judgments": filters.min_judgments is not None,
            "min_agreement": filters.min_agreement is not None,
            "rubric_version": filters.rubric_version is not None,
            "label": label_given,
            "expand": filters.expand is not None,
            "include_rewrites": filters.include_rewrites,
            "include_sensitive": filters.include_sensitive,
            "include_identity_leak": filters.include_identity_leak,
            "with_profile": bool(filters.with_profile),
        }
        for name, is_given in given.items():
            if is_given and name not in understood:
                errors.append(_error(name, f"does not apply to format {export_format}"))
        if export_format == "judgments" and filters.include_sensitive and not filters.with_profile:
            errors.append(_error("include_sensitive", "applies to judgments with with_profile"))
        if export_format == "items" and isinstance(filters.since, int):
            errors.append(_error("since", "items are selected by an ISO datetime, not an id"))
    if errors:
        raise ValidationFailed("The export query is not valid.", errors=errors)
    return ExportQuery(format=export_format, filetype=filetype, filters=filters)


def with_up_to(query: ExportQuery, up_to_id: int | None) -> ExportQuery:
    """The query pinned to the judgments up to an id (a snapshot's view of the data)."""
    return replace(query, filters=replace(query.filters, up_to_id=up_to_id))
