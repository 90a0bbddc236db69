"""Importing items: one service behind the command, the admin upload and the REST API.

A file is parsed and every line validated first; only when no line is bad is anything
written, in one transaction. Re-importing an item with the same id updates it in place.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from annotation.errors import ImportRejected
from annotation.exports.encoders import csv_text_read
from annotation.models import Criterion, Item, Project, Response, Task, model_pair_key
from annotation.pg.copy_in import insert_rows, update_rows
from annotation.rankings import (
    MAX_RANKED,
    MIN_RANKED,
    RankingInvalid,
    ranking_check,
    ranking_translate,
)
from annotation.spans import SpansInvalid, spans_canonical
from annotation.stats.style import style_features

MAX_REPORTED_ERRORS = 200
#: Rows written per step of an import (all in its one transaction); its progress is told
#: after each step.
WRITE_CHUNK = 2500
#: Told how many rows an import has written so far.
ImportProgress = Callable[[int], None]
MESSAGE_ROLES = {"system", "user", "assistant", "tool"}
#: The keys of each form of an item row (README "Import format"); any other is refused by name.
ITEM_KEYS = frozenset({"id", "prompt", "responses", "pairs", "metadata", "reference", "gold"})
RESPONSE_KEYS = frozenset({"id", "model", "text"})
MESSAGE_KEYS = frozenset({"role", "content"})
PREFERENCE_KEYS = frozenset(
    {"id", "prompt", "chosen", "rejected", "chosen_model", "rejected_model", "metadata"}
)
HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


@dataclass
class ResponseSpec:
    external_id: str
    model: str
    text: str


@dataclass
class ItemSpec:
    line: int
    external_id: str
    prompt: str | list[dict[str, str]]
    responses: list[ResponseSpec]
    pairs: list[tuple[str, str]]
    metadata: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None
    gold: dict[str, Any] | None = None


@dataclass
class ImportResult:
    """What an import did: an item already there is updated when anything of it changed
    (its content, a response, a pair or its known answer), else unchanged."""

    items_created: int = 0
    items_updated: int = 0
    items_unchanged: int = 0
    responses_created: int = 0
    tasks_created: int = 0

    @property
    def items_total(self) -> int:
        return self.items_created + self.items_updated + self.items_unchanged

    def as_dict(self) -> dict[str, int]:
        return {
            "items_created": self.items_created,
            "items_updated": self.items_updated,
            "items_unchanged": self.items_unchanged,
            "responses_created": self.responses_created,
            "tasks_created": self.tasks_created,
        }

    def summary(self) -> str:
        return (
            f"{self.items_total} items imported ({self.items_created} new, "
            f"{self.items_updated} updated, {self.items_unchanged} unchanged), "
            f"{self.responses_created} new responses, {self.tasks_created} new tasks"
        )


class RowError(ValueError):
    """A problem with one line of the input."""


# ---------------------------------------------------------------- reading files

#: JSON from outside nests at most this deep (an item needs 4 levels; metadata a few more):
#: deeper input is refused before it is parsed, so it never meets Python's recursion limit.
MAX_JSON_DEPTH = 64
_NESTING_ERROR = f"nested deeper than {MAX_JSON_DEPTH} levels"
_STRUCTURE = b'"[]{}'
_DROP_ALL_BUT_STRUCTURE = bytes(c for c in range(256) if c not in _STRUCTURE)
_DROP_ALL_BUT_LINES = bytes(c for c in range(256) if c not in _STRUCTURE + b"\n")
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


class JSONTooDeep(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH."""

    def __init__(self) -> None:
        super().__init__(_NESTING_ERROR)


def _structure(data: bytes, keep: bytes) -> np.ndarray:
    """The quotes that delimit strings, the brackets and `keep` of a JSON text, in order: a
    few passes in C. UTF-8: every byte of a multi-byte character is above 127, so none is
    taken for a bracket or a quote."""
    if b'\\"' in data:  # escaped quotes: drop every escaped backslash, then every \"
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return np.frombuffer(data.translate(None, keep), dtype=np.uint8)


def _too_few_brackets(data: bytes, max_depth: int) -> bool:
    """Whether a short text has too few brackets to nest deeper than max_depth (a long one
    always has enough: counting would only add a pass)."""
    return len(data) < 65536 and data.count(b"[") + data.count(b"{") <= max_depth


def _depths(codes: np.ndarray) -> np.ndarray:
    """The nesting depth after each code (brackets inside strings do not count)."""
    outside = (np.cumsum(codes == ord('"'), dtype=np.int32) & 1) == 0
    return np.cumsum(np.where(outside, _STEP[codes], 0), dtype=np.int32)


