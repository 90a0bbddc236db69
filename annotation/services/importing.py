"""Importing items: one service behind the command, the admin upload and the REST API.

A file is parsed and every line validated first; only when no line is bad is anything
written, in one transaction. Re-importing an item with the same id updates it in place.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from annotation.errors import ImportRejected
from annotation.models import Criterion, Item, Project, Response, Task

MAX_REPORTED_ERRORS = 200
MESSAGE_ROLES = {"system", "user", "assistant", "tool"}
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
    items_created: int = 0
    items_updated: int = 0
    responses_created: int = 0
    tasks_created: int = 0

    @property
    def items_total(self) -> int:
        return self.items_created + self.items_updated

    def as_dict(self) -> dict[str, int]:
        return {
            "items_created": self.items_created,
            "items_updated": self.items_updated,
            "responses_created": self.responses_created,
            "tasks_created": self.tasks_created,
        }

    def summary(self) -> str:
        return (
            f"{self.items_total} items imported ({self.items_created} new, "
            f"{self.items_updated} updated), {self.responses_created} new responses, "
            f"{self.tasks_created} new tasks"
        )


class RowError(ValueError):
    """A problem with one line of the input."""


# ---------------------------------------------------------------- reading files


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
        return _read_jsonl(text)
    if filetype == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], [{"line": exc.lineno, "error": f"invalid JSON: {exc.msg}"}]
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


def _read_jsonl(text: str) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    rows: list[tuple[int, Any]] = []
    errors: list[dict[str, Any]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((line_number, json.loads(line)))
        except json.JSONDecodeError as exc:
            errors.append({"line": line_number, "error": f"invalid JSON: {exc.msg}"})
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
    """CSV carries the same top-level columns; structured ones hold JSON text."""
    problems: list[str] = []
    if None in record:
        problems.append("more fields than the header has columns")
    row: dict[str, Any] = {}
    for column, value in record.items():
        if column is None or value is None or value == "":
            continue
        if column in _CSV_JSON_COLUMNS:
            try:
                row[column] = json.loads(value)
            except json.JSONDecodeError:
                problems.append(f"column {column!r} must hold JSON")
        elif column in ("prompt", "chosen", "rejected") and value.lstrip().startswith("[{"):
            try:
                row[column] = json.loads(value)
            except json.JSONDecodeError:
                row[column] = value
        else:
            row[column] = value
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
        return _native_spec(project, criteria, line, row)
    if "chosen" in row and "rejected" in row:
        return _preference_spec(project, line, row)
    raise RowError('missing field "responses" (or "chosen" and "rejected")')


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

    metadata = row.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise RowError('"metadata" must be an object')
    gold = _clean_gold(project, criteria, row.get("gold"), ids)
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
        reference=row.get("reference") if isinstance(row.get("reference"), dict) else None,
        gold=gold,
    )


def _preference_spec(project: Project, line: int, row: dict[str, Any]) -> ItemSpec:
    """The TRL form (prompt, chosen, rejected) and the HH-RLHF form (chosen, rejected
    holding whole conversations whose shared prefix is the prompt)."""
    chosen_raw, rejected_raw = row["chosen"], row["rejected"]
    if "prompt" in row:
        prompt = _clean_prompt(row["prompt"])
        chosen = _completion_text(chosen_raw, "chosen")
        rejected = _completion_text(rejected_raw, "rejected")
    else:
        if not isinstance(chosen_raw, str) or not isinstance(rejected_raw, str):
            raise RowError('without "prompt", "chosen" and "rejected" must be conversation strings')
        prompt, chosen, rejected = split_hh_conversation(chosen_raw, rejected_raw)
    responses = [
        ResponseSpec("chosen", str(row.get("chosen_model") or "chosen"), chosen),
        ResponseSpec("rejected", str(row.get("rejected_model") or "rejected"), rejected),
    ]
    external_id = row.get("id")
    if external_id is None or external_id == "":
        external_id = _content_id(prompt, [("chosen", chosen), ("rejected", rejected)])
    metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
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


def _hh_messages(transcript: str) -> list[dict[str, str]]:
    parts = HH_TURN.split(transcript)
    messages = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        role = "user" if speaker == "Human" else "assistant"
        messages.append({"role": role, "content": content.strip()})
    return messages


def _completion_text(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return "\n\n".join(str(m.get("content", "")) for m in value if m.get("role") != "user")
    raise RowError(f'"{name}" must be a string or a list of messages')


def _clean_prompt(prompt: Any) -> str | list[dict[str, str]]:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt:
        messages = []
        for index, message in enumerate(prompt, start=1):
            if not isinstance(message, dict):
                raise RowError(f"prompt message {index} must be an object")
            role, content = message.get("role"), message.get("content")
            if role not in MESSAGE_ROLES:
                raise RowError(f"prompt message {index} has an unknown role {role!r}")
            if not isinstance(content, str):
                raise RowError(f'prompt message {index} needs a string "content"')
            messages.append({"role": role, "content": content})
        return messages
    raise RowError('"prompt" must be a string or a non-empty list of messages')


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
    project: Project, criteria: dict[str, Criterion], gold: Any, ids: list[str]
) -> dict[str, Any] | None:
    if gold is None:
        return None
    if not isinstance(gold, dict):
        raise RowError('"gold" must be an object')
    if project.is_pairwise:
        preferred = gold.get("preferred")
        if preferred is None:
            raise RowError('pairwise "gold" needs "preferred"')
        preferred = str(preferred)
        if preferred != "tie" and preferred not in ids:
            raise RowError(f'unknown response id {preferred!r} in gold "preferred"')
        return {"preferred": preferred}
    scores = gold.get("scores")
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
            if not isinstance(value, int) or not criterion.min <= value <= criterion.max:
                raise RowError(
                    f"gold score {value!r} for {key!r} is outside {criterion.min}..{criterion.max}"
                )
    return {"scores": {str(k): v for k, v in scores.items()}}


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
) -> ImportResult:
    """Validate every row, then create or update the items, their responses and tasks in
    one transaction. Either `rows` (already parsed, with the lines that could not be read)
    or `content` (a file's bytes)."""
    read_errors = list(read_errors or [])
    if rows is None:
        if content is None:
            raise ImportRejected("Nothing to import.", errors=[{"line": 0, "error": "empty"}])
        rows, read_errors = read_rows_lenient(content, filetype=filetype)
    specs = parse_item_rows(project, rows, read_errors=read_errors)
    if not specs:
        raise ImportRejected(
            "The input holds no items; nothing was imported.",
            errors=[{"line": 0, "error": "no items found"}],
        )
    with transaction.atomic():
        return _write_specs(project, specs)


def _write_specs(project: Project, specs: list[ItemSpec]) -> ImportResult:
    result = ImportResult()
    existing: dict[str, Item] = {}
    ids = [s.external_id for s in specs]
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        existing.update(
            (item.external_id, item)
            for item in Item.objects.filter(project=project, external_id__in=chunk)
        )

    new_items: list[Item] = []
    updated_items: list[Item] = []
    item_of: dict[str, Item] = {}
    for spec in specs:
        item = existing.get(spec.external_id)
        if item is None:
            item = Item(project=project, external_id=spec.external_id)
            new_items.append(item)
        else:
            updated_items.append(item)
        item.prompt = spec.prompt
        item.metadata = spec.metadata
        item.reference = spec.reference
        item.gold = spec.gold
        item_of[spec.external_id] = item
    Item.objects.bulk_create(new_items, batch_size=1000)
    if updated_items:
        Item.objects.bulk_update(
            updated_items,
            ["prompt", "metadata", "reference", "gold", "updated_at"],
            batch_size=1000,
        )
    result.items_created, result.items_updated = len(new_items), len(updated_items)

    responses_by_item: dict[int, dict[str, Response]] = {}
    if updated_items:
        for response in Response.objects.filter(item__in=updated_items):
            responses_by_item.setdefault(response.item_id, {})[response.external_id] = response
    new_responses: list[Response] = []
    changed_responses: list[Response] = []
    for spec in specs:
        item = item_of[spec.external_id]
        known = responses_by_item.setdefault(item.pk, {})
        for position, r in enumerate(spec.responses):
            response = known.get(r.external_id)
            if response is None:
                response = Response(
                    item=item,
                    external_id=r.external_id,
                    model=r.model,
                    text=r.text,
                    position=position,
                )
                new_responses.append(response)
                known[r.external_id] = response
            elif (response.model, response.text, response.position) != (r.model, r.text, position):
                response.model, response.text, response.position = r.model, r.text, position
                changed_responses.append(response)
    Response.objects.bulk_create(new_responses, batch_size=1000)
    if changed_responses:
        Response.objects.bulk_update(
            changed_responses, ["model", "text", "position"], batch_size=1000
        )
    result.responses_created = len(new_responses)

    existing_tasks: dict[tuple[int, int | None], Task] = {}
    if updated_items:
        for task in Task.objects.filter(item__in=updated_items):
            existing_tasks[(task.response_a_id, task.response_b_id)] = task
            if task.response_b_id is not None:
                existing_tasks[(task.response_b_id, task.response_a_id)] = task
    new_tasks: list[Task] = []
    regolded: list[Task] = []
    for spec in specs:
        item = item_of[spec.external_id]
        known = responses_by_item[item.pk]
        for a_id, b_id, gold_answer in _task_shapes(project, spec):
            a = known[a_id]
            b = known[b_id] if b_id is not None else None
            task = existing_tasks.get((a.pk, b.pk if b else None))
            if task is None:
                new_tasks.append(
                    Task(
                        project=project,
                        item=item,
                        response_a=a,
                        response_b=b,
                        gold_answer=gold_answer,
                        is_gold=gold_answer is not None,
                    )
                )
            else:
                if b is not None and task.response_a_id != a.pk:
                    gold_answer = _flip(gold_answer)
                if task.gold_answer != gold_answer:
                    task.gold_answer, task.is_gold = gold_answer, gold_answer is not None
                    regolded.append(task)
    Task.objects.bulk_create(new_tasks, batch_size=1000)
    if regolded:
        Task.objects.bulk_update(regolded, ["gold_answer", "is_gold"], batch_size=1000)
    result.tasks_created = len(new_tasks)
    return result


def _task_shapes(
    project: Project, spec: ItemSpec
) -> list[tuple[str, str | None, dict[str, Any] | None]]:
    """(response a, response b or None, known answer or None) for each task of an item."""
    shapes: list[tuple[str, str | None, dict[str, Any] | None]] = []
    if project.is_pairwise:
        preferred = spec.gold["preferred"] if spec.gold else None
        for a, b in spec.pairs:
            answer = None
            if preferred == "tie":
                answer = {"choice": "tie"}
            elif preferred == a:
                answer = {"choice": "a"}
            elif preferred == b:
                answer = {"choice": "b"}
            shapes.append((a, b, answer))
    else:
        gold_scores = spec.gold["scores"] if spec.gold else {}
        for r in spec.responses:
            scores = gold_scores.get(r.external_id)
            shapes.append((r.external_id, None, {"scores": scores} if scores else None))
    return shapes


def _flip(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    if not answer or "choice" not in answer:
        return answer
    return {"choice": {"a": "b", "b": "a"}.get(answer["choice"], answer["choice"])}
