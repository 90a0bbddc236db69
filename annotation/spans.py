"""Span-level feedback: the rules a span criterion's label set and an annotator's spans
must follow, wherever they come from (the API, the admin, a preset, the task page).

A span is `{"response", "start", "end", "label", "note"}`: character offsets into the
response text as imported, in Python string indices (Unicode code points; the task page
converts from the browser's UTF-16 units before it posts). A vote names the response as
the annotator saw it (`left` / `right`, a ranking's screen label, or `response`); the
judgment stores the response id.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

#: Longest note an annotator may attach to one span, and most spans in one judgment.
NOTE_MAX = 1000
SPANS_MAX = 200
_KEY = re.compile(r"[A-Za-z0-9_-]{1,50}")


class SpansInvalid(ValueError):
    """A label set or a span that breaks a rule; `field` names where, the message what."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def span_labels_check(labels: Any) -> list[dict[str, str]]:
    """A span criterion's label set as stored, or SpansInvalid: a non-empty list of
    `{"key", "description", "shortcut"}` with unique keys (slugs) and unique one-character
    shortcuts, so each label can be picked by its key on the task page."""
    if not isinstance(labels, list) or not labels:
        raise SpansInvalid("labels", 'must be a non-empty list of {"key", "description"}')
    clean: list[dict[str, str]] = []
    keys: set[str] = set()
    shortcuts: set[str] = set()
    for position, label in enumerate(labels):
        where = f"labels[{position}]"
        if not isinstance(label, Mapping):
            raise SpansInvalid(where, 'must be an object {"key", "description", "shortcut"}')
        unknown = sorted(set(map(str, label)) - {"key", "description", "shortcut"})
        if unknown:
            raise SpansInvalid(f"{where}.{unknown[0]}", "unknown field")
        key = label.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise SpansInvalid(f"{where}.key", "must be a name of ASCII letters, digits, - and _")
        if key in keys:
            raise SpansInvalid(f"{where}.key", f"duplicate key {key!r}")
        keys.add(key)
        description = label.get("description", "")
        shortcut = label.get("shortcut", "")
        if not isinstance(description, str) or not isinstance(shortcut, str):
            raise SpansInvalid(where, "description and shortcut must be text")
        if shortcut and not (len(shortcut) == 1 and shortcut.isascii() and shortcut.isalnum()):
            raise SpansInvalid(f"{where}.shortcut", "must be one letter or digit")
        if shortcut and shortcut.lower() in shortcuts:
            raise SpansInvalid(f"{where}.shortcut", f"duplicate shortcut {shortcut!r}")
        shortcuts.add(shortcut.lower())
        clean.append({"key": key, "description": description, "shortcut": shortcut.lower()})
    return clean


def spans_canonical(
    given: Any, *, labels: set[str], responses: Mapping[str, tuple[int, str]]
) -> list[dict[str, Any]]:
    """Spans in screen terms as stored, or SpansInvalid naming the first problem.

    `responses` maps the names the annotator may use (left / right, A, B..., response) to
    (response id, text). Offsets must satisfy 0 <= start < end <= len(text), in code
    points; the label must be one of the project's span labels."""
    if not isinstance(given, list):
        raise SpansInvalid("spans", "must be a list of spans")
    if len(given) > SPANS_MAX:
        raise SpansInvalid("spans", f"at most {SPANS_MAX} spans per judgment")
    if given and not labels:
        raise SpansInvalid("spans", "this project has no span criterion")
    clean: list[dict[str, Any]] = []
    seen: set[tuple[int, int, int, str]] = set()
    for position, span in enumerate(given):
        where = f"spans[{position}]"
        if not isinstance(span, Mapping):
            raise SpansInvalid(where, 'must be an object {"response", "start", "end", "label"}')
        unknown = sorted(set(map(str, span)) - {"response", "start", "end", "label", "note"})
        if unknown:
            raise SpansInvalid(f"{where}.{unknown[0]}", "unknown field")
        name = span.get("response")
        if not isinstance(name, str) or name not in responses:
            raise SpansInvalid(
                f"{where}.response", f"must be one of {', '.join(sorted(responses))}"
            )
        response_id, text = responses[name]
        start, end = span.get("start"), span.get("end")
        for field, value in (("start", start), ("end", end)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise SpansInvalid(f"{where}.{field}", "must be an integer")
        if not 0 <= start < end <= len(text):
            raise SpansInvalid(
                where,
                f"must have 0 <= start < end <= {len(text)} (the response's length in "
                f"characters); got start {start}, end {end}",
            )
        label = span.get("label")
        if label not in labels:
            raise SpansInvalid(f"{where}.label", f"must be one of {', '.join(sorted(labels))}")
        note = span.get("note") or ""
        if not isinstance(note, str) or len(note) > NOTE_MAX:
            raise SpansInvalid(f"{where}.note", f"must be a text of at most {NOTE_MAX} characters")
        if (response_id, start, end, label) in seen:
            raise SpansInvalid(where, "the same span with the same label is given twice")
        seen.add((response_id, start, end, label))
        clean.append(
            {"response": response_id, "start": start, "end": end, "label": label, "note": note}
        )
    clean.sort(key=lambda s: (s["response"], s["start"], s["end"], s["label"]))
    return clean


def span_pieces(text: str, spans: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """A response's text cut at every boundary of its spans, each piece with the spans that
    cover it (in their order): how a page highlights overlapping marks without markup in
    the text itself."""
    cuts = sorted({0, len(text)} | {s["start"] for s in spans} | {s["end"] for s in spans})
    pieces = []
    for start, end in itertools.pairwise(cuts):
        if start < end:
            covering = [s for s in spans if s["start"] <= start and end <= s["end"]]
            pieces.append((text[start:end], covering))
    return pieces
