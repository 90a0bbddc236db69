"""The `rubric` export (README "Exports"): each criterion
summarised by its level of measurement, and rubric versions never pooled."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from annotation.models import Criterion, Project
from annotation.services.judgment_import import judgments_import
from annotation.services.projects import project_update, rubric_snapshot
from tests.factories import CriterionFactory, ProjectFactory, import_items

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/projects/levels/export/"
FILETYPES = ["jsonl", "csv", "parquet"]


@pytest.fixture
def levels(researcher) -> Project:
    """A rubric project with one criterion of each level of measurement."""
    project = ProjectFactory(owner=researcher, slug="levels", kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="category", min=1, max=3, level="nominal")
    CriterionFactory(project=project, key="quality", min=1, max=5, level="ordinal")
    CriterionFactory(project=project, key="length", min=0, max=10, level="interval")
    import_items(project, 2, responses=1)
    return project


def rate(project: Project, item: str, *scores: dict, judge: str = "h") -> None:
    rows = [
        {"annotator": f"{judge}{n}", "item": item, "response": "r1", "scores": given}
        for n, given in enumerate(scores)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


def pull(client, filetype: str = "jsonl", **params) -> list[dict]:
    response = client.get(EXPORT, {"format": "rubric", "filetype": filetype, **params})
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content)
    if filetype == "parquet":
        return pq.read_table(io.BytesIO(content)).to_pylist()
    if filetype == "csv":
        return list(csv.DictReader(io.StringIO(content.decode())))
    return [json.loads(line) for line in content.decode().splitlines()]


def score(category: int, quality: int, length: int) -> dict:
    return {"category": category, "quality": quality, "length": length}


def test_a_nominal_criterion_is_never_averaged(researcher_client, levels):
    # Two categories, one vote each: today's mean made up category 1.5.
    rate(levels, "q0", score(1, 3, 2), score(2, 3, 2))

    (row,) = pull(researcher_client)

    assert row["category"] != 1.5
    assert row["category"] is None and row["share_category"] is None


def test_a_nominal_criterion_gives_its_most_frequent_value_and_share(researcher_client, levels):
    rate(levels, "q0", score(2, 1, 0), score(1, 1, 0), score(2, 1, 0))

    (row,) = pull(researcher_client)

    assert row["category"] == 2
    assert row["share_category"] == pytest.approx(2 / 3)


def test_an_ordinal_criterion_gives_the_median_the_lower_one_of_an_even_count(
    researcher_client, levels
):
    rate(levels, "q0", score(1, 1, 0), score(1, 5, 0), score(1, 4, 0))
    rate(levels, "q1", score(1, 2, 0), score(1, 5, 0), score(1, 4, 0), score(1, 1, 0))

    rows = pull(researcher_client)

    assert [row["quality"] for row in rows] == [4, 2]


def test_an_interval_criterion_gives_the_mean(researcher_client, levels):
    rate(levels, "q0", score(1, 1, 3), score(1, 1, 4))

    (row,) = pull(researcher_client)

    assert row["length"] == pytest.approx(3.5)


@pytest.mark.parametrize("filetype", FILETYPES)
def test_the_columns_and_values_are_the_same_in_every_filetype(researcher_client, levels, filetype):
    rate(levels, "q0", score(2, 1, 3), score(2, 5, 4), score(3, 4, 4))

    (row,) = pull(researcher_client, filetype)

    assert list(row) == [
        "prompt",
        "response",
        "model",
        "item_id",
        "response_id",
        "rubric_version",
        "category",
        "share_category",
        "quality",
        "length",
        "n_judgments",
        "agreement_category",
        "agreement_quality",
        "agreement_length",
        "agreement",
    ]
    typed = {key: str(value) for key, value in row.items()} if filetype == "csv" else row
    expected = {"rubric_version": 1, "category": 2, "quality": 4, "n_judgments": 3}
    for key, value in expected.items():
        assert typed[key] == (str(value) if filetype == "csv" else value)
    assert float(row["length"]) == pytest.approx(11 / 3)
    assert float(row["share_category"]) == pytest.approx(2 / 3)


def test_parquet_types_follow_the_level_of_measurement(researcher_client, levels):
    rate(levels, "q0", score(2, 1, 3))
    response = researcher_client.get(EXPORT, {"format": "rubric", "filetype": "parquet"})

    schema = pq.read_schema(io.BytesIO(b"".join(response.streaming_content)))

    assert str(schema.field("category").type) == "int64"
    assert str(schema.field("quality").type) == "int64"
    assert str(schema.field("length").type) == "double"
    assert str(schema.field("rubric_version").type) == "int64"


# ---------------------------------------------------------------- rubric versions


def new_rubric(project: Project) -> None:
    """Widen the ordinal scale after judgments exist: a new rubric version."""
    criteria = rubric_snapshot(project=project)
    for criterion in criteria:
        if criterion["key"] == "quality":
            criterion["max"] = 7
    project_update(project=project, criteria=criteria)
    project.refresh_from_db()
    assert project.rubric_version == 2


@pytest.fixture
def versioned(levels) -> Project:
    """q0 rated under version 1 by two people, then under version 2 by two others."""
    rate(levels, "q0", score(1, 1, 0), score(1, 2, 0))
    new_rubric(levels)
    rate(levels, "q0", score(1, 7, 0), score(1, 6, 0), judge="later")
    return levels


def test_versions_are_not_pooled_each_row_says_its_version(researcher_client, versioned):
    rows = pull(researcher_client)

    # One pooled row (median of 1, 2, 6, 7 = 2, n 4) was what the export gave before.
    assert [(row["rubric_version"], row["quality"], row["n_judgments"]) for row in rows] == [
        (1, 1, 2),
        (2, 6, 2),
    ]


@pytest.mark.parametrize("filetype", FILETYPES)
def test_rubric_version_selects_one_version(researcher_client, versioned, filetype):
    rows = pull(researcher_client, filetype, rubric_version="1")

    assert [str(row["rubric_version"]) for row in rows] == ["1"]
    assert [str(row["quality"]) for row in rows] == ["1"]


def test_an_old_version_is_summarised_with_its_own_criteria(researcher_client, versioned):
    """Version 1's scale was 1..5: 1 and 2 are a quarter of it apart, not a sixth."""
    (row,) = pull(researcher_client, rubric_version=1)

    assert row["agreement_quality"] == pytest.approx(1 - 1 / 4)


