"""Rewrites (README "Rewrites"): an annotator's corrected version of a response, stored with
the judgment and the response it replaces. Which response is rewritten follows from the
answer: a rubric task's response, a pairwise task's preferred one, a ranking's first; where
the answer names none (a tie, both bad, a tie for first place) the annotator names it with
`rewrite_of`, as shown on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotation.models import Project

MAX_REWRITE = 20_000


def rewrite_checked(
    project: Project,
    *,
    rewrite: Any,
    rewrite_of: Any,
    choice: Any,
    ranking: Any,
    responses: Mapping[str, tuple[int, str]],
    errors: list[dict[str, str]],
    names: Mapping[str, str] | None = None,
) -> tuple[str, int | None]:
    """The rewrite as stored and the id of the response it replaces ("", None: none). A text
    equal to the original (spaces aside) is no rewrite. `names` turns the answer's names of
    the responses (left / right, A, B..., response) into the keys of `responses` when those
    differ (a judgment import names responses by their ids); `rewrite_of` is such a key.
    Problems are added to `errors`."""
    text = rewrite.strip() if isinstance(rewrite, str) else ""
    if rewrite is not None and not isinstance(rewrite, str):
        errors.append({"field": "rewrite", "error": "must be a text"})
        return "", None
    if project.rewrite == Project.Rewrite.OFF:
        if text or rewrite_of not in (None, ""):
            field = "rewrite" if text else "rewrite_of"
            errors.append({"field": field, "error": "this project takes no rewrite"})
        return "", None
    if len(text) > MAX_REWRITE:
        errors.append({"field": "rewrite", "error": f"at most {MAX_REWRITE} characters"})
        return "", None
    if not text:
        if rewrite_of not in (None, ""):
            errors.append({"field": "rewrite_of", "error": "goes with a rewrite"})
        elif project.rewrite == Project.Rewrite.REQUIRED:
            errors.append({"field": "rewrite", "error": REWRITE_REQUIRED})
        return "", None
    lookup = names if names is not None else {name: name for name in responses}
    name = _rewritten_name(project, rewrite_of, choice, ranking, lookup, errors)
    if name is None:
        return "", None
    response_id, original = responses[name]
    if text == original.strip():  # not edited
        if project.rewrite == Project.Rewrite.REQUIRED:
            errors.append(
                {"field": "rewrite", "error": REWRITE_REQUIRED + " (this is the original)"}
            )
        return "", None
    return text, response_id


#: The start of the error a required rewrite left out (or left as it was) gets; the task page
#: says it in the annotator's language.
REWRITE_REQUIRED = "this project asks for a rewrite of the response"


def _rewritten_name(
    project: Project,
    rewrite_of: Any,
    choice: Any,
    ranking: Any,
    lookup: Mapping[str, str],
    errors: list[dict[str, str]],
) -> str | None:
    """The name (as `lookup` gives it) of the response rewritten: the one the answer points
    to, or `rewrite_of` where the answer leaves a choice. `lookup` maps the answer's names
    (response, left / right, A, B...) to those names."""
    if project.is_pairwise:
        shown = [choice] if choice in ("left", "right") else ["left", "right"]
        why = "the preferred response is the one rewritten"
    elif project.is_ranking:
        first = ranking[0] if isinstance(ranking, list) and ranking else []
        shown = (
            [label for label in first if isinstance(label, str)] if isinstance(first, list) else []
        )
        why = "the response ranked first is the one rewritten"
    else:
        shown = list(lookup)
        why = "a rubric task rewrites its response"
    candidates = [lookup[name] for name in shown if name in lookup]
    if not candidates:
        return None  # the answer itself is refused; its error says why
    if rewrite_of in (None, ""):
        if len(candidates) == 1:
            return candidates[0]
        errors.append(
            {
                "field": "rewrite_of",
                "error": f"name the response rewritten: {', '.join(candidates)}",
            }
        )
        return None
    if rewrite_of not in candidates:
        errors.append(
            {"field": "rewrite_of", "error": f"must be one of {', '.join(candidates)} ({why})"}
        )
        return None
    return rewrite_of
