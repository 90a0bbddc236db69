"""LLM judge prompts and answers (README, LLM judges; CONTRACT section 17): the default
template of each project kind, the rendering of a template for one task in one order, and
the reading of a judge's answer.

A template is text with `{{ placeholder }}` fields (no code runs in it). Whatever the
template, the prompt ends up asking for the JSON answer of the contract: `{{ answer_format }}`
places that request, and a template without it gets it appended. `A` is always the response
shown first. An answer is read strictly (the whole text is the JSON object), then tolerantly
(the object inside prose or a ``` fence); anything else is Unparseable, never guessed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from annotation.rankings import RankingInvalid, ranking_check, screen_labels

PAIRWISE = "pairwise"
RUBRIC = "rubric"
RANKING = "ranking"

#: The fields a template of each kind may use, and those it must use.
PLACEHOLDERS = {
    PAIRWISE: {"prompt", "response_a", "response_b", "criteria", "answer_format"},
    RUBRIC: {"prompt", "response", "rubric", "answer_format"},
    RANKING: {"prompt", "responses", "criteria", "answer_format"},
}
REQUIRED_PLACEHOLDERS = {
    PAIRWISE: ("prompt", "response_a", "response_b"),
    RUBRIC: ("prompt", "response", "rubric"),
    RANKING: ("prompt", "responses"),
}
_FIELD = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
PAIRWISE_CHOICES = {"a": "A", "b": "B", "tie": "tie", "both_bad": "both_bad"}

DEFAULT_TEMPLATES = {
    PAIRWISE: """Please act as an impartial judge and evaluate the quality of the two responses \
provided by AI assistants to the user prompt below. Choose the response that follows the \
user's instructions and answers the prompt better, considering helpfulness, relevance, \
accuracy, depth and level of detail. Do not let the order in which the responses are \
presented, their length, or the names of the assistants influence your decision. Be as \
objective as possible.
{{ criteria }}
[User prompt]
{{ prompt }}

[Response A]
{{ response_a }}
[End of Response A]

[Response B]
{{ response_b }}
[End of Response B]

{{ answer_format }}""",
    RUBRIC: """###Task Description:
An instruction, a response to evaluate, and a score rubric representing the evaluation \
criteria are given.
1. Assess the quality of the response strictly based on the given score rubric, not \
evaluating in general.
2. Then give a score for each criterion, an integer within its range, referring to the rubric.
3. Do not generate any opening, closing or explanation outside the answer asked for.

###The instruction to evaluate:
{{ prompt }}

###Response to evaluate:
{{ response }}

###Score rubrics:
{{ rubric }}

###Answer:
{{ answer_format }}""",
    RANKING: """Please act as an impartial judge and rank the responses provided by AI \
assistants to the user prompt below, from best to worst. Consider helpfulness, relevance, \
accuracy, depth and level of detail. Do not let the order in which the responses are \
presented or their length influence your ranking.
{{ criteria }}
[User prompt]
{{ prompt }}

{{ responses }}

{{ answer_format }}""",
}


class TemplateInvalid(ValueError):
    """A template that names an unknown field or lacks a required one."""


def _field(name: str) -> str:
    return "{{ " + name + " }}"


def template_check(template: Any, *, kind: str) -> str:
    """The template as stored, or TemplateInvalid naming the problem."""
    if not isinstance(template, str) or not template.strip():
        raise TemplateInvalid("must be a non-empty text")
    if len(template) > 50_000:
        raise TemplateInvalid("at most 50000 characters")
    used = set(_FIELD.findall(template))
    unknown = sorted(used - PLACEHOLDERS[kind])
    if unknown:
        allowed = ", ".join(_field(name) for name in sorted(PLACEHOLDERS[kind]))
        raise TemplateInvalid(
            f"unknown field {_field(unknown[0])} (a {kind} template takes {allowed})"
        )
    missing = [name for name in REQUIRED_PLACEHOLDERS[kind] if name not in used]
    if missing:
        raise TemplateInvalid(f"a {kind} template must show {_field(missing[0])}")
    return template


# ---------------------------------------------------------------- rendering


@dataclass(frozen=True)
class CriterionText:
    """What a prompt says of one criterion (a plain copy, so rendering needs no database)."""

    key: str
    label: str
    description: str = ""
    type: str = "score"
    min: int = 0
    max: int = 4
    levels: Sequence[tuple[int, str]] = ()


def prompt_text(prompt: Any) -> str:
    """An item's prompt as text: a conversation as its turns, each with its role."""
    if isinstance(prompt, list):
        turns = []
        for message in prompt:
            if isinstance(message, dict):
                turns.append(f"{message.get('role', 'user')}: {message.get('content', '')}")
        return "\n\n".join(turns)
    return "" if prompt is None else str(prompt)


