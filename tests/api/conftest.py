"""Fixtures for the REST API tests: a researcher's projects with items, and annotators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotation.models import Annotator, Project
from annotation.services.annotators import annotator_for_user
from tests.factories import ProjectFactory, import_items, rubric_project


@pytest.fixture
def pairwise(researcher) -> Project:
    """A pairwise project of three items, two responses each (so three tasks)."""
    project = ProjectFactory(owner=researcher, slug="pairs", annotations_per_task=2)
    import_items(project, 3)
    return project


@pytest.fixture
def rubric(researcher) -> Project:
    """A rubric project of two items with one response each, rated on two criteria."""
    project = rubric_project(owner=researcher, slug="rated")
    import_items(project, 2, responses=1)
    return project


@pytest.fixture
def annotator(annotator_user) -> Annotator:
    return annotator_for_user(user=annotator_user)


@pytest.fixture
def api_client_for(db) -> Callable[[Any], APIClient]:
    """An API client signed in as the given user."""

    def make(user: Any) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make
