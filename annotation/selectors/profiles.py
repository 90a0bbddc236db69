"""Annotators' profiles as figures by group read them (README "Figures by group"): which
answer each annotator gave to a survey question, and how many gave each (with the same
suppression of small groups). An annotator's profile is their latest answers in the project
(any survey version); an answer that no longer fits the question as it stands now counts
as no answer, as in the annotators export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from annotation.models import Project, SurveyAnswers
from annotation.stats.groups import OTHER, groups_shown
from annotation.surveys import answer_errors

#: Question types whose answers fall into groups (a number or free text is not a group).
GROUPABLE_TYPES = ("single", "multiple", "scale")


def profile_question(*, project: Project, key: str) -> dict[str, Any] | None:
    """The project's survey question with this key, if there is one."""
    return next((q for q in project.survey if q["key"] == key), None)


def profile_latest_answers(*, project: Project) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each annotator's profile: their latest answers in the project (any survey version),
    in one query read in chunks. Figures by group, the profile summary and the exports'
    profile columns all read it, so they agree on who answered what."""
    rows = (
        SurveyAnswers.objects.filter(project=project)
        .order_by("annotator_id", "-version")
        .values_list("annotator_id", "answers")
    )
    last = None
    for annotator_id, answers in rows.iterator(chunk_size=5000):
        if annotator_id != last:
            last = annotator_id
            yield annotator_id, answers if isinstance(answers, dict) else {}


def _fits(question: dict[str, Any], value: Any) -> bool:
    """Whether an answer is given and fits the question as it stands now."""
    if value in (None, "", []):
        return False
    return not answer_errors([question], {question["key"]: value}, required_for=set())


def _answer_groups(question: dict[str, Any], value: Any) -> list[str]:
    """The groups (option labels) an answer puts its annotator in: none for a missing answer
    or one that does not fit the question now."""
    if not _fits(question, value):
        return []
    if question["type"] == "multiple":
        return list(value)
    if question["type"] == "scale":
        return [question["options"][value - 1]]
    return [value]


@dataclass(frozen=True)
class ProfileMembers:
    """Who is in which group: `annotator[i]` is in group `names[group[i]]`; an annotator with
    several answers (multiple choice) appears once per answer."""

    annotator: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    names: list[str]


def profile_members(*, project: Project, question: dict[str, Any]) -> ProfileMembers:
    """The annotators of each answer to `question` (its options, in their order), in one query."""
    names = list(question["options"])
    code = {name: position for position, name in enumerate(names)}
    annotators: list[int] = []
    groups: list[int] = []
    for annotator_id, answers in profile_latest_answers(project=project):
        for name in _answer_groups(question, answers.get(question["key"])):
            annotators.append(annotator_id)
            groups.append(code[name])
    return ProfileMembers(
        np.array(annotators, dtype=np.int64), np.array(groups, dtype=np.int64), names
    )


def profile_summary(*, project: Project, include_sensitive: bool = False) -> list[dict[str, Any]]:
    """For each survey question (sensitive ones only when asked): how many annotators
    answered, and for a question with options how many gave each, the options fewer than
    `min_group_annotators` gave merged into `other` (left out if still fewer), in one query."""
    questions = [q for q in project.survey if include_sensitive or not q.get("sensitive")]
    k = project.min_group_annotators
    answered = {q["key"]: 0 for q in questions}
    members: dict[str, dict[str, set[int]]] = {q["key"]: {} for q in questions}
    for annotator_id, answers in profile_latest_answers(project=project):
        for question in questions:
            if question["type"] in GROUPABLE_TYPES:
                chosen = _answer_groups(question, answers.get(question["key"]))
            else:
                chosen = [""] if _fits(question, answers.get(question["key"])) else []
            if chosen:
                answered[question["key"]] += 1
            for name in chosen:
                members[question["key"]].setdefault(name, set()).add(annotator_id)
    summary = []
    for question in questions:
        entry: dict[str, Any] = {
            "key": question["key"],
            "text": question["text"],
            "type": question["type"],
            "sensitive": bool(question.get("sensitive")),
            "answered": answered[question["key"]],
        }
        if question["type"] in GROUPABLE_TYPES:
            entry["counts"] = _counts_shown(question["options"], members[question["key"]], k)
        summary.append(entry)
    return summary


def _counts_shown(options: list[str], members: dict[str, set[int]], k: int) -> list[dict[str, Any]]:
    """The counts of the answers that may be shown, as the figures by group show them."""
    shown = groups_shown(
        {name: np.array(sorted(ids), dtype=np.int64) for name, ids in members.items()}, k
    )
    order = [option for option in options if option in shown and option != OTHER]
    if OTHER in shown:
        order.append(OTHER)
    return [{"answer": name, "annotators": len(shown[name])} for name in order]
