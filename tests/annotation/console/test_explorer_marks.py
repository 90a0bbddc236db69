"""The data explorer's item page on the new task types (issue 16): each judgment's spans
highlighted in the response text with their label and note, its verdicts with their reasons,
and its rewrite as a character diff against the original; everything an annotator wrote is
escaped."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.exports.readers.rewrites import diff_pieces
from annotation.models import Project
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from annotation.services.projects import criteria_add
from annotation.spans import span_pieces
from tests.annotation.console.test_explorer import item_url
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

TEXT = "Paris is in Japan, and <b>bold</b>."
HOSTILE = '<script>alert("note")</script>'
REWRITE = 'Paris is in France, and <img src=x onerror="alert(1)">.'


@pytest.fixture
def project(lead) -> Project:
    """A rubric project with a spans and a verdict criterion that takes rewrites: one item,
    judged by one annotator with a hostile note and rewrite, and by one who found it fine."""
    project = ProjectFactory(
        owner=lead, slug="marks", kind=Project.Kind.RUBRIC, rewrite=Project.Rewrite.OPTIONAL
    )
    criteria_add(
        project=project,
        criteria=[
            {"key": "errors", "type": "spans", "labels": [{"key": "factual_error"}]},
            {"key": "harmless", "type": "verdict"},
        ],
    )
    row = {"id": "q0", "prompt": "Where is Paris?", "responses": [{"model": "m1", "text": TEXT}]}
    items_import(project=project, rows=[(1, row)])
    japan = TEXT.index("Japan")
    judged = {"item": "q0", "response": "r1"}
    rows = [
        {
            **judged,
            "annotator": "h0",
            "scores": {"harmless": False},
            "reasons": {"harmless": "<i>misleads</i>"},
            "spans": [
                {"response": "r1", "start": japan, "end": japan + 5, "label": "factual_error"},
                {"response": "r1", "start": 0, "end": japan + 5, "label": "factual_error"}
                | {"note": HOSTILE},
            ],
            "rewrite": REWRITE,
        },
        {**judged, "annotator": "h1", "scores": {"harmless": True}},
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def page(client: Client, project: Project) -> str:
    response = client.get(item_url(project, "q0"))
    assert response.status_code == 200
    return response.content.decode()


def test_spans_are_highlighted_in_the_text_with_their_label_and_note(client, project):
    html = page(client, project)

    marks = re.findall(r'<mark class="explorer-span" title="([^"]*)">([^<]*)</mark>', html)
    assert [text for _, text in marks] == ["Paris is in ", "Japan"]
    assert marks[0][0] == "factual_error: &lt;script&gt;alert(&quot;note&quot;)&lt;/script&gt;"
    assert marks[1][0] == f"{marks[0][0]}; factual_error"  # both marks cover "Japan"
    assert "[12, 17) <q>Japan</q>" in html
    assert "Marks on r1 (m1)" in html


def test_verdicts_show_with_their_reasons(client, project):
    html = page(client, project)

    assert 'harmless: <strong>bad</strong> · <q class="explorer-reason">&lt;i&gt;misleads' in html
    assert "harmless: <strong>good</strong>" in html


def test_a_rewrite_shows_as_a_character_diff_against_the_original(client, project):
    html = page(client, project)

    diff = re.search(r'<p class="explorer-diff">(.*?)</p>', html, re.S).group(1)
    assert diff.startswith("Paris is in <del>Jap</del><ins>Fr</ins>an<ins>ce</ins>, and &lt;")
    assert "<ins>img src=x </ins>" in diff
    assert "Rewrite of r1 (m1)" in html


def test_what_annotators_wrote_is_escaped_everywhere(client, project):
    html = page(client, project)

    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "<i>misleads" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # the response text inside the marks, too


def test_span_pieces_cut_the_text_at_every_mark_boundary():
    spans = [{"start": 2, "end": 6, "label": "x"}, {"start": 4, "end": 8, "label": "y"}]

    pieces = span_pieces("abcdefghij", spans)

    assert [(text, [s["label"] for s in cover]) for text, cover in pieces] == [
        ("ab", []),
        ("cd", ["x"]),
        ("ef", ["x", "y"]),
        ("gh", ["y"]),
        ("ij", []),
    ]


def test_diff_pieces_rebuild_both_texts():
    original, rewrite = "The cat sat.", "The black cat sat!"

    pieces = diff_pieces(original, rewrite)

    assert "".join(t for op, t in pieces if op != "insert") == original
    assert "".join(t for op, t in pieces if op != "delete") == rewrite


def test_a_spans_criterion_is_not_summarised_as_a_score(client, project):
    html = page(client, project)

    summary = re.search(r'<table class="explorer-labels">(.*?)</table>', html, re.S).group(1)
    assert "harmless" in summary and "errors" not in summary


def test_each_highlight_is_opened_by_the_labels_of_the_marks_starting_there(client, project):
    """Not only the title (a hover): the label is text before the highlight, read by all."""
    html = page(client, project)
    text = re.search(r'<p class="explorer-marked-text">(.*?)</p>', html, re.S).group(1)
    opened = re.findall(r'<span class="explorer-mark-tag">([^<]*)</span><mark', text)
    assert opened == ["factual_error", "factual_error"]  # the long mark at 0, "Japan" at 12
    assert text.startswith('<span class="explorer-mark-tag">')
