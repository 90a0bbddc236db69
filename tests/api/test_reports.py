"""Agreement, leaderboard and judgment import over REST; a refresh on a real worker."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from annotation.models import Annotator, AnnotatorStats, Judgment, Project
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from tests.annotation.services.test_reports import (
    KRIPPENDORFF_2011,
    fleiss_rows,
    krippendorff_rows,
)
from tests.factories import CriterionFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _rubric(researcher, n_units: int, level: str = "nominal") -> Project:
    project = ProjectFactory(owner=researcher, kind=Project.Kind.RUBRIC, slug="coded")
    CriterionFactory(project=project, key="code", min=1, max=5, level=level)
    rows = [
        {"id": f"u{i + 1}", "prompt": "p", "responses": [{"model": "m", "text": "x"}]}
        for i in range(n_units)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    return project


def test_judgments_import_then_agreement_gives_krippendorffs_alpha(researcher_client, researcher):
    _rubric(researcher, 12)
    response = researcher_client.post(
        "/api/v1/projects/coded/judgments/", krippendorff_rows(), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["judgments_created"] == sum(
        v is not None for values in KRIPPENDORFF_2011.values() for v in values
    )
    body = researcher_client.get("/api/v1/projects/coded/agreement/").json()
    assert body["stale"] is False and body["computed_at"]
    assert body["criteria"]["code"]["krippendorff_alpha"]["value"] == pytest.approx(0.743, abs=5e-4)


def test_fleiss_example_through_the_api(researcher_client, researcher):
    _rubric(researcher, 10)
    researcher_client.post("/api/v1/projects/coded/judgments/", fleiss_rows(), format="json")
    body = researcher_client.get("/api/v1/projects/coded/agreement/").json()
    assert body["criteria"]["code"]["fleiss_kappa"]["value"] == pytest.approx(0.210, abs=5e-4)


def test_bad_judgment_rows_are_named_by_line_and_nothing_is_stored(researcher_client, researcher):
    _rubric(researcher, 2)
    rows = [
        {"annotator": "x", "item": "u1", "response": "r1", "scores": {"code": 3}},
        {"annotator": "x", "item": "u9", "response": "r1", "scores": {"code": 3}},
        {"annotator": "y", "item": "u1", "response": "r1", "scores": {"code": 9}},
        {"annotator": "x", "item": "u1", "response": "r1", "scores": {"code": 2}},
    ]
    response = researcher_client.post("/api/v1/projects/coded/judgments/", rows, format="json")
    assert response.status_code == 400
    assert [e["line"] for e in response.json()["errors"]] == [2, 3, 4]
    assert not Judgment.objects.exists()


def test_judgments_import_accepts_jsonl(researcher_client, researcher):
    _rubric(researcher, 1)
    body = b'{"annotator": "a", "item": "u1", "response": "r1", "scores": {"code": 1}}\n'
    response = researcher_client.post(
        "/api/v1/projects/coded/judgments/", body, content_type="application/x-ndjson"
    )
    assert response.status_code == 201


def test_pairwise_import_flips_a_pair_given_in_the_other_order(researcher_client, researcher):
    project = ProjectFactory(owner=researcher, slug="pairs")
    items_import(
        project=project,
        rows=[
            (
                1,
                {
                    "id": "q",
                    "prompt": "p",
                    "responses": [
                        {"id": "r1", "model": "x", "text": "1"},
                        {"id": "r2", "model": "y", "text": "2"},
                    ],
                },
            )
        ],
    )
    rows = [
        {
            "annotator": "j",
            "annotator_kind": "model",
            "item": "q",
            "a": "r2",
            "b": "r1",
            "choice": "a",
        }
    ]
    assert (
        researcher_client.post("/api/v1/projects/pairs/judgments/", rows, format="json").status_code
        == 201
    )
    judgment = Judgment.objects.get()
    assert judgment.choice == "b"  # r2 is response b of the task
    assert judgment.annotator.kind == "model"


def test_leaderboard_shape(researcher_client, researcher):
    project = ProjectFactory(owner=researcher, slug="arena")
    rows = [
        {
            "id": f"q{i}",
            "prompt": "p",
            "responses": [
                {"id": "r1", "model": "strong", "text": "1"},
                {"id": "r2", "model": "weak", "text": "2"},
            ],
        }
        for i in range(10)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    votes = [
        {
            "annotator": f"h{k}",
            "item": f"q{i}",
            "a": "r1",
            "b": "r2",
            "choice": "a" if (i + k) % 4 else "b",
        }
        for i in range(10)
        for k in range(3)
    ]
    researcher_client.post("/api/v1/projects/arena/judgments/", votes, format="json")
    body = researcher_client.get("/api/v1/projects/arena/leaderboard/").json()
    assert [r["model"] for r in body["results"]] == ["strong", "weak"]
    first = body["results"][0]
    assert set(first) >= {"model", "rating", "ci", "wins", "losses", "ties", "n"}
    assert first["rating"] > 1000 > body["results"][1]["rating"]
    assert 0.5 < body["win_rate"]["strong"]["weak"] < 1


def test_rubric_project_has_no_leaderboard(researcher_client, researcher):
    _rubric(researcher, 1)
    assert researcher_client.get("/api/v1/projects/coded/leaderboard/").status_code == 400


def test_agreement_without_judgments_is_empty_and_stale(researcher_client, researcher):
    _rubric(researcher, 1)
    body = researcher_client.get("/api/v1/projects/coded/agreement/").json()
    assert body == {
        "computed_at": None,
        "stale": True,
        "error": None,
        "failed_at": None,
        "annotator_kind": "human",
        "criteria": {},
        "annotators": [],
        "model_judges": [],
    }


def test_annotators_may_not_read_reports(annotator_client, researcher):
    _rubric(researcher, 1)
    assert annotator_client.get("/api/v1/projects/coded/agreement/").status_code == 403
    assert annotator_client.post("/api/v1/projects/coded/agreement/refresh/").status_code == 403


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("n_units", "rows", "metric", "expected"),
    [
        (12, krippendorff_rows, "krippendorff_alpha", 0.743),  # Krippendorff (2011)
        (10, fleiss_rows, "fleiss_kappa", 0.210),  # Fleiss (1971)
    ],
)
def test_refresh_is_computed_by_a_real_celery_worker(researcher, n_units, rows, metric, expected):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    _rubric(researcher, n_units)
    client = APIClient()
    client.force_authenticate(researcher)
    assert (
        client.post("/api/v1/projects/coded/judgments/", rows(), format="json").status_code == 201
    )
    assert client.get("/api/v1/projects/coded/agreement/").json()["computed_at"] is None
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        assert client.post("/api/v1/projects/coded/agreement/refresh/").status_code == 202
        deadline = time.monotonic() + 60
        body = {}
        while time.monotonic() < deadline:
            body = client.get("/api/v1/projects/coded/agreement/").json()
            if body["computed_at"]:
                break
            time.sleep(0.2)
    assert body["stale"] is False
    assert body["criteria"]["code"][metric]["value"] == pytest.approx(expected, abs=5e-4)


# ---------------------------------------------------------------- kinds, flags, failures


def _arena(researcher) -> Project:
    """10 items of strong vs weak, three people who prefer strong (one dissent in four) and
    a model judge who always prefers weak."""
    project = ProjectFactory(owner=researcher, slug="arena")
    rows = [
        {
            "id": f"q{i}",
            "prompt": "p",
            "responses": [
                {"id": "r1", "model": "strong", "text": "1"},
                {"id": "r2", "model": "weak", "text": "2"},
            ],
        }
        for i in range(10)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    vote = {"item": "", "a": "r1", "b": "r2"}
    people = [
        {**vote, "annotator": f"h{k}", "item": f"q{i}", "choice": "a" if (i + k) % 4 else "b"}
        for i in range(10)
        for k in range(3)
    ]
    judge = [
        {**vote, "annotator": "llm", "annotator_kind": "model", "item": f"q{i}", "choice": "b"}
        for i in range(10)
    ]
    judgments_import(project=project, rows=list(enumerate(people + judge, 1)))
    return project


def test_leaderboard_counts_people_by_default_and_each_kind_on_request(
    researcher_client, researcher
):
    _arena(researcher)
    url = "/api/v1/projects/arena/leaderboard/"

    people = researcher_client.get(url).json()
    judges = researcher_client.get(url, {"annotator_kind": "model"}).json()
    everyone = researcher_client.get(url, {"annotator_kind": "all"}).json()

    assert (people["annotator_kind"], people["exclude_flagged"]) == ("human", True)
    assert (people["n_votes"], judges["n_votes"], everyone["n_votes"]) == (30, 10, 40)
    assert [r["model"] for r in people["results"]] == ["strong", "weak"]
    assert [r["model"] for r in judges["results"]] == ["weak", "strong"]
    assert sum(r["wins"] for r in everyone["results"]) == 40
    assert people["error"] is None and people["stale"] is False


def test_leaderboard_keeps_flagged_annotators_when_asked(researcher_client, researcher):
    project = _arena(researcher)
    AnnotatorStats.objects.create(
        project=project, annotator=Annotator.objects.get(external_id="h0"), flags=["too_fast"]
    )
    url = "/api/v1/projects/arena/leaderboard/"

    assert researcher_client.get(url).json()["n_votes"] == 20
    everyone = researcher_client.get(url, {"exclude_flagged": "false"}).json()
    assert (everyone["n_votes"], everyone["exclude_flagged"]) == (30, False)


def test_agreement_of_each_kind_and_the_judges_kappa(researcher_client, researcher):
    _arena(researcher)
    url = "/api/v1/projects/arena/agreement/"

    people = researcher_client.get(url).json()
    everyone = researcher_client.get(url, {"annotator_kind": "all"}).json()
    judges = researcher_client.get(url, {"annotator_kind": "model"}).json()

    assert people["criteria"]["overall"]["n_annotators"] == 3
    assert everyone["criteria"]["overall"]["n_annotators"] == 4
    assert [row["annotator"] for row in judges["annotators"]] == ["llm"]
    (judge,) = people["model_judges"]
    assert set(judge) >= {
        "annotator",
        "agreement_with_human_majority",
        "percent_agreement",
        "cohen_kappa",
        "n",
    }
    assert set(judge["cohen_kappa"]) == {"value", "ci"}
    assert judge["percent_agreement"] == 0.0


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("agreement", {"annotator_kind": "robots"}, "annotator_kind"),
        ("leaderboard", {"annotator_kind": "humans"}, "annotator_kind"),
        ("leaderboard", {"exclude_flagged": "maybe"}, "exclude_flagged"),
        ("agreement", {"exclude_flagged": "false"}, "exclude_flagged"),
        ("leaderboard", {"anotator_kind": "model"}, "anotator_kind"),
    ],
)
def test_a_bad_or_unknown_parameter_is_a_400_naming_it(
    researcher_client, researcher, path, params, field
):
    _arena(researcher)
    response = researcher_client.get(f"/api/v1/projects/arena/{path}/", params)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_a_failed_report_answers_its_error_and_the_last_good_figures(
    researcher_client, researcher, monkeypatch
):
    from annotation.services import reports

    _arena(researcher)
    url = "/api/v1/projects/arena/agreement/"
    good = researcher_client.get(url).json()
    researcher_client.post(
        "/api/v1/projects/arena/judgments/",
        [{"annotator": "h9", "item": "q0", "a": "r1", "b": "r2", "choice": "a"}],
        format="json",
    )
    monkeypatch.setattr(reports, "_per_annotator", lambda *a, **k: 1 / 0)

    body = researcher_client.get(url).json()

    assert body["error"] == "ZeroDivisionError: division by zero" and body["failed_at"]
    assert body["computed_at"] == good["computed_at"] and body["stale"] is True
    assert body["criteria"] == good["criteria"]
    board = researcher_client.get("/api/v1/projects/arena/leaderboard/").json()
    assert board["error"] == body["error"] and board["n_votes"] == 30


def test_judgment_import_names_unknown_keys_and_keeps_the_rationale(researcher_client, researcher):
    _rubric(researcher, 1)
    row = {"annotator": "llm", "item": "u1", "response": "r1", "scores": {"code": 2}}
    url = "/api/v1/projects/coded/judgments/"

    refused = researcher_client.post(url, [{**row, "confidence": 0.8}], format="json")
    stored = researcher_client.post(url, [{**row, "rationale": "because", "seconds": 3}], "json")

    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"line": 1, "error": "confidence: unknown key"}]
    assert stored.status_code == 201
    assert Judgment.objects.values_list("rationale", "seconds").get() == ("because", 3.0)
