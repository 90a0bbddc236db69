"""Survey questions and answers as plain data: the strict checks shared by the project's
`survey` field (API, admin) and the annotator's answers (pages, API). No database here.

A question is `{"key", "text", "type", "options", "required", "sensitive", "when"}`; a `scale`
question's options label its points, and its answer is the point's number (1 to n).
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.core.exceptions import ValidationError

QUESTION_TYPES = ("single", "multiple", "number", "text", "scale")
QUESTION_KEYS = ("key", "text", "type", "options", "required", "sensitive", "when")
WHENS = ("pre", "post")
WITH_OPTIONS = ("single", "multiple", "scale")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_QUESTIONS = 100
MAX_TEXT_ANSWER = 2000

Errors = list[dict[str, str]]


def survey_errors(survey: Any) -> tuple[list[dict[str, Any]], Errors]:
    """The survey with defaults filled in, and every problem found (`field` names the
    question by position, e.g. `survey[2].options`)."""
    if not isinstance(survey, list):
        return [], [{"field": "survey", "error": "must be a list of questions"}]
    if len(survey) > MAX_QUESTIONS:
        return [], [{"field": "survey", "error": f"at most {MAX_QUESTIONS} questions"}]
    errors: Errors = []
    questions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, raw in enumerate(survey):
        where = f"survey[{position}]"
        if not isinstance(raw, dict):
            errors.append({"field": where, "error": "must be an object"})
            continue
        for name in sorted(set(raw) - set(QUESTION_KEYS)):
            errors.append({"field": f"{where}.{name}", "error": "unknown field"})
        question = {
            "key": raw.get("key"),
            "text": raw.get("text"),
            "type": raw.get("type"),
            "options": raw.get("options", []),
            "required": raw.get("required", False),
            "sensitive": raw.get("sensitive", False),
            "when": raw.get("when", "pre"),
        }
        errors.extend(_question_errors(question, where, seen))
        questions.append(question)
    return questions, errors


def _question_errors(question: dict[str, Any], where: str, seen: set[str]) -> Errors:
    errors: Errors = []
    key = question["key"]
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        errors.append(
            {"field": f"{where}.key", "error": "must be lower-case letters, digits and _"}
        )
    elif key in seen:
        errors.append({"field": f"{where}.key", "error": f"duplicate key {key!r}"})
    else:
        seen.add(key)
    if not isinstance(question["text"], str) or not question["text"].strip():
        errors.append({"field": f"{where}.text", "error": "required: the question as asked"})
    kind = question["type"]
    if kind not in QUESTION_TYPES:
        errors.append(
            {"field": f"{where}.type", "error": f"must be one of {', '.join(QUESTION_TYPES)}"}
        )
    options = question["options"]
    if kind in WITH_OPTIONS:
        if (
            not isinstance(options, list)
            or len(options) < 2
            or not all(isinstance(o, str) and o.strip() for o in options)
        ):
            errors.append(
                {
                    "field": f"{where}.options",
                    "error": f"a {kind} question needs two or more options",
                }
            )
        elif len(set(options)) != len(options):
            errors.append({"field": f"{where}.options", "error": "options must differ"})
    elif options not in ([], None):
        errors.append({"field": f"{where}.options", "error": f"a {kind} question takes no options"})
    else:
        question["options"] = []
    for flag in ("required", "sensitive"):
        if not isinstance(question[flag], bool):
            errors.append({"field": f"{where}.{flag}", "error": "must be true or false"})
    if question["when"] not in WHENS:
        errors.append({"field": f"{where}.when", "error": "must be pre or post"})
    return errors


def validate_survey(value: Any) -> None:
    """Model field validator: the survey's problems as one ValidationError (admin, full_clean)."""
    _, errors = survey_errors(value)
    if errors:
        raise ValidationError("; ".join(f"{e['field']}: {e['error']}" for e in errors))


def answer_errors(
    questions: list[dict[str, Any]], answers: Any, *, required_for: set[str]
) -> Errors:
    """Problems of `answers` (key to value) against `questions`: unknown keys, values of the
    wrong type or outside the options, and unanswered required questions of the phases in
    `required_for` ("pre", "post")."""
    if not isinstance(answers, dict):
        return [{"field": "answers", "error": "must be an object of question key to answer"}]
    by_key = {q["key"]: q for q in questions}
    errors: Errors = [
        {"field": f"answers.{key}", "error": "no such question"}
        for key in sorted(set(answers) - set(by_key))
    ]
    for key, question in by_key.items():
        value = answers.get(key)
        if value is None or value == "" or value == []:
            if question.get("required") and question.get("when", "pre") in required_for:
                errors.append({"field": f"answers.{key}", "error": "required"})
            continue
        problem = _answer_problem(question, value)
        if problem:
            errors.append({"field": f"answers.{key}", "error": problem})
    return errors


def _answer_problem(question: dict[str, Any], value: Any) -> str | None:
    kind, options = question["type"], question.get("options") or []
    if kind == "single":
        return None if isinstance(value, str) and value in options else "must be one of the options"
    if kind == "multiple":
        ok = isinstance(value, list) and all(isinstance(v, str) and v in options for v in value)
        if not ok:
            return "must be a list of the options"
        return None if len(set(value)) == len(value) else "an option is given twice"
    if kind == "scale":
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(options)
        return None if ok else f"must be a whole number from 1 to {len(options)}"
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "must be a number"
    if not isinstance(value, str):
        return "must be text"
    return None if len(value) <= MAX_TEXT_ANSWER else f"at most {MAX_TEXT_ANSWER} characters"


