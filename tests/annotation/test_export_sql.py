"""On PostgreSQL the judgments JSONL export is built by the database; it must give the
same rows as the Python path."""

from __future__ import annotations

import json

import pytest
from django.utils.dateparse import parse_datetime

from annotation.selectors.exports import ExportFilters, judgment_json_lines, judgment_rows
from annotation.services.judgment_import import judgments_import
from tests.factories import CriterionFactory, ProjectFactory, import_items, rubric_project

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _same(project, filters: ExportFilters) -> None:
    from_sql = [
        json.loads(line)
        for line in b"".join(judgment_json_lines(project=project, filters=filters)).splitlines()
    ]
    from_python = list(judgment_rows(project=project, filters=filters))
    for row in from_sql + from_python:
        row["created_at"] = parse_datetime(row["created_at"])
    assert from_sql == from_python


def test_pairwise_judgments_from_sql_match_the_python_rows():
    project = ProjectFactory(strength_scale=3, rationale="optional")
    CriterionFactory(project=project, key="honesty")
    import_items(project, 3)
    rows = [
        {
            "annotator": f"h{k}",
            "item": f"q{i}",
            "a": "r1",
            "b": "r2",
            "choice": ["a", "b", "tie"][(i + k) % 3],
            "strength": 2 if (i + k) % 3 < 2 else None,
            "criteria": {"honesty": "a"},
            "rationale": 'line one\nline "two" \\ back\x01',
            "seconds": 1.5,
        }
        for i in range(3)
        for k in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    _same(project, ExportFilters())
    _same(project, ExportFilters(since=0, annotator_kind="human"))


def test_rubric_judgments_from_sql_match_the_python_rows():
    project = rubric_project()
    import_items(project, 2, responses=1)
    rows = [
        {
            "annotator": "x",
            "item": f"q{i}",
            "response": "r1",
            "scores": {"helpfulness": 3, "correctness": 1},
        }
        for i in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    _same(project, ExportFilters())
