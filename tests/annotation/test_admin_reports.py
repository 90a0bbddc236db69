"""The console's statistics block: a failed computation says why, above the last good figures."""

from __future__ import annotations

import pytest

from annotation.models import AgreementReport
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute
from tests.annotation.test_admin import _researcher, _voted_project
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _page(client, project) -> str:
    """The statistics block as the project page fetches it (htmx)."""
    url = f"/admin/annotation/project/{project.pk}/statistics/"
    return client.get(url, headers={"HX-Request": "true"}).content.decode()


def test_a_failed_computation_is_shown_with_its_error_above_the_last_good_figures(client):
    researcher = _researcher()
    project = _voted_project(researcher)
    AgreementReport.objects.create(
        project=project,
        computed_at=project.reports.get().computed_at,
        last_judgment_id=project.reports.get().last_judgment_id,
        failed=True,
        error="ValueError: cannot reshape <array>",
    )
    client.force_login(researcher)
    html = _page(client, project)
    assert "failed: ValueError: cannot reshape &lt;array&gt;" in html
    assert "The figures below are the last good ones." in html
    assert "krippendorff alpha" in html


def test_a_project_whose_only_computation_failed_says_so(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    AgreementReport.objects.create(
        project=project, computed_at="2026-12-01T10:00:00Z", failed=True, error="boom"
    )
    client.force_login(researcher)
    html = _page(client, project)
    assert "failed: boom." in html and "No report yet" in html


def test_the_agreement_with_the_original_labels_is_shown(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    rows = [{"prompt": f"Q{i}?", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(4)]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    votes = [
        {
            "annotator": f"h{k}",
            "item": task.item.external_id,
            "a": task.response_a.external_id,
            "b": task.response_b.external_id,
            "choice": "a" if task.response_a.external_id == "chosen" else "b",
        }
        for task in project.tasks.select_related("item", "response_a", "response_b")
        for k in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(votes, 1)))
    report_compute(project=project, n_boot=20)
    client.force_login(researcher)
    assert "original labels (reference): 1.000" in _page(client, project)
