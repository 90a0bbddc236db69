"""The ranking task page without scripts: every response labelled, a place list each, one
form post (the basic path the pairwise page also has), and the researcher's preview."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import Assignment, Judgment, Project
from annotation.services.importing import items_import
from tests.annotation.test_mturk import PREVIEW
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db

MODELS = ("model-0", "model-1", "model-2", "model-3")


@pytest.fixture
def ranking(researcher) -> Project:
    project = ProjectFactory(
        owner=researcher,
        slug="ranks",
        kind=Project.Kind.RANKING,
        allow_tie=False,
        annotations_per_task=1,
        arming_ms=0,
    )
    import_items(project, 2, responses=4)
    return project


@pytest.fixture
def annotating(annotator_user, ranking) -> Client:
    client = Client()
    client.force_login(annotator_user)
    client.post("/annotate/ranks/consent/")
    return client


def _assignment(page) -> Assignment:
    match = re.search(r'data-assignment="(\d+)"', page.content.decode())
    assert match, "no task card on the page"
    return Assignment.objects.get(pk=int(match.group(1)))


def _post(client: Client, assignment: Assignment, places: dict[str, str], **headers):
    return client.post(
        f"/annotate/ranks/assignments/{assignment.pk}/judgment/",
        {f"rank-{label}": place for label, place in places.items()},
        **headers,
    )


def test_the_page_shows_every_response_labelled_in_the_shown_order_and_no_model(annotating):
    page = annotating.get("/annotate/ranks/task/")
    text = page.content.decode()
    assignment = _assignment(page)

    assert "Rank the responses, best first" in text
    positions = []
    for label, response_id in zip("ABCD", assignment.shown_order, strict=True):
        response = assignment.task.item.responses.get(pk=response_id)
        assert f'<h3 id="label-{label}">Response {label}</h3>' in text
        assert f'name="rank-{label}"' in text
        positions.append(text.index(response.text))
    assert positions == sorted(positions)  # shown in the assignment's order
    assert not any(model in text for model in MODELS)
    assert not any(f'"r{n}"' in text for n in range(1, 5))  # nor a response id


def test_places_posted_without_scripts_are_stored_as_the_ranking(annotating):
    page = annotating.get("/annotate/ranks/task/")
    assignment = _assignment(page)

    response = _post(annotating, assignment, {"A": "3", "B": "1", "C": "4", "D": "2"})

    assert response.status_code == 200
    shown = dict(zip("ABCD", assignment.shown_order, strict=True))
    judgment = Judgment.objects.get()
    assert judgment.ranking == [[shown["B"]], [shown["D"]], [shown["A"]], [shown["C"]]]
    assert judgment.shown_order == assignment.shown_order
    assert judgment.source == Judgment.Source.PAGE
    assert _assignment(response).pk != assignment.pk  # on to the next task


@pytest.mark.parametrize(
    "places", [{"A": "1", "B": "2", "C": "3"}, {"A": "1", "B": "1", "C": "2", "D": "3"}]
)
def test_a_ranking_missing_a_place_or_tied_without_ties_keeps_the_card_and_stores_nothing(
    annotating, places
):
    page = annotating.get("/annotate/ranks/task/")
    assignment = _assignment(page)

    response = _post(annotating, assignment, places)

    assert response.status_code == 400
    text = response.content.decode()
    assert "Place every response exactly once, best first" in text
    assert _assignment(response).pk == assignment.pk
    assert 'value="1" selected' in text  # the places given are kept
    assert not Judgment.objects.exists()

    htmx = _post(annotating, assignment, places, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 400 and 'class="refusal"' in htmx.content.decode()


def test_ties_are_equal_places_when_the_project_allows_them(annotating, ranking):
    ranking.allow_tie = True
    ranking.save()
    assignment = _assignment(annotating.get("/annotate/ranks/task/"))

    _post(annotating, assignment, {"A": "2", "B": "1", "C": "2", "D": "3"})

    shown = dict(zip("ABCD", assignment.shown_order, strict=True))
    assert Judgment.objects.get().ranking == [
        [shown["B"]],
        sorted([shown["A"], shown["C"]]),
        [shown["D"]],
    ]


def test_the_preview_names_the_model_of_each_label_to_the_researcher(researcher, ranking):
    client = Client()
    client.force_login(researcher)

    text = client.get("/annotate/ranks/preview/").content.decode()

    assert "Researcher preview" in text
    named = re.findall(r"Response ([A-D]) is <strong>(model-\d)</strong>", text)
    assert sorted(model for _, model in named) == sorted(MODELS)
    assert [label for label, _ in named] == list("ABCD")
    assert 'name="rank-D"' in text


def test_an_mturk_hit_preview_of_a_ranking_shows_every_response_and_no_model(ranking):
    text = Client().get("/annotate/ranks/", PREVIEW).content.decode()

    assert "Rank the responses, best first" in text
    for label, answer in zip("ABCD", range(4), strict=True):
        assert f">Response {label}</h3>" in text
        assert f"Answer {answer} to 0." in text
    assert not any(model in text for model in MODELS)
    assert "<form" not in text


def test_each_placed_row_shows_the_start_of_its_response_as_read(annotator_user, researcher):
    project = ProjectFactory(owner=researcher, slug="snips", kind=Project.Kind.RANKING, arming_ms=0)
    texts = ["The capital is **Lyon** & not Paris.", "x" * 200]
    row = {"id": "q", "prompt": "Capital?", "responses": [{"model": "m", "text": t} for t in texts]}
    items_import(project=project, rows=[(1, row)])
    client = Client()
    client.force_login(annotator_user)
    client.post("/annotate/snips/consent/")

    text = client.get("/annotate/snips/task/").content.decode()

    snippets = re.findall(r'data-snippet="([^"]*)"', text)
    assert "The capital is Lyon &amp; not Paris." in snippets
    assert "x" * 89 + "…" in snippets


def test_a_rewrite_of_the_response_ranked_first_from_the_page(ranking, annotating):
    ranking.rewrite = Project.Rewrite.OPTIONAL
    ranking.save()
    page = annotating.get("/annotate/ranks/task/")
    html = page.content.decode()
    assert all(f"Your rewrite of response {label}" in html for label in "ABCD")
    assignment = _assignment(page)
    shown = dict(zip("ABCD", assignment.shown_order, strict=True))
    places = {"A": "2", "B": "1", "C": "3", "D": "4"}

    response = annotating.post(
        f"/annotate/ranks/assignments/{assignment.pk}/judgment/",
        {f"rank-{label}": place for label, place in places.items()}
        | {"rewrite-B": "The best answer, improved."},
    )

    assert response.status_code == 200
    judgment = Judgment.objects.get()
    assert judgment.rewrite == "The best answer, improved."
    assert judgment.rewrite_of_id == shown["B"]


@pytest.mark.parametrize("htmx", [False, True])
def test_a_required_rewrite_left_out_flags_the_box_of_the_response_ranked_first(
    ranking, annotating, htmx
):
    ranking.rewrite = Project.Rewrite.REQUIRED
    ranking.save()
    assignment = _assignment(annotating.get("/annotate/ranks/task/"))
    headers = {"headers": {"HX-Request": "true"}} if htmx else {}
    said = _post(annotating, assignment, {"A": "2", "B": "3", "C": "1", "D": "4"}, **headers)
    assert said.status_code == 400
    html = said.content.decode()
    assert '<li id="refusal-rewrite" data-invalid="rewrite-C">' in html
    if not htmx:  # the page again: the box itself is flagged and focused
        (flagged,) = re.findall(r'<textarea id="rewrite-\w+"[^>]*aria-invalid="true"[^>]*>', html)
        assert 'id="rewrite-C"' in flagged and "autofocus" in flagged
    assert not Judgment.objects.exists()