def answer_format(kind: str, criteria: Sequence[CriterionText], count: int = 2) -> str:
    """The request for the contract's JSON answer, written out for this task."""
    if kind == PAIRWISE:
        asked = (
            '{"choice": "A" | "B" | "tie" | "both_bad", "confidence": <a number from 0 to 1>, '
            '"rationale": "<one or two sentences>"'
        )
        keyed = [c for c in criteria if c.type != "spans"]
        if keyed:
            per = ", ".join(f'"{c.key}": "A" | "B" | "tie"' for c in keyed)
            asked += f', "criteria": {{{per}}}'
        return (
            f"Answer with one JSON object and nothing else: {asked}}}. "
            '"A" is the response shown first above and "B" the one shown second.'
        )
    if kind == RUBRIC:
        per = ", ".join(
            f'"{c.key}": true | false'
            if c.type == "verdict"
            else f'"{c.key}": <{c.min} to {c.max}>'
            for c in criteria
            if c.type != "spans"
        )
        return (
            f'Answer with one JSON object and nothing else: {{"scores": {{{per}}}, '
            '"confidence": <a number from 0 to 1>, "rationale": "<your feedback>"}.'
        )
    labels = screen_labels(count)
    example = json.dumps([[label] for label in labels])
    return (
        'Answer with one JSON object and nothing else: {"ranking": <groups of labels, best '
        f'first>, "confidence": <a number from 0 to 1>, "rationale": "<one or two sentences>"}}, '
        f'for example {{"ranking": {example}}}; put labels in one group only for a tie. '
        f"The labels are {', '.join(labels)}, in the order the responses are shown."
    )


def _criteria_text(criteria: Sequence[CriterionText]) -> str:
    keyed = [c for c in criteria if c.type != "spans"]
    if not keyed:
        return ""
    lines = [f"- {c.label} ({c.key}){': ' + c.description if c.description else ''}" for c in keyed]
    return "\nAlso judge each of these criteria:\n" + "\n".join(lines) + "\n"


def _rubric_text(criteria: Sequence[CriterionText]) -> str:
    """Prometheus-style score rubrics: per criterion, what each score means."""
    blocks = []
    for c in criteria:
        if c.type == "spans":
            continue
        head = f"[{c.label} ({c.key})]{' ' + c.description if c.description else ''}"
        if c.type == "verdict":
            blocks.append(f"{head}\ntrue: the response is good on this criterion\nfalse: it is not")
            continue
        levels = [
            f"Score {score}: {text}" if text else f"Score {score}" for score, text in c.levels
        ]
        blocks.append("\n".join([head, f"An integer from {c.min} to {c.max}.", *levels]))
    return "\n\n".join(blocks)


def template_render(
    template: str,
    *,
    kind: str,
    prompt: Any,
    responses: Sequence[str],
    criteria: Sequence[CriterionText],
) -> str:
    """The prompt for one task with its responses in the order given (the first is `A`)."""
    values = {"prompt": prompt_text(prompt), "criteria": _criteria_text(criteria)}
    if kind == PAIRWISE:
        values["response_a"], values["response_b"] = responses[0], responses[1]
    elif kind == RUBRIC:
        values["response"], values["rubric"] = responses[0], _rubric_text(criteria)
    else:
        labels = screen_labels(len(responses))
        values["responses"] = "\n\n".join(
            f"[Response {label}]\n{text}\n[End of Response {label}]"
            for label, text in zip(labels, responses, strict=True)
        )
    values["answer_format"] = answer_format(kind, criteria, len(responses))
    text = _FIELD.sub(lambda match: values.get(match.group(1), match.group(0)), template)
    if "answer_format" not in set(_FIELD.findall(template)):
        text = f"{text.rstrip()}\n\n{values['answer_format']}"
    return text


