"""The console's profile import page (README "Surveys", Importing profiles): Prolific's
demographic export uploaded with its column mapping, through the service the API calls."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotation.models import Project, SurveyAnswers
from annotation.services.crowd import CrowdEntry, crowd_session_start
from annotation.services.projects import project_update
from annotation.services.researchers import researcher_create
from tests.api.test_profile_import import COLUMNS, PIDS, export_csv, prolific_row
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(lead) -> Project:
    project = ProjectFactory(owner=lead, slug="pairs")
    import_items(project, 1)
    project = project_update(project=project, survey_preset="prism-demographics")
    crowd_session_start(
        project=project,
        entry=CrowdEntry("prolific", PIDS[0], "st", "s1"),
        client_address="192.0.2.1",
    )
    return project


def page_url(project: Project) -> str:
    return reverse("admin:annotation_project_profiles", args=[project.pk])


def post(client: Client, project: Project, columns=COLUMNS, **fields):
    content = export_csv(
        [prolific_row(PIDS[0], "31", "Female"), prolific_row(PIDS[1], "40", "Male")]
    )
    body = {
        "file": SimpleUploadedFile("export.csv", content, content_type="text/csv"),
        "columns": json.dumps(columns),
        **fields,
    }
    return client.post(page_url(project), body)


def test_the_project_page_links_to_it(console, study):
    page = console.get(f"/admin/annotation/project/{study.pk}/change/").content.decode()

    assert page_url(study) in page


def test_the_form_starts_with_the_prism_mapping(console, study):
    page = console.get(page_url(study)).content.decode()

    assert (
        "Participant id" in page and "&quot;Country of residence&quot;: &quot;country&quot;" in page
    )


def test_an_upload_stores_the_answers_and_shows_the_report(console, study):
    response = post(console, study)

    assert response.status_code == 200
    page = response.content.decode()
    assert "1 of this project's Prolific participants found" in page
    assert "4 answers stored" in page and PIDS[1] in page
    assert SurveyAnswers.objects.get().answers["age_band"] == "25-34"


def test_a_bad_mapping_is_shown_and_nothing_stored(console, study):
    response = post(console, study, columns={"Shoe size": "age_band"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "columns.Shoe size" in page and "no such column in the file" in page
    assert "Shoe size" in page  # the mapping typed is kept
    assert not SurveyAnswers.objects.exists()


def test_another_researchers_project_is_a_404(study):
    other = Client()
    other.force_login(researcher_create(username="other"))

    assert other.get(page_url(study)).status_code == 404
    assert post(other, study).status_code == 404
    assert not SurveyAnswers.objects.exists()
