"""The project form's live instructions preview: the text is rendered by the
annotator page's own Markdown renderer, through a POST that needs the CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.rendering import render_markdown
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

URL = "/admin/annotation/project/instructions-preview/"
TEXT = (
    "# Task\n\nPick the **more helpful** answer.\n\n- be fair\n- be quick\n\n<script>x()</script>"
)


def _client(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_the_preview_is_what_the_annotator_page_renders(lead):
    html = _client(lead).post(URL, {"instructions": TEXT}, headers={"HX-Request": "true"})

    assert html.status_code == 200
    assert html.content.decode() == render_markdown(TEXT)
    assert "<strong>more helpful</strong>" in html.content.decode()
    assert "<script" not in html.content.decode()


def test_an_empty_box_says_there_is_nothing_to_preview(lead):
    assert "Nothing to preview." in _client(lead).post(URL, {"instructions": "  "}).content.decode()


def test_the_preview_is_a_post_with_the_csrf_token(lead):
    client = _client(lead, enforce_csrf_checks=True)
    assert client.post(URL, {"instructions": TEXT}).status_code == 403
    assert _client(lead).get(URL).status_code == 405


def test_people_who_are_not_staff_are_sent_to_sign_in():
    answer = Client().post(URL, {"instructions": TEXT})
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]


def test_the_project_form_posts_the_instructions_to_the_preview_while_typing(lead):
    project = ProjectFactory(owner=lead, instructions="Be **kind**.")
    for page in (
        f"/admin/annotation/project/{project.pk}/change/",
        "/admin/annotation/project/add/",
    ):
        html = _client(lead).get(page).content.decode()
        assert f'hx-post="{URL}"' in html
        assert 'hx-trigger="input changed delay:400ms, load"' in html
        assert 'id="instructions-preview"' in html