def json_too_deep(data: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text's arrays and objects nest deeper than max_depth: a third of the
    time json.loads takes, and no recursion."""
    if _too_few_brackets(data, max_depth):
        return False
    depths = _depths(_structure(data, _DROP_ALL_BUT_STRUCTURE))
    return bool(len(depths)) and int(depths.max()) > max_depth


def json_too_deep_lines(data: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> list[int]:
    """json_too_deep for each line of JSON Lines (numbered from 1, split at \\n) at once:
    the lines that nest too deep. Each line counts from zero, whatever the line before it."""
    if _too_few_brackets(data, max_depth):
        return []
    codes = _structure(data, _DROP_ALL_BUT_LINES)
    newline = codes == ord("\n")
    last_newline = np.maximum.accumulate(
        np.where(newline, np.arange(len(codes), dtype=np.int32), -1)
    )
    starts_here = last_newline >= 0

    def since_line_start(totals: np.ndarray) -> np.ndarray:
        return totals - np.where(starts_here, totals[np.maximum(last_newline, 0)], 0)

    outside = (since_line_start(np.cumsum(codes == ord('"'), dtype=np.int32)) & 1) == 0
    depth = since_line_start(np.cumsum(np.where(outside, _STEP[codes], 0), dtype=np.int32))
    deep = np.flatnonzero(depth > max_depth)
    if len(deep) == 0:
        return []
    line_of = np.cumsum(newline, dtype=np.int32)
    return (np.unique(line_of[deep]) + 1).tolist()


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# One decoder for every line (json.loads with an argument would build one per call).
_DECODER = json.JSONDecoder(parse_constant=_not_json)


def json_loads(data: bytes | str) -> Any:
    """json.loads for input from outside (bytes in UTF-8): nesting deeper than MAX_JSON_DEPTH
    raises JSONTooDeep (never a RecursionError), NaN and Infinity are refused (they are not
    JSON, and PostgreSQL's jsonb refuses them); every problem is a ValueError."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if json_too_deep(raw):
        raise JSONTooDeep
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    try:
        return _DECODER.decode(text)
    except RecursionError as exc:  # not reached: the depth is checked above
        raise JSONTooDeep from exc


def json_error(exc: ValueError) -> str:
    """What was wrong with a JSON text, in a few words."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg}"
    if "digits" in str(exc):  # int() of more than sys.get_int_max_str_digits() digits
        return "invalid JSON: a number with too many digits"
    return f"invalid JSON: {exc}"


def read_rows(content: bytes | str, *, filetype: str) -> list[tuple[int, Any]]:
    """Split a JSONL, JSON or CSV file into (line number, parsed row); unreadable lines
    raise ImportRejected with every line number at once."""
    rows, errors = read_rows_lenient(content, filetype=filetype)
    if errors:
        raise ImportRejected(errors=errors[:MAX_REPORTED_ERRORS])
    return rows


def read_rows_lenient(
    content: bytes | str, *, filetype: str
) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """Like read_rows, but hands back the unreadable lines beside the readable ones, so
    one report can name every bad line of a file, unreadable or invalid."""
    text = _decode(content)
    if filetype in ("jsonl", "ndjson"):
        return _read_jsonl(content, text)
    if filetype == "json":
        try:
            data = json_loads(text)
        except ValueError as exc:
            return [], [{"line": getattr(exc, "lineno", 1), "error": json_error(exc)}]
        if not isinstance(data, list):
            return [], [{"line": 1, "error": "expected a JSON list of items"}]
        return list(enumerate(data, start=1)), []
    if filetype == "csv":
        return _read_csv(text)
    raise ImportRejected(
        f"Unknown file type {filetype!r}: use .jsonl, .json or .csv.",
        errors=[{"line": 0, "error": f"unknown file type {filetype!r}"}],
    )


def rows_from_body(body: Any) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """A request body as numbered rows (and its unreadable lines): JSON Lines text, a JSON
    list (rows numbered from 1) or a single JSON object."""
    if isinstance(body, bytes | str):
        return read_rows_lenient(body, filetype="jsonl")
    if isinstance(body, list):
        return list(enumerate(body, start=1)), []
    if isinstance(body, dict):
        return [(1, body)], []
    raise ImportRejected(errors=[{"line": 0, "error": "expected a JSON list or JSONL"}])


def filetype_from_name(name: str) -> str:
    lowered = name.lower()
    for suffix, filetype in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "json"),
        (".csv", "csv"),
    ):
        if lowered.endswith(suffix):
            return filetype
    return "jsonl"


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            "The file is not UTF-8; nothing was imported.",
            errors=[{"line": line, "error": f"not UTF-8 (byte {exc.start})"}],
        ) from exc


def _read_jsonl(
    content: bytes | str, text: str
) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """Lines split at \\n only (a JSON string may hold U+2028, which str.splitlines() would
    split at); each line's nesting checked at once over the whole body, before any parse."""
    raw = content if isinstance(content, bytes) else text.encode("utf-8", "surrogatepass")
    too_deep = set(json_too_deep_lines(raw))
    rows: list[tuple[int, Any]] = []
    errors: list[dict[str, Any]] = []
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if line_number in too_deep:
            errors.append({"line": line_number, "error": f"invalid JSON: {_NESTING_ERROR}"})
            continue
        try:
            rows.append((line_number, _DECODER.decode(line)))
        except ValueError as exc:
            errors.append({"line": line_number, "error": json_error(exc)})
        except RecursionError:  # not reached: too_deep has the line
            errors.append({"line": line_number, "error": f"invalid JSON: {_NESTING_ERROR}"})
    return rows, errors


def _read_csv(text: str) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[tuple[int, Any]] = []
    errors: list[dict[str, Any]] = []
    try:
        if reader.fieldnames is None:
            return rows, [{"line": 1, "error": "the CSV file is empty"}]
        line_number = reader.line_num + 1
        for record in reader:
            row, problems = _csv_record_to_row(record)
            if problems:
                errors.extend({"line": line_number, "error": p} for p in problems)
            else:
                rows.append((line_number, row))
            line_number = reader.line_num + 1
    except csv.Error as exc:
        errors.append({"line": reader.line_num, "error": f"bad CSV: {exc}"})
    return rows, errors


_CSV_JSON_COLUMNS = ("responses", "pairs", "metadata", "gold")


def _csv_record_to_row(record: dict[str | None, Any]) -> tuple[dict[str, Any], list[str]]:
    """CSV carries the same top-level columns; structured ones hold JSON text. A text our
    CSV export escaped against spreadsheet formulas ('=...) is read back as it was."""
    problems: list[str] = []
    if None in record:
        problems.append("more fields than the header has columns")
    row: dict[str, Any] = {}
    for column, value in record.items():
        if column is None or value is None or value == "":
            continue
        if column in _CSV_JSON_COLUMNS:
            try:
                row[column] = json_loads(value)
            except JSONTooDeep:
                problems.append(f"column {column!r}: JSON {_NESTING_ERROR}")
            except ValueError:
                problems.append(f"column {column!r} must hold JSON")
        elif column in ("prompt", "chosen", "rejected") and value.lstrip().startswith("[{"):
            try:
                row[column] = json_loads(value)
            except ValueError:
                row[column] = csv_text_read(value)
        else:
            row[column] = csv_text_read(value)
    return row, problems


# ---------------------------------------------------------------- validating rows


def parse_item_rows(
    project: Project,
    rows: Iterable[tuple[int, Any]],
    *,
    read_errors: list[dict[str, Any]] | None = None,
) -> list[ItemSpec]:
    """Turn raw rows into validated item specs; raise ImportRejected naming every bad line
    (with the lines that could not even be read, when given)."""
    criteria = {c.key: c for c in project.criteria.all()}
    specs: list[ItemSpec] = []
    errors: list[dict[str, Any]] = list(read_errors or [])
    first_line_of: dict[str, int] = {}
    for line, row in rows:
        try:
            spec = _row_to_spec(project, criteria, line, row)
        except RowError as exc:
            errors.append({"line": line, "error": str(exc)})
            continue
        if spec.external_id in first_line_of:
            errors.append(
                {
                    "line": line,
                    "error": f"duplicate id {spec.external_id!r} "
                    f"(first on line {first_line_of[spec.external_id]})",
                }
            )
            continue
        first_line_of[spec.external_id] = line
        specs.append(spec)
    if errors:
        errors.sort(key=lambda e: e["line"])
        raise ImportRejected(errors=errors[:MAX_REPORTED_ERRORS])
    return specs


def _row_to_spec(project: Project, criteria: dict[str, Criterion], line: int, row: Any) -> ItemSpec:
    if not isinstance(row, dict):
        raise RowError("each line must be a JSON object")
    if "responses" in row:
        _refuse_unknown_keys(row, ITEM_KEYS)
        return _native_spec(project, criteria, line, row)
    if "chosen" in row and "rejected" in row:
        _refuse_unknown_keys(row, PREFERENCE_KEYS)
        return _preference_spec(project, line, row)
    missing = 'missing field "responses" (or "chosen" and "rejected")'
    unknown = sorted(str(key) for key in row if key not in ITEM_KEYS | PREFERENCE_KEYS)
    raise RowError("; ".join([missing, *(f"{key}: unknown key" for key in unknown)]))


def _refuse_unknown_keys(row: dict[str, Any], known: frozenset[str], where: str = "") -> None:
    """A key the format does not have is named, never dropped: a typo (`metadta`) or a
    dataset's extra column would otherwise vanish. Extra data belongs in `metadata`."""
    unknown = sorted(str(key) for key in row if key not in known)
    if unknown:
        raise RowError("; ".join(f"{where}{key}: unknown key" for key in unknown))


def _object_or_none(row: dict[str, Any], key: str) -> dict[str, Any] | None:
    """An object field, or None. Its JSON text is read as the object: the items export
    writes `metadata`, `gold` and `reference` as JSON text in every file type."""
    value = row.get(key)
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json_loads(value)
        except JSONTooDeep:
            raise RowError(f'"{key}": JSON {_NESTING_ERROR}') from None
        except ValueError:
            raise RowError(f'"{key}" must be an object or its JSON text') from None
    if value is not None and not isinstance(value, dict):
        raise RowError(f'"{key}" must be an object')
    return value


def _native_spec(
    project: Project, criteria: dict[str, Criterion], line: int, row: dict[str, Any]
) -> ItemSpec:
    if "prompt" not in row:
        raise RowError('missing field "prompt"')
    prompt = _clean_prompt(row["prompt"])
    raw_responses = row["responses"]
    if not isinstance(raw_responses, list) or not raw_responses:
        raise RowError('"responses" must be a non-empty list')
    responses: list[ResponseSpec] = []
    for position, raw in enumerate(raw_responses, start=1):
        if not isinstance(raw, dict):
            raise RowError(f"response {position} must be an object")
        _refuse_unknown_keys(raw, RESPONSE_KEYS, where=f"response {position}: ")
        response_id = raw.get("id", f"r{position}")
        if not isinstance(response_id, str | int) or str(response_id) == "":
            raise RowError(f"response {position} has a bad id")
        model = raw.get("model")
        if not isinstance(model, str) or not model.strip():
            raise RowError(f'response {position} is missing "model"')
        text = raw.get("text")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise RowError(f'response {position}: "text" must be a string')
        responses.append(ResponseSpec(str(response_id), model.strip(), text))
    ids = [r.external_id for r in responses]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RowError(f"duplicate response id {duplicates[0]!r}")

    pairs: list[tuple[str, str]] = []
    if project.is_pairwise:
        if len(responses) < 2:
            raise RowError("a pairwise item needs at least two responses")
        pairs = _clean_pairs(row.get("pairs"), ids)
    elif row.get("pairs"):
        raise RowError('"pairs" only applies to pairwise projects')
    if project.is_ranking and not MIN_RANKED <= len(responses) <= MAX_RANKED:
        raise RowError(
            f"a ranking item needs {MIN_RANKED} to {MAX_RANKED} responses, "
            f"this one has {len(responses)}"
        )

    metadata = _object_or_none(row, "metadata") or {}
    reference = _object_or_none(row, "reference")
    gold = _clean_gold(project, criteria, _object_or_none(row, "gold"), responses)
    external_id = row.get("id")
    if external_id is None or external_id == "":
        external_id = _content_id(prompt, [(r.model, r.text) for r in responses])
    elif not isinstance(external_id, str | int):
        raise RowError('"id" must be a string or a number')
    return ItemSpec(
        line=line,
        external_id=str(external_id),
        prompt=prompt,
        responses=responses,
        pairs=pairs,
        metadata=metadata,
        reference=reference,
        gold=gold,
    )


def _preference_spec(project: Project, line: int, row: dict[str, Any]) -> ItemSpec:
    """The TRL forms (prompt, chosen, rejected; or chosen and rejected as message lists
    whose shared leading messages are the prompt) and the HH-RLHF form (chosen, rejected
    holding whole transcripts whose shared prefix is the prompt)."""
    chosen_raw, rejected_raw = row["chosen"], row["rejected"]
    if "prompt" in row:
        prompt = _clean_prompt(row["prompt"])
        chosen = _completion_text(chosen_raw, "chosen")
        rejected = _completion_text(rejected_raw, "rejected")
    elif isinstance(chosen_raw, str) and isinstance(rejected_raw, str):
        prompt, chosen, rejected = split_hh_conversation(chosen_raw, rejected_raw)
    elif isinstance(chosen_raw, list) and isinstance(rejected_raw, list):
        prompt, chosen, rejected = split_conversations(chosen_raw, rejected_raw)
    else:
        raise RowError(
            'without "prompt", "chosen" and "rejected" must both be conversations: '
            "two lists of messages, or two HH-RLHF transcripts"
        )
    responses = [
        ResponseSpec("chosen", str(row.get("chosen_model") or "chosen"), chosen),
        ResponseSpec("rejected", str(row.get("rejected_model") or "rejected"), rejected),
    ]
    external_id = row.get("id")
    if external_id is None or external_id == "":
        external_id = _content_id(prompt, [("chosen", chosen), ("rejected", rejected)])
    metadata = _object_or_none(row, "metadata") or {}
    return ItemSpec(
        line=line,
        external_id=str(external_id),
        prompt=prompt,
        responses=responses,
        pairs=[("chosen", "rejected")] if project.is_pairwise else [],
        metadata=metadata,
        reference={"preferred": "chosen"},
    )


def split_hh_conversation(chosen: str, rejected: str) -> tuple[list[dict[str, str]], str, str]:
    """Split two HH-RLHF transcripts into the shared prompt (as chat messages) and the two
    final assistant replies. The prompt ends at the last "Assistant:" turn both share."""
    if "\n\nHuman:" not in chosen:
        raise RowError('"chosen" is not an HH-RLHF conversation (no "\\n\\nHuman:" turn)')
    marker = "\n\nAssistant:"
    cut = chosen.rfind(marker)
    while cut != -1 and not rejected.startswith(chosen[: cut + len(marker)]):
        cut = chosen.rfind(marker, 0, cut)
    if cut == -1:
        raise RowError('"chosen" and "rejected" share no conversation up to an Assistant turn')
    prefix = chosen[: cut + len(marker)]
    messages = _hh_messages(prefix[: -len(marker)])
    if not messages or messages[-1]["role"] != "user":
        raise RowError("the shared conversation must end with a Human turn")
    return messages, chosen[len(prefix) :].strip(), rejected[len(prefix) :].strip()


def split_conversations(
    chosen: list[Any], rejected: list[Any]
) -> tuple[list[dict[str, str]], str, str]:
    """Split the TRL conversational form without a prompt: the messages both lists start
    with are the prompt (as TRL's own extract_prompt takes them), what follows in each is
    its reply. The prompt must hold a user turn, and a reply none."""
    chosen_messages = _clean_messages(chosen, '"chosen"')
    rejected_messages = _clean_messages(rejected, '"rejected"')
    if chosen_messages == rejected_messages:
        raise RowError('"chosen" and "rejected" are the same conversation')
    shared = 0
    for a, b in zip(chosen_messages, rejected_messages, strict=False):
        if a != b:
            break
        shared += 1
    prompt = chosen_messages[:shared]
    if not any(message["role"] == "user" for message in prompt):
        raise RowError('"chosen" and "rejected" share no leading user turn')
    return (
        prompt,
        _reply(chosen_messages, shared, '"chosen"'),
        _reply(rejected_messages, shared, '"rejected"'),
    )


def _reply(messages: list[dict[str, str]], start: int, name: str) -> str:
    """The text of the messages from `start` on: one response (an assistant's turns, with
    any tool turns between them)."""
    if start >= len(messages):
        raise RowError(f"{name} has no reply after the shared prompt")
    for index in range(start, len(messages)):
        if messages[index]["role"] == "user":
            raise RowError(f"{name} message {index + 1}: a user turn after the shared prompt")
    return "\n\n".join(message["content"] for message in messages[start:])


def _hh_messages(transcript: str) -> list[dict[str, str]]:
    parts = HH_TURN.split(transcript)
    messages = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        role = "user" if speaker == "Human" else "assistant"
        messages.append({"role": role, "content": content.strip()})
    return messages


def _completion_text(value: Any, name: str) -> str:
    """A reply of the TRL form with a prompt: a text, or the reply's messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _reply(_clean_messages(value, f'"{name}"'), 0, f'"{name}"')
    raise RowError(f'"{name}" must be a string or a list of messages')


def _clean_prompt(prompt: Any) -> str | list[dict[str, str]]:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt:
        return _clean_messages(prompt, "prompt")
    raise RowError('"prompt" must be a string or a non-empty list of messages')


def _clean_messages(value: Any, name: str) -> list[dict[str, str]]:
    """Chat messages, each `{"role", "content"}` with a known role and a text."""
    if not isinstance(value, list) or not value:
        raise RowError(f"{name} must be a non-empty list of messages")
    messages = []
    for index, message in enumerate(value, start=1):
        if not isinstance(message, dict):
            raise RowError(f"{name} message {index} must be an object")
        role, content = message.get("role"), message.get("content")
        if role not in MESSAGE_ROLES:
            raise RowError(f"{name} message {index} has an unknown role {role!r}")
        if not isinstance(content, str):
            raise RowError(f'{name} message {index} needs a string "content"')
        _refuse_unknown_keys(message, MESSAGE_KEYS, where=f"{name} message {index}: ")
        messages.append({"role": role, "content": content})
    return messages


def _clean_pairs(raw: Any, ids: list[str]) -> list[tuple[str, str]]:
    if raw is None:
        return list(itertools.combinations(ids, 2))
    if not isinstance(raw, list) or not raw:
        raise RowError('"pairs" must be a non-empty list of [id, id]')
    pairs: list[tuple[str, str]] = []
    seen: set[frozenset[str]] = set()
    for pair in raw:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise RowError('each entry of "pairs" must be [id, id]')
        a, b = (str(x) for x in pair)
        for response_id in (a, b):
            if response_id not in ids:
                raise RowError(f"unknown response id {response_id!r} in pairs")
        if a == b:
            raise RowError(f"pair [{a!r}, {b!r}] compares a response with itself")
        if frozenset((a, b)) in seen:
            raise RowError(f"pair [{a!r}, {b!r}] is listed twice")
        seen.add(frozenset((a, b)))
        pairs.append((a, b))
    return pairs


def _clean_gold(
    project: Project,
    criteria: dict[str, Criterion],
    gold: Any,
    responses: list[ResponseSpec],
) -> dict[str, Any] | None:
    """The item's known answer as stored on the item: the kind's own (`ranking`,
    `preferred` or `scores`) and, in a project with a spans criterion, the expected `spans`
    (response ids; either may come alone)."""
    if gold is None:
        return None
    if not isinstance(gold, dict):
        raise RowError('"gold" must be an object')
    ids = [r.external_id for r in responses]
    clean: dict[str, Any] = {}
    if "spans" in gold:
        clean["spans"] = _clean_gold_spans(criteria, gold["spans"], responses)
        gold = {key: value for key, value in gold.items() if key != "spans"}
        if not gold:
            return clean
    if project.is_ranking:
        if set(gold) != {"ranking"}:
            raise RowError('ranking "gold" needs "ranking": [[response id], ...], best first')
        try:
            order = ranking_check(gold["ranking"], names=ids, allow_tie=project.allow_tie)
        except RankingInvalid as exc:
            raise RowError(f'gold "ranking": {exc}') from None
        return {"ranking": order, **clean}
    if project.is_pairwise:
        preferred = gold.get("preferred")
        if preferred is None:
            raise RowError('pairwise "gold" needs "preferred"')
        preferred = str(preferred)
        if preferred != "tie" and preferred not in ids:
            raise RowError(f'unknown response id {preferred!r} in gold "preferred"')
        return {"preferred": preferred, **clean}
    return {"scores": _clean_gold_scores(criteria, gold.get("scores"), ids), **clean}


def _clean_gold_scores(
    criteria: dict[str, Criterion], scores: Any, ids: list[str]
) -> dict[str, Any]:
    if not isinstance(scores, dict) or not scores:
        raise RowError('rubric "gold" needs "scores": {response id: {criterion: n}}')
    for response_id, per_criterion in scores.items():
        if str(response_id) not in ids:
            raise RowError(f"unknown response id {response_id!r} in gold scores")
        if not isinstance(per_criterion, dict):
            raise RowError(f"gold scores for {response_id!r} must be an object")
        for key, value in per_criterion.items():
            criterion = criteria.get(key)
            if criterion is None:
                raise RowError(f"unknown criterion {key!r} in gold scores")
            if criterion.is_verdict:
                if not isinstance(value, bool):
                    raise RowError(f"gold verdict {value!r} for {key!r} must be true or false")
                continue
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not criterion.min <= value <= criterion.max
            ):
                raise RowError(
                    f"gold score {value!r} for {key!r} is outside {criterion.min}..{criterion.max}"
                )
    return {str(k): v for k, v in scores.items()}


def _clean_gold_spans(
    criteria: dict[str, Criterion], spans: Any, responses: list[ResponseSpec]
) -> list[dict[str, Any]]:
    """Expected spans checked as an annotator's are (offsets within the text, a known
    label), naming responses by id; an empty list expects nothing marked."""
    labels = {label["key"] for c in criteria.values() if c.is_spans for label in c.labels}
    if not labels:
        raise RowError('gold "spans" needs a project with a spans criterion')
    by_id = {r.external_id: (r.external_id, r.text) for r in responses}
    try:
        clean = spans_canonical(spans, labels=labels, responses=by_id)
    except SpansInvalid as exc:
        raise RowError(f'gold "spans": {exc.field}: {exc}') from None
    return [{key: value for key, value in span.items() if key != "note"} for span in clean]


def _content_id(prompt: Any, responses: Sequence[tuple[str, str]]) -> str:
    """A stable id from the content, so importing the same id-less file twice is idempotent."""
    canonical = json.dumps([prompt, list(responses)], sort_keys=True, ensure_ascii=False)
    return "sha-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]


# ---------------------------------------------------------------- writing


def items_import(
    *,
    project: Project,
    rows: Iterable[tuple[int, Any]] | None = None,
    content: bytes | str | None = None,
    filetype: str = "jsonl",
    read_errors: list[dict[str, Any]] | None = None,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Validate every row, then create or update the items, their responses and tasks in
    one transaction. Either `rows` (already parsed, with the lines that could not be read)
    or `content` (a file's bytes). `progress` is told how many rows are written so far,
    every WRITE_CHUNK rows, from within the transaction."""
    read_errors = list(read_errors or [])
    if rows is None and content is None:
        raise ImportRejected("Nothing to import.", errors=[{"line": 0, "error": "empty"}])
    with _collector_paused():
        if rows is None:
            rows, read_errors = read_rows_lenient(content, filetype=filetype)
        specs = parse_item_rows(project, rows, read_errors=read_errors)
        if not specs:
            raise ImportRejected(
                "The input holds no items; nothing was imported.",
                errors=[{"line": 0, "error": "no items found"}],
            )
        with transaction.atomic():
            # One import into a project at a time: which ids exist must not change under
            # us. NO KEY UPDATE leaves the foreign-key checks of votes on the project free.
            list(Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values("pk"))
            result = ImportResult()
            for start in range(0, len(specs), WRITE_CHUNK):
                _write_specs(project, specs[start : start + WRITE_CHUNK], result)
                if progress is not None:
                    progress(min(start + WRITE_CHUNK, len(specs)))
            return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a large file becomes a million objects that
    all live until the import ends, and the collector would scan them again and again (half
    the time of reading and checking them). Reference counting still frees the rest."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


ITEM_CONTENT = ("prompt", "metadata", "reference", "gold")
LOOKUP_CHUNK = 2000


def _write_specs(project: Project, specs: list[ItemSpec], result: ImportResult) -> None:
    """Create what is new and change what differs: items, then their responses, then their
    tasks, counted into `result`. Each step reads what exists as plain values and writes
    with one bulk statement per kind of change (insert_rows, update_rows), never one per
    row. An existing item any step changed is counted as updated and its updated_at moves
    (an `items` export with `since` picks it up); the others are left as they were."""
    now = timezone.now()
    item_pk, existing, changed = _write_items(project, specs, now, result)
    response_pk, changed_responses = _write_responses(specs, item_pk, existing, now, result)
    changed_tasks = _write_tasks(project, specs, item_pk, response_pk, existing, now, result)
    updated = (changed | changed_responses | changed_tasks) & set(existing)
    update_rows(Item, ("updated_at",), [(pk, now) for pk in sorted(updated - changed)])
    result.items_updated += len(updated)
    result.items_unchanged += len(existing) - len(updated)


def _same_prompt(stored: Any, incoming: Any) -> bool:
    """A plain prompt and the one user message holding it are the same prompt: an items
    export writes the first as the second once any prompt of the project is a conversation
    (one type per column), and re-importing it changes nothing."""
    return stored == incoming or (
        isinstance(stored, str) and incoming == [{"role": "user", "content": stored}]
    )


def _write_items(
    project: Project, specs: list[ItemSpec], now: datetime, result: ImportResult
) -> tuple[dict[str, int], list[int], set[int]]:
    """Items created, or changed where their content differs; returns the pk of every
    spec's item, the pks of those that existed before and of those whose content
    changed."""
    stored: dict[str, tuple[Any, ...]] = {}  # external id -> (pk, *ITEM_CONTENT)
    if Item.objects.filter(project=project).exists():
        ids = [s.external_id for s in specs]
        for items in _among(Item.objects.filter(project=project), "external_id", ids):
            for external_id, *values in items.values_list("external_id", "pk", *ITEM_CONTENT):
                stored[external_id] = tuple(values)
    new_specs = [s for s in specs if s.external_id not in stored]
    new_ids = insert_rows(
        Item,
        ("project_id", "external_id", *ITEM_CONTENT),
        [(project.pk, s.external_id, s.prompt, s.metadata, s.reference, s.gold) for s in new_specs],
        now=now,
        returning_ids=True,
    )
    item_pk = {s.external_id: pk for s, pk in zip(new_specs, new_ids, strict=True)}
    changed = []
    for spec in specs:
        if spec.external_id in stored:
            pk, *content = stored[spec.external_id]
            item_pk[spec.external_id] = pk
            incoming = [spec.prompt, spec.metadata, spec.reference, spec.gold]
            if _same_prompt(content[0], spec.prompt):
                incoming[0] = content[0]
            if content != incoming:
                changed.append((pk, *incoming, now))
    update_rows(Item, (*ITEM_CONTENT, "updated_at"), changed)
    result.items_created += len(new_specs)
    return item_pk, [pk for pk, *_ in stored.values()], {pk for pk, *_ in changed}


def _write_responses(
    specs: list[ItemSpec],
    item_pk: dict[str, int],
    existing: list[int],
    now: datetime,
    result: ImportResult,
) -> tuple[dict[tuple[int, str], int], set[int]]:
    """Responses created, or changed where their model, text or position differ (compared
    by the database, so stored texts are not read back), each with its style features
    (stats.style: what the style-controlled leaderboard adjusts for); returns the pk of
    each response by (item pk, external id), and the items that gained or changed one."""
    response_pk: dict[tuple[int, str], int] = {}
    for responses in _among(Response.objects.all(), "item_id", existing):
        for item_id, external_id, pk in responses.values_list("item_id", "external_id", "pk"):
            response_pk[(item_id, external_id)] = pk
    new_rows: list[tuple[int, str, str, str, int, dict[str, int]]] = []
    known_rows = []
    item_of_known: dict[int, int] = {}
    for spec in specs:
        item_id = item_pk[spec.external_id]
        for position, r in enumerate(spec.responses):
            pk = response_pk.get((item_id, r.external_id))
            style = style_features(r.text)
            if pk is None:
                new_rows.append((item_id, r.external_id, r.model, r.text, position, style))
            else:
                known_rows.append((pk, r.model, r.text, position, style))
                item_of_known[pk] = item_id
    new_ids = insert_rows(
        Response,
        ("item_id", "external_id", "model", "text", "position", "style"),
        new_rows,
        now=now,
        returning_ids=True,
    )
    for (item_id, external_id, *_), pk in zip(new_rows, new_ids, strict=True):
        response_pk[(item_id, external_id)] = pk
    changed = update_rows(
        Response, ("model", "text", "position", "style"), known_rows, only_changed=True
    )
    result.responses_created += len(new_rows)
    touched = {item_of_known[pk] for pk in changed} | {row[0] for row in new_rows}
    return response_pk, touched


def _write_tasks(
    project: Project,
    specs: list[ItemSpec],
    item_pk: dict[str, int],
    response_pk: dict[tuple[int, str], int],
    existing: list[int],
    now: datetime,
    result: ImportResult,
) -> set[int]:
    """Tasks created for new pairs (a pair stored as b, a is the same task), and the known
    answer (and the model pair, when a response's model changed) of existing ones changed
    where it differs; returns the items concerned."""
    tasks: dict[tuple[int, int | None], tuple[int, int, Any, str]] = {}  # pair -> stored
    ranking_task: dict[int, tuple[int, int, Any, str]] = {}  # item -> its one ranking task
    for found in _among(Task.objects.all(), "item_id", existing):
        for pk, item_id, a, b, answer, pair in found.values_list(
            "pk", "item_id", "response_a_id", "response_b_id", "gold_answer", "model_pair"
        ):
            tasks[(a, b)] = (pk, a, answer, pair)
            ranking_task[item_id] = (pk, a, answer, pair)
            if b is not None:
                tasks[(b, a)] = (pk, a, answer, pair)
    new_rows = []
    regolded = []
    repaired = []
    touched: set[int] = set()
    for spec in specs:
        item_id = item_pk[spec.external_id]
        model_of = {r.external_id: r.model for r in spec.responses}
        for a_id, b_id, gold_answer in _task_shapes(project, spec):
            gold_answer = _gold_in_response_pks(gold_answer, spec, item_id, response_pk)
            a = response_pk[(item_id, a_id)]
            b = response_pk[(item_id, b_id)] if b_id is not None else None
            pair = model_pair_key(model_of[a_id], model_of[b_id]) if b_id is not None else ""
            # A ranking item keeps its one task, whichever response a re-import lists first.
            stored = ranking_task.get(item_id) if project.is_ranking else tasks.get((a, b))
            if stored is None:
                new_rows.append(
                    (project.pk, item_id, a, b, gold_answer, gold_answer is not None, pair)
                )
                touched.add(item_id)
                continue
            pk, stored_a, stored_answer, stored_pair = stored
            if b is not None and stored_a != a:
                gold_answer = _flip(gold_answer)
            if stored_answer != gold_answer:
                regolded.append((pk, gold_answer, gold_answer is not None))
                touched.add(item_id)
            if b is not None and stored_pair != pair:
                repaired.append((pk, pair))
    insert_rows(
        Task,
        (
            "project_id",
            "item_id",
            "response_a_id",
            "response_b_id",
            "gold_answer",
            "is_gold",
            "model_pair",
        ),
        new_rows,
        now=now,
    )
    update_rows(Task, ("gold_answer", "is_gold"), regolded)
    update_rows(Task, ("model_pair",), repaired)
    result.tasks_created += len(new_rows)
    return touched


def _among(queryset: QuerySet, field: str, values: list[Any]) -> Iterator[QuerySet]:
    """The queryset narrowed to rows whose `field` is among `values`: on PostgreSQL one query
    joined to the values as one array (it plans well even before the table has statistics),
    elsewhere in slices that stay under SQLite's limit of parameters."""
    queryset = queryset.order_by()
    if not values:
        return
    if connection.vendor == "postgresql":
        array_type = queryset.model._meta.get_field(field).db_type(connection)
        among = RawSQL(f"SELECT unnest(%s::{array_type}[])", (values,))
        yield queryset.filter(**{f"{field}__in": among})
        return
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield queryset.filter(**{f"{field}__in": values[start : start + LOOKUP_CHUNK]})


def _task_shapes(
    project: Project, spec: ItemSpec
) -> list[tuple[str, str | None, dict[str, Any] | None]]:
    """(response a, response b or None, known answer or None) for each task of an item."""
    shapes: list[tuple[str, str | None, dict[str, Any] | None]] = []
    if project.is_ranking:
        # One task shows every response; its known answer names them by external id until
        # _write_tasks knows their primary keys.
        return [(spec.responses[0].external_id, None, spec.gold)]
    gold = spec.gold or {}
    if project.is_pairwise:
        preferred = gold.get("preferred")
        for a, b in spec.pairs:
            answer: dict[str, Any] = {}
            if preferred == "tie":
                answer = {"choice": "tie"}
            elif preferred == a:
                answer = {"choice": "a"}
            elif preferred == b:
                answer = {"choice": "b"}
            shapes.append((a, b, _with_gold_spans(answer, gold, {a, b})))
    else:
        gold_scores = gold.get("scores") or {}
        for r in spec.responses:
            scores = gold_scores.get(r.external_id)
            answer = {"scores": scores} if scores else {}
            shapes.append((r.external_id, None, _with_gold_spans(answer, gold, {r.external_id})))
    return shapes


def _with_gold_spans(
    answer: dict[str, Any], gold: dict[str, Any], shown: set[str]
) -> dict[str, Any] | None:
    """A task's known answer with the item's gold spans on the responses it shows (when the
    item has gold spans, even none there: the task expects nothing marked); None when the
    task has no known answer."""
    if "spans" in gold:
        answer = {**answer, "spans": [s for s in gold["spans"] if s["response"] in shown]}
    return answer or None


def _gold_in_response_pks(
    gold_answer: dict[str, Any] | None,
    spec: ItemSpec,
    item_id: int,
    response_pk: dict[tuple[int, str], int],
) -> dict[str, Any] | None:
    """A task's known answer with its ranking and spans in response primary keys (as
    judgments store them)."""
    if gold_answer is None or not ("ranking" in gold_answer or "spans" in gold_answer):
        return gold_answer
    by_external_id = {r.external_id: response_pk[(item_id, r.external_id)] for r in spec.responses}
    translated = dict(gold_answer)
    if "ranking" in gold_answer:
        translated["ranking"] = ranking_translate(gold_answer["ranking"], by_external_id)
    if "spans" in gold_answer:
        translated["spans"] = sorted(
            (
                {**span, "response": by_external_id[span["response"]]}
                for span in gold_answer["spans"]
            ),
            key=lambda s: (s["response"], s["start"], s["end"], s["label"]),
        )
    return translated


def _flip(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    if not answer or "choice" not in answer:
        return answer
    return {**answer, "choice": {"a": "b", "b": "a"}.get(answer["choice"], answer["choice"])}
