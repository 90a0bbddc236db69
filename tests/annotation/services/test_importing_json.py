"""Reading JSON from outside (annotation.services.importing): nesting bounded before parsing,
strict JSON, JSON Lines split at newlines only."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from annotation.errors import ImportRejected
from annotation.services.importing import (
    MAX_JSON_DEPTH,
    JSONTooDeep,
    items_import,
    json_loads,
    json_too_deep,
    json_too_deep_lines,
    read_rows_lenient,
)
from tests.factories import ProjectFactory


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# Strings full of what a bracket counter could stumble on: brackets, quotes, backslashes.
TRICKY = ["x", 'a"]}[{\\', "\\", '\\"[', "]]]", "{{", "", "é[ü", "\u2028", 7, None]


def random_json(rng: random.Random, depth: int) -> Any:
    if depth == 0:
        return rng.choice(TRICKY)
    if rng.random() < 0.5:
        return [random_json(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    keys = [rng.choice(["k", "[", '"{', "\\"]) + str(i) for i in range(rng.randint(0, 3))]
    return {key: random_json(rng, depth - 1) for key in keys}


def test_nesting_is_measured_as_a_parser_would_whatever_the_strings_hold():
    rng = random.Random(12)
    for _ in range(500):
        value = random_json(rng, rng.randint(0, 8))
        for ensure_ascii in (True, False):
            data = json.dumps(value, ensure_ascii=ensure_ascii).encode()
            for limit in range(8):
                assert json_too_deep(data, max_depth=limit) == (depth_of(value) > limit), data


def test_each_json_line_is_measured_on_its_own():
    rng = random.Random(3)
    values = [random_json(rng, rng.randint(0, 8)) for _ in range(200)]
    lines = [json.dumps(value) for value in values]
    lines[5] = "]]]]]]]]]]]]"  # a bad line lowers no other line's count
    lines[9] = '{"unterminated": "[[['  # nor does a string left open
    body = "\n".join(lines).encode()

    deep = json_too_deep_lines(body, max_depth=4)

    expected = [n for n, v in enumerate(values, start=1) if n not in (6, 10) and depth_of(v) > 4]
    assert [n for n in deep if n not in (6, 10)] == expected


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 200_000])
def test_json_deeper_than_the_limit_is_refused_without_recursion(depth):
    with pytest.raises(JSONTooDeep):
        json_loads(("[" * depth + "]" * depth).encode())


def test_json_as_deep_as_the_limit_is_read():
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH

    assert depth_of(json_loads(text)) == MAX_JSON_DEPTH


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(constant):
    with pytest.raises(ValueError, match="is not JSON"):
        json_loads(f'{{"x": {constant}}}')


def test_jsonl_names_each_line_too_deep_and_reads_the_others():
    deep = "[" * 100 + "]" * 100
    body = f'{{"a": 1}}\n{deep}\n{{"b": 2}}\n'.encode()

    rows, errors = read_rows_lenient(body, filetype="jsonl")

    assert rows == [(1, {"a": 1}), (3, {"b": 2})]
    assert errors == [{"line": 2, "error": "invalid JSON: nested deeper than 64 levels"}]


def test_jsonl_text_may_hold_a_line_separator_character():
    body = json.dumps({"text": "one\u2028two\u0085three"}, ensure_ascii=False) + "\n"

    rows, errors = read_rows_lenient(body.encode(), filetype="jsonl")

    assert errors == []
    assert rows == [(1, {"text": "one\u2028two\u0085three"})]


def test_jsonl_with_crlf_line_ends_is_read():
    rows, errors = read_rows_lenient(b'{"a": 1}\r\n{"b": 2}\r\n', filetype="jsonl")

    assert (rows, errors) == ([(1, {"a": 1}), (2, {"b": 2})], [])


def test_json_file_nested_too_deep_is_one_error():
    body = b"[" + b"[" * 100 + b"]" * 100 + b"]"

    rows, errors = read_rows_lenient(body, filetype="json")

    assert rows == []
    assert errors == [{"line": 1, "error": "invalid JSON: nested deeper than 64 levels"}]


@pytest.mark.django_db
def test_csv_cell_nested_too_deep_names_its_line():
    project = ProjectFactory()
    deep = "[" * 100 + "]" * 100
    content = f'id,prompt,metadata\nq1,p,"{deep}"\n'.encode()

    with pytest.raises(ImportRejected) as rejected:
        items_import(project=project, content=content, filetype="csv")

    assert rejected.value.errors[0]["line"] == 2
    assert "nested deeper than 64" in rejected.value.errors[0]["error"]
