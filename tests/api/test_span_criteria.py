"""Span criteria (README "Span-level feedback"): a criterion of type spans is a label set,
not a scale. It is created from the API, the preset or the admin on any project kind;
a missing or bad label set, or a scale field given with it, is a 400 naming the field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from annotation.models import Criterion, Project
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

LABELS = [
    {"key": "factual_error", "description": "Wrong", "shortcut": "f"},
    {"key": "unsafe", "description": "Harmful", "shortcut": "u"},
]


def _create(client, kind: str, criterion: dict, slug: str = "spans"):
    return client.post(
        "/api/v1/projects/",
        {"slug": slug, "name": "Spans", "kind": kind, "criteria": [criterion]},
        format="json",
    )


@pytest.mark.parametrize("kind", ["rubric", "pairwise", "ranking"])
def test_a_spans_criterion_is_created_on_every_kind_and_read_back_without_a_scale(
    researcher_client, kind
):
    created = _create(researcher_client, kind, {"key": "errors", "type": "spans", "labels": LABELS})

    assert created.status_code == 201, created.json()
    (criterion,) = created.json()["criteria"]
    assert criterion["type"] == "spans" and criterion["labels"] == LABELS
    assert not {"min", "max", "level_labels"} & set(criterion)
    # What was read back can be written back as it is.
    again = researcher_client.patch(
        "/api/v1/projects/spans/", {"criteria": created.json()["criteria"]}, format="json"
    )
    assert again.status_code == 200, again.json()
    assert Criterion.objects.get().labels == LABELS


@pytest.mark.parametrize(
    ("extra", "field", "error"),
    [
        (
            {"labels": []},
            "criteria[0].labels",
            'must be a non-empty list of {"key", "description"}',
        ),
        ({}, "criteria[0].labels", 'must be a non-empty list of {"key", "description"}'),
        ({"labels": [LABELS[0], LABELS[0]]}, "criteria[0].labels", "duplicate key"),
        ({"labels": [{"key": "a b"}]}, "criteria[0].labels", "labels[0].key"),
        ({"labels": LABELS, "min": 0}, "criteria[0].min", "takes labels, not a scale"),
        ({"labels": LABELS, "max": 3}, "criteria[0].max", "takes labels, not a scale"),
        ({"labels": LABELS, "level_labels": {"0": "x"}}, "criteria[0].level_labels", "not a scale"),
        (
            {"labels": [LABELS[0], {"key": "unsafe", "shortcut": "F"}]},
            "criteria[0].labels",
            "duplicate shortcut",
        ),
    ],
)
def test_a_bad_spans_criterion_is_a_400_naming_the_field(researcher_client, extra, field, error):
    response = _create(researcher_client, "rubric", {"key": "errors", "type": "spans", **extra})

    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert any(e["field"] == field and error in e["error"] for e in errors), errors
    assert not Project.objects.exists()


def test_a_score_criterion_takes_no_span_labels(researcher_client):
    response = _create(researcher_client, "rubric", {"key": "quality", "labels": LABELS})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "criteria[0].labels"


def test_two_spans_criteria_of_one_project_share_no_label(researcher_client):
    response = researcher_client.post(
        "/api/v1/projects/",
        {
            "slug": "spans",
            "name": "Spans",
            "kind": "pairwise",
            "criteria": [
                {"key": "errors", "type": "spans", "labels": LABELS},
                {"key": "more", "type": "spans", "labels": [LABELS[1]]},
            ],
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "criteria[1].labels[0].key"


def test_the_factuality_preset_gives_a_span_set_with_descriptions_and_keys(researcher_client):
    created = researcher_client.post(
        "/api/v1/projects/",
        {"slug": "facts", "name": "Facts", "preset": "factuality-spans"},
        format="json",
    )

    assert created.status_code == 201, created.json()
    (criterion,) = created.json()["criteria"]
    assert criterion["type"] == "spans"
    assert [(label["key"], label["shortcut"]) for label in criterion["labels"]] == [
        ("factual_error", "f"),
        ("irrelevant", "i"),
        ("unsafe", "u"),
    ]
    assert all(label["description"] for label in criterion["labels"])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "spans", "labels": []}, "labels"),
        ({"type": "spans", "labels": LABELS, "max": 7}, "max"),
        ({"type": "spans", "labels": LABELS, "level_labels": {"0": "x"}}, "level_labels"),
        ({"type": "score", "labels": LABELS}, "labels"),
    ],
)
def test_the_admin_form_refuses_what_the_api_refuses(researcher, fields, field):
    """The admin's criterion forms validate with the model's clean (ModelForm full_clean)."""
    criterion = Criterion(
        project=ProjectFactory(owner=researcher), key="errors", label="E", **fields
    )

    with pytest.raises(ValidationError) as raised:
        criterion.full_clean()

    assert field in raised.value.message_dict