def answers_cleaned(questions: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    """Valid answers without the blank ones, in the survey's order."""
    return {
        q["key"]: answers[q["key"]]
        for q in questions
        if answers.get(q["key"]) not in (None, "", [])
    }


def answers_from_form(questions: list[dict[str, Any]], form: Any) -> dict[str, Any]:
    """A survey page's fields (a QueryDict: one per question key, several for `multiple`)
    as answers; what cannot be read as its type is kept as typed so the check names it."""
    answers: dict[str, Any] = {}
    for question in questions:
        key, kind = question["key"], question["type"]
        if kind == "multiple":
            answers[key] = form.getlist(key)
            continue
        raw = (form.get(key) or "").strip()
        if not raw:
            answers[key] = None
        elif kind in ("number", "scale"):
            answers[key] = _number(raw, whole=kind == "scale")
        else:
            answers[key] = raw
    return answers


def _number(raw: str, *, whole: bool) -> int | float | str:
    if raw.isascii() and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if whole:
        return raw
    try:
        value = float(raw) if raw.isascii() else raw
    except ValueError:
        return raw
    return value if isinstance(value, float) and math.isfinite(value) else raw


# ---------------------------------------------------------------- group quotas

QUOTA_FIELDS = ("max", "max_share", "places")
#: Question types whose answer puts an annotator in exactly one group.
QUOTA_TYPES = ("single", "scale", "text")


def text_group(text: str) -> str:
    """A free-text answer as a group: spaces collapsed, case folded ("United  kingdom" and
    "united kingdom" are one group)."""
    return " ".join(text.split()).casefold()


def group_of(question: dict[str, Any], value: Any) -> str | None:
    """The group an answer puts its annotator in (an option's label; a text answer as
    text_group gives it), or None for no answer or one that does not fit the question."""
    if value is None or value == "" or _answer_problem(question, value):
        return None
    if question["type"] == "scale":
        return question["options"][value - 1]
    return text_group(value) if question["type"] == "text" else value


def group_quota_errors(quotas: Any, survey: list[dict[str, Any]]) -> Errors:
    """Problems of a project's `group_quotas` against its survey, each named
    (`group_quotas.country.max_share`). A quota is on a `single` or `scale` question:
    `max` caps chosen options (a `text` question: answers) at a number of annotators each;
    `max_share` with `places` (the annotators the study plans for) caps every one at that
    share of them."""
    if not isinstance(quotas, dict):
        return [{"field": "group_quotas", "error": "must be an object of survey key to quota"}]
    by_key = {q["key"]: q for q in survey}
    errors: Errors = []
    for key, rule in quotas.items():
        where = f"group_quotas.{key}"
        question = by_key.get(key)
        if question is None:
            errors.append({"field": where, "error": "no such survey question"})
            continue
        if question["type"] not in QUOTA_TYPES:
            errors.append(
                {"field": where, "error": "quotas apply to single, scale and text questions"}
            )
            continue
        if not isinstance(rule, dict):
            errors.append({"field": where, "error": "must be an object: max, max_share, places"})
            continue
        errors.extend(_quota_rule_errors(rule, question, where))
    return errors


def _whole(value: Any, *, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _quota_rule_errors(rule: dict[str, Any], question: dict[str, Any], where: str) -> Errors:
    errors: Errors = [
        {"field": f"{where}.{name}", "error": "unknown field"}
        for name in sorted(set(rule) - set(QUOTA_FIELDS))
    ]
    if "max" not in rule and "max_share" not in rule:
        errors.append({"field": where, "error": "give max (per option) or max_share"})
    if "max" in rule:
        caps = rule["max"]
        if not isinstance(caps, dict) or not caps:
            errors.append({"field": f"{where}.max", "error": "must be an object of option to n"})
        else:
            for option, cap in caps.items():
                if question["type"] == "text" and not text_group(option):
                    errors.append({"field": f"{where}.max", "error": "an empty answer"})
                elif question["type"] != "text" and option not in question["options"]:
                    errors.append({"field": f"{where}.max", "error": f"no option {option!r}"})
                elif not _whole(cap, least=0):
                    errors.append(
                        {"field": f"{where}.max", "error": f"{option!r}: a whole number ≥ 0"}
                    )
    if "max_share" in rule:
        share = rule["max_share"]
        ok = isinstance(share, int | float) and not isinstance(share, bool) and 0 < share <= 1
        if not ok:
            errors.append({"field": f"{where}.max_share", "error": "a number above 0, at most 1"})
        if "places" not in rule:
            errors.append(
                {"field": f"{where}.places", "error": "max_share needs places, the share's base"}
            )
    if "places" in rule and not _whole(rule["places"], least=1):
        errors.append({"field": f"{where}.places", "error": "a whole number ≥ 1"})
    if "places" in rule and "max_share" not in rule:
        errors.append({"field": f"{where}.places", "error": "only goes with max_share"})
    return errors


def group_quota_cap(rule: dict[str, Any], question: dict[str, Any], group: str) -> int | None:
    """How many annotators of `group` a valid rule admits (None: no limit): its own `max`,
    else `max_share` of `places`, rounded down."""
    caps = rule.get("max") or {}
    if question["type"] == "text":
        caps = {text_group(answer): cap for answer, cap in caps.items()}
    if group in caps:
        return caps[group]
    if "max_share" in rule:
        return math.floor(rule["max_share"] * rule["places"] + 1e-9)
    return None
