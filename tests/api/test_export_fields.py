"""Each export format's fields are declared once (annotation/exports/fields.py;
README "Exports"): the columns of every plan, the rows the readers yield, the judgments reader's
SQL columns, the dataset card, the OpenAPI description and the README's field tables are
the declared ones, so documentation cannot drift from the files again."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from rest_framework.test import APIClient

from annotation.exports.fields import (
    FIELDS,
    ExportField,
    field_table,
    fields_of,
    readme_tables,
)
from annotation.exports.plan import export_plan
from annotation.exports.query import export_query_from_params
from annotation.exports.readers import export_rows, judgment_wire_columns
from annotation.models import Criterion, Project
from tests.api import test_export_schema as schema_cases
from tests.api.test_dataset_card import snapshot

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- export-fields:start -->", "<!-- export-fields:end -->"
exported = schema_cases.exported


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def plan_of(project: Project, export_format: str, **params):
    if export_format != "items":
        params.setdefault("annotator_kind", "all")
    query = export_query_from_params({"format": export_format, **params})
    return export_plan(project=project, query=query)


def declared_columns(plan) -> list[tuple[str, ExportField]]:
    """The plan's columns as the declaration spells them out: a per-criterion field once per
    criterion (`share_<key>` only for a nominal one, right after the value)."""
    fields = fields_of(plan.query.format, kind=plan.project.kind, uses=plan.uses)
    nominal = {
        c.key for _, criteria in plan.rubric_versions for c in criteria if c.level == "nominal"
    }
    expanded: list[tuple[str, ExportField]] = []
    for declared in fields:
        if declared.per_question:
            expanded += [
                (declared.name.replace("<key>", q["key"]), declared) for q in plan.survey_questions
            ]
        elif not declared.per_criterion:
            expanded.append((declared.name, declared))
        elif declared.name == "<key>":
            for criterion in plan.criteria:
                name = criterion.key if criterion.key not in {f.name for f in fields} else ""
                expanded.append((name or f"score_{criterion.key}", declared))
                if criterion.key in nominal:
                    share = next(f for f in fields if f.name == "share_<key>")
                    expanded.append((f"share_{criterion.key}", share))
        elif declared.name == "agreement_<key>":
            expanded += [(f"agreement_{c.key}", declared) for c in plan.criteria]
    return expanded


def test_the_readme_field_tables_are_the_declared_ones():
    text = README.read_text()
    assert START in text and END in text, "README lacks the export field tables' markers"
    held = text.split(START, 1)[1].split(END, 1)[0].strip()

    assert held == readme_tables(), (
        "README's export field tables differ from annotation/exports/fields.py; paste the "
        "output of `python -c 'from annotation.exports.fields import readme_tables; "
        "print(readme_tables())'` between the markers"
    )


@pytest.mark.parametrize(("slug", "export_format"), schema_cases.export_cases())
@pytest.mark.parametrize("incremental", [False, True])
def test_every_plan_has_exactly_the_declared_columns(exported, slug, export_format, incremental):
    since = "2000-01-01T00:00:00+00:00" if export_format == "items" else "0"
    takes_since = export_format not in ("annotators", "kto")
    params = {"since": since} if incremental and takes_since else {}
    plan = plan_of(exported[slug], export_format, **params)
    expected = declared_columns(plan)

    assert plan.column_names == [name for name, _ in expected]
    for column, (_, declared) in zip(plan.columns, expected, strict=True):
        if declared.type == "answers":
            assert column.nullable == pa.types.is_null(column.type)
        else:
            retractable = declared.retractable and "since" in params
            assert column.nullable == (declared.nullable or retractable), column.name
        if declared.type not in ("answers", "score", "prompt", "completion", "survey", "reasons"):
            assert column.type == declared.arrow(), column.name


def test_rubric_scores_are_integers_but_interval_means(exported):
    plan = plan_of(exported["rated"], "rubric")
    levels = {c.key: c.level for c in plan.criteria}
    for key, level in levels.items():
        column = plan.schema.field(key)
        assert column.type == (pa.float64() if level == Criterion.Level.INTERVAL else pa.int64())


@pytest.mark.parametrize(("slug", "export_format"), schema_cases.export_cases())
def test_the_readers_yield_the_declared_fields_in_order(exported, slug, export_format):
    plan = plan_of(exported[slug], export_format, include_gold="true")
    rows = list(export_rows(plan=plan))

    assert rows, "the case has no rows to check"
    assert all(list(row) == plan.column_names for row in rows)


@pytest.mark.parametrize("slug", ["pairs", "rated", "thumbs", "ranked"])
def test_the_judgments_sql_columns_are_the_declared_fields(exported, slug):
    project = exported[slug]
    plan = plan_of(project, "judgments")
    declared = [f.name for f in fields_of("judgments", kind=project.kind, uses=plan.uses)]
    columns = judgment_wire_columns(project, reason_keys=plan.reason_keys, uses=plan.uses)

    # Every declared field is read from the database but the project's slug, a constant (a
    # struct's keys one column each), and the profile columns (with_profile), joined from
    # the annotators' survey answers.
    read = [c.name.split(".")[0] for c in columns]
    assert list(dict.fromkeys(read)) == [
        name for name in declared if name not in ("project", "profile.<key>")
    ]


def test_the_openapi_description_names_every_declared_field():
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    answers = schema["paths"]["/api/v1/projects/{slug}/export/"]["get"]["responses"]["200"]
    description = answers["description"]

    for export_format, fields in FIELDS.items():
        line = re.search(rf"\*\*{export_format}\*\*: (.*)", description).group(1)
        assert re.findall(r"`([^`]+)`", line.split("Fields:", 1)[1]) == [f.name for f in fields]


@pytest.mark.parametrize(("slug", "export_format"), schema_cases.export_cases())
def test_the_card_lists_the_declared_fields(
    researcher_client, exported, django_capture_on_commit_callbacks, slug, export_format
):
    built = snapshot(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": export_format},
        f"/api/v1/projects/{slug}/snapshots/",
    )
    plan = plan_of(exported[slug], export_format)
    fields = fields_of(export_format, kind=exported[slug].kind, uses=plan.uses)

    assert field_table(fields, kinds=False) in built["card"]
