"""The span-marking task page without scripts (README "Span-level feedback"): the response
shown as imported (span offsets count its characters), the label buttons with their keys,
the spans field posted as JSON through the judging service, a bad span refused with the
form kept."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from annotation.models import Judgment, Project
from annotation.presets import FACTUALITY_SPANS
from annotation.services.importing import items_import
from annotation.services.projects import project_create
from tests.annotation.test_ranking_page import _assignment

pytestmark = pytest.mark.django_db

TEXT = "Paris 🗼 is in **日本**.\n<b>not bold</b>"


@pytest.fixture
def facts(researcher) -> Project:
    project = project_create(
        owner=researcher,
        preset="factuality-spans",
        slug="facts",
        name="Facts",
        annotations_per_task=1,
        arming_ms=0,
    )
    rows = [{"id": "q0", "prompt": "Where?", "responses": [{"model": "secret", "text": TEXT}]}]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


@pytest.fixture
def annotating(annotator_user, facts) -> Client:
    client = Client()
    client.force_login(annotator_user)
    client.post("/annotate/facts/consent/")
    return client


def test_the_page_shows_the_text_as_imported_and_the_labels_with_their_keys(annotating):
    page = annotating.get("/annotate/facts/task/")
    html = page.content.decode()

    shown = re.search(r'data-span-target="response"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert shown == "Paris 🗼 is in **日本**.\n&lt;b&gt;not bold&lt;/b&gt;"  # not rendered
    assert 'data-span-label="factual_error" data-keys="f"' in html
    assert "<kbd>U</kbd>" in html and "Harmful, dangerous or offensive content." in html
    assert 'name="criterion-errors"' not in html  # a spans criterion is no score
    assert ">What is wrong in this response?</h2>" in html  # not "How good is..."
    assert "secret" not in html


def test_the_form_posts_spans_as_json_and_a_bad_one_keeps_the_form(annotating):
    assignment = _assignment(annotating.get("/annotate/facts/task/"))
    url = f"/annotate/facts/assignments/{assignment.pk}/judgment/"
    start = TEXT.index("日本")
    bad = [{"response": "response", "start": start, "end": 999, "label": "unsafe"}]

    refused = annotating.post(url, {"spans": json.dumps(bad)})

    assert refused.status_code == 400
    assert "start &lt; end &lt;=" in refused.content.decode()
    assert json.dumps(bad).replace('"', "&quot;") in refused.content.decode()
    assert not Judgment.objects.exists()

    good = [{"response": "response", "start": start, "end": start + 2, "label": "unsafe"}]
    stored = annotating.post(url, {"spans": json.dumps(good)})

    assert stored.status_code == 200
    (span,) = Judgment.objects.get().spans
    assert TEXT[span["start"] : span["end"]] == "日本" and span["label"] == "unsafe"


def test_text_that_is_not_json_is_refused_by_name(annotating):
    assignment = _assignment(annotating.get("/annotate/facts/task/"))

    refused = annotating.post(
        f"/annotate/facts/assignments/{assignment.pk}/judgment/", {"spans": "[oops"}
    )

    assert refused.status_code == 400
    assert "must be a list of spans" in refused.content.decode()
    assert not Judgment.objects.exists()


def _page_of(researcher, annotator_user, slug: str, responses: int, **fields) -> str:
    project = project_create(owner=researcher, slug=slug, name=slug, arming_ms=0, **fields)
    rows = [
        {
            "id": "q0",
            "prompt": "Where?",
            "responses": [{"model": f"m{j}", "text": f"Answer {j}."} for j in range(responses)],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    client = Client()
    client.force_login(annotator_user)
    client.post(f"/annotate/{slug}/consent/")
    return client.get(f"/annotate/{slug}/task/").content.decode()


def _label_keys(html: str) -> dict[str, str | None]:
    """Each span label button's shortcut on the page (None: it has none)."""
    buttons = re.findall(r'<button [^>]*data-span-label="([^"]+)"([^>]*)>', html)
    return {
        key: (m.group(1) if (m := re.search(r'data-keys="([^"]*)"', rest)) else None)
        for key, rest in buttons
    }


def test_a_span_shortcut_that_would_answer_a_pair_is_left_off_the_page(researcher, annotator_user):
    labels = [
        {"key": "ambiguous", "shortcut": "a"},
        {"key": "skippable", "shortcut": "s"},
        {"key": "wrong", "shortcut": "w"},
    ]
    html = _page_of(
        researcher,
        annotator_user,
        "pair-keys",
        2,
        kind="pairwise",
        criteria=[{"key": "errors", "type": "spans", "labels": labels}],
    )

    assert _label_keys(html) == {"ambiguous": None, "skippable": None, "wrong": "w"}
    assert 'data-keys="1 a"' in html  # A is better keeps its letter
    assert "<kbd>W</kbd>" in html and "<kbd>A</kbd>" not in html.split("span-labels")[1][:600]


def test_a_span_shortcut_that_is_a_ranking_letter_on_this_task_is_left_off(
    researcher, annotator_user
):
    html = _page_of(
        researcher,
        annotator_user,
        "rank-keys",
        6,
        preset="ranking-4",
        criteria=[dict(c) for c in FACTUALITY_SPANS],
    )

    # Six responses are A to F: F places the sixth; I and U still mark.
    assert _label_keys(html) == {"factual_error": None, "irrelevant": "i", "unsafe": "u"}
