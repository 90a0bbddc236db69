"""Consistency details: the report names the items whose majority preferences go
round in a cycle and the annotators whose own votes are intransitive or tie-contradicting,
and the console lists them, linking each item to its admin page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation.models import Annotator, Item
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute
from annotation.services.researchers import researcher_create
from tests.factories import CriterionFactory, ProjectFactory, import_items

pytestmark = pytest.mark.django_db

#: (annotator, item, a, b, choice): on q0 three consistent people whose majorities go round
#: (r1 > r2 > r3 > r1); on q1 one person going round alone; on q2 one tying r1 and r3 after
#: preferring r1 to r2 and r2 to r3 (no cycle: the tie leaves that pair undecided).
VOTES = [
    *(
        ("h0", "q0", a, b, c)
        for a, b, c in [("r1", "r2", "a"), ("r2", "r3", "a"), ("r1", "r3", "a")]
    ),
    *(
        ("h1", "q0", a, b, c)
        for a, b, c in [("r1", "r2", "b"), ("r2", "r3", "a"), ("r1", "r3", "b")]
    ),
    *(
        ("h2", "q0", a, b, c)
        for a, b, c in [("r1", "r2", "a"), ("r2", "r3", "b"), ("r1", "r3", "b")]
    ),
    *(
        ("h3", "q1", a, b, c)
        for a, b, c in [("r1", "r2", "a"), ("r2", "r3", "a"), ("r1", "r3", "b")]
    ),
    *(
        ("h4", "q2", a, b, c)
        for a, b, c in [("r1", "r2", "a"), ("r2", "r3", "a"), ("r1", "r3", "tie")]
    ),
]


def vote(project, votes, prefix: str = "") -> None:
    rows = [
        {"annotator": prefix + who, "item": prefix + item, "a": a, "b": b, "choice": choice}
        for who, item, a, b, choice in votes
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))


@pytest.fixture
def project(lead):
    project = ProjectFactory(owner=lead, slug="cons", name="Consistency study", allow_tie=True)
    import_items(project, 3, responses=3)
    vote(project, VOTES)
    return project


def _annotator(name: str) -> Annotator:
    return Annotator.objects.get(external_id=name)


def test_the_report_names_cyclic_items_and_inconsistent_annotators_with_counts(project):
    details = report_compute(project=project, n_boot=10).report["consistency_details"]

    q0, q1 = (Item.objects.get(project=project, external_id=name) for name in ("q0", "q1"))
    assert details["n_cyclic_items"] == 2
    assert sorted(details["cyclic_items"], key=lambda row: row["item_id"]) == [
        {"item_id": q0.pk, "cycles": 1, "triads_checked": 1},
        {"item_id": q1.pk, "cycles": 1, "triads_checked": 1},
    ]
    assert details["annotators_checked"] == 5 and details["n_inconsistent_annotators"] == 2
    by_id = {row["annotator_id"]: row for row in details["annotators"]}
    assert by_id[_annotator("h3").pk] == {
        "annotator_id": _annotator("h3").pk,
        "triads_checked": 1,
        "intransitive": 1,
        "tie_contradictions": 0,
        "score_conflicts": 0,
        "score_checked": 0,
    }
    assert by_id[_annotator("h4").pk]["tie_contradictions"] == 1
    assert _annotator("h0").pk not in by_id  # consistent alone, though the majority cycles


def test_the_report_keeps_its_transitivity_counts(project):
    report = report_compute(project=project, n_boot=10).report
    assert report["transitivity"]["item_cycles"] == 2
    assert report["transitivity"]["items_checked"] == 3


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(project) -> str:
    return f"/admin/annotation/project/{project.pk}/statistics/consistency/"


def test_the_console_lists_cyclic_items_linked_to_their_page_and_annotators_with_counts(
    project, lead
):
    html = _client(lead).get(_url(project)).content.decode()  # computed now: no worker

    q0 = Item.objects.get(project=project, external_id="q0")
    assert f'href="/admin/annotation/item/{q0.pk}/change/">q0</a>' in html
    assert ">q1</a>" in html and ">q2</a>" not in html
    h3, h4 = _annotator("h3"), _annotator("h4")
    assert f"{h3}</a></td><td>1</td><td>0</td><td>1</td><td>0 of 0</td>" in html
    assert f"{h4}</a></td><td>0</td><td>1</td><td>1</td><td>0 of 0</td>" in html
    assert "(2 of 5 checked)" in html


def test_the_statistics_block_sums_it_up_and_links_to_the_details(project, lead):
    url = f"/admin/annotation/project/{project.pk}/statistics/"
    html = _client(lead).get(url, headers={"HX-Request": "true"}).content.decode()
    assert "2 items whose majority preferences form a cycle; 2 of 5 annotators" in html
    assert f'href="{_url(project)}"' in html


def test_another_researcher_cannot_see_the_details(project):
    assert _client(researcher_create(username="other")).get(_url(project)).status_code == 404


def test_the_page_queries_do_not_grow_with_items_judgments_or_annotators(project, lead):
    client = _client(lead)
    report_compute(project=project, n_boot=10)
    client.get(_url(project))
    with CaptureQueriesContext(connection) as small:
        assert client.get(_url(project)).status_code == 200
    for n in range(6):
        import_items(project, 3, responses=3, prefix=f"g{n}-q")
        vote(project, VOTES, prefix=f"g{n}-")
    report_compute(project=project, n_boot=10)
    with CaptureQueriesContext(connection) as large:
        html = client.get(_url(project)).content.decode()

    assert "(14 of 35 checked)" in html
    assert len(large) == len(small)


def test_an_annotator_choosing_against_their_own_criteria_is_listed_with_the_count(lead):
    project = ProjectFactory(owner=lead, slug="scored")
    CriterionFactory(project=project, key="honesty")
    import_items(project, 4)
    rows = [
        {
            "annotator": f"s{k}",
            "item": f"q{i}",
            "a": "r1",
            "b": "r2",
            "choice": "a",
            "criteria": {"honesty": "b" if (k == 0 and i < 3) else "a"},
        }
        for i in range(4)
        for k in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    details = report_compute(project=project, n_boot=10).report["consistency_details"]

    assert details["annotators_checked"] == 2 and details["n_inconsistent_annotators"] == 1
    (row,) = details["annotators"]
    assert row["annotator_id"] == _annotator("s0").pk
    assert (row["score_conflicts"], row["score_checked"], row["triads_checked"]) == (3, 4, 0)
    html = _client(lead).get(_url(project)).content.decode()
    assert f"{_annotator('s0')}</a></td><td>0</td><td>0</td><td>0</td><td>3 of 4</td>" in html