# ---------------------------------------------------------------- answers


class Unparseable(ValueError):
    """An answer in which no valid JSON answer could be found; the message says why."""


@dataclass
class JudgeAnswer:
    """A judge's answer, read: in screen terms (`A` = shown first) for pairwise and ranking
    (labels), by criterion key for a rubric. `lenient`: found inside prose or a fence."""

    choice: str = ""
    criteria: dict[str, str] = field(default_factory=dict)
    scores: dict[str, int | bool] = field(default_factory=dict)
    ranking: list[list[str]] | None = None
    confidence: float | None = None
    rationale: str = ""
    lenient: bool = False

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"confidence": self.confidence, "rationale": self.rationale}
        if self.choice:
            data["choice"] = self.choice
        if self.criteria:
            data["criteria"] = self.criteria
        if self.scores:
            data["scores"] = self.scores
        if self.ranking is not None:
            data["ranking"] = self.ranking
        return data


_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


def _objects_in(text: str) -> list[dict[str, Any]]:
    """Every JSON object in `text`: inside code fences first, then wherever one starts."""
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    places = [match.group(1) for match in _FENCE.finditer(text)] + [text]
    for place in places:
        for start in (m.start() for m in re.finditer(r"\{", place)):
            try:
                value, _ = decoder.raw_decode(place, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
    return found


def answer_parse(
    text: str, *, kind: str, criteria: Sequence[CriterionText], count: int = 2
) -> JudgeAnswer:
    """The answer in `text`, or Unparseable. The whole text as one JSON object is read
    strictly; otherwise the first object in it that is a valid answer is taken (lenient)."""
    stripped = (text or "").strip()
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return _answer_of(whole, kind=kind, criteria=criteria, count=count)
    problem = "no JSON object in the answer"
    for candidate in _objects_in(stripped):
        try:
            answer = _answer_of(candidate, kind=kind, criteria=criteria, count=count)
        except Unparseable as exc:
            problem = str(exc)
            continue
        answer.lenient = True
        return answer
    raise Unparseable(problem)


def _confidence(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unparseable("confidence must be a number from 0 to 1")
    if not 0 <= value <= 1:
        raise Unparseable("confidence must be a number from 0 to 1")
    return float(value)


def _pairwise_side(value: Any, where: str, allowed: dict[str, str]) -> str:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return allowed[value.strip().lower()]
    raise Unparseable(f"{where} must be one of {', '.join(dict.fromkeys(allowed.values()))}")


def _answer_of(
    data: dict[str, Any], *, kind: str, criteria: Sequence[CriterionText], count: int
) -> JudgeAnswer:
    rationale = data.get("rationale")
    answer = JudgeAnswer(
        confidence=_confidence(data.get("confidence")),
        rationale=rationale[:5000] if isinstance(rationale, str) else "",
    )
    keyed = [c for c in criteria if c.type != "spans"]
    if kind == PAIRWISE:
        if "choice" not in data:
            raise Unparseable('no "choice"')
        answer.choice = _pairwise_side(data["choice"], "choice", PAIRWISE_CHOICES)
        given = data.get("criteria")
        if isinstance(given, dict):
            sides = {"a": "A", "b": "B", "tie": "tie"}
            for c in keyed:
                if c.key in given:
                    answer.criteria[c.key] = _pairwise_side(
                        given[c.key], f"criteria.{c.key}", sides
                    )
        return answer
    if kind == RUBRIC:
        scores = data.get("scores")
        if not isinstance(scores, dict):
            raise Unparseable('no "scores" object')
        for c in keyed:
            value = scores.get(c.key)
            if c.type == "verdict":
                if not isinstance(value, bool):
                    raise Unparseable(f"scores.{c.key} must be true or false")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value != int(value)
                or not c.min <= value <= c.max
            ):
                raise Unparseable(f"scores.{c.key} must be an integer from {c.min} to {c.max}")
            answer.scores[c.key] = value if isinstance(value, bool) else int(value)
        return answer
    try:
        answer.ranking = ranking_check(
            data.get("ranking"), names=screen_labels(count), allow_tie=True
        )
    except RankingInvalid as exc:
        raise Unparseable(f"ranking: {exc}") from None
    return answer
