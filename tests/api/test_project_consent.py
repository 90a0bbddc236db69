"""A project's consent text over the API: a change after someone agreed starts a new
consent version, which the project shows (README "Annotator pages")."""

from __future__ import annotations

import pytest

from annotation.services.consent import consent_record
from tests.factories import make_annotator

pytestmark = pytest.mark.django_db


def test_changing_the_consent_text_after_an_agreement_starts_a_new_version(
    researcher_client, pairwise
):
    consent_record(project=pairwise, annotator=make_annotator())

    response = researcher_client.patch(
        "/api/v1/projects/pairs/", {"consent_text": "We keep answers for a year."}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["consent_version"] == 2


def test_the_consent_version_is_read_only(researcher_client, pairwise):
    response = researcher_client.patch(
        "/api/v1/projects/pairs/", {"consent_version": 9}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "consent_version", "error": "read-only field"}]
    pairwise.refresh_from_db()
    assert pairwise.consent_version == 1