def test_an_unknown_rubric_version_is_a_400_naming_it(researcher_client, versioned):
    response = researcher_client.get(EXPORT, {"format": "rubric", "rubric_version": "3"})

    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "rubric_version"
    assert "1, 2" in error["error"]


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_rubric_version_that_is_not_a_version_number_is_a_400(researcher_client, levels, value):
    response = researcher_client.get(EXPORT, {"format": "rubric", "rubric_version": value})

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["rubric_version"]


def test_rubric_version_does_not_apply_to_dpo(researcher_client, pairwise):
    response = researcher_client.get(
        "/api/v1/projects/pairs/export/", {"format": "dpo", "rubric_version": "1"}
    )

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["rubric_version"]


def test_a_criterion_dropped_in_a_later_version_keeps_its_column(researcher_client, levels):
    rate(levels, "q0", score(2, 3, 1))
    criteria = [c for c in rubric_snapshot(project=levels) if c["key"] != "category"]
    project_update(project=levels, criteria=criteria)
    rate(levels, "q0", {"quality": 4, "length": 2}, judge="later")

    rows = pull(researcher_client)

    assert [(row["rubric_version"], row["category"]) for row in rows] == [(1, 2), (2, None)]
    assert "category" not in pull(researcher_client, rubric_version=2)[0]


def test_the_project_api_states_its_rubric_versions(researcher_client, versioned):
    body = researcher_client.get("/api/v1/projects/levels/").json()

    assert body["rubric_version"] == 2
    (archived,) = body["rubric_versions"]
    assert archived["version"] == 1
    quality = next(c for c in archived["criteria"] if c["key"] == "quality")
    assert quality["max"] == 5
    assert {c.key: c.max for c in Criterion.objects.filter(project=versioned)}["quality"] == 7
