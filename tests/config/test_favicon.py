"""Browsers ask every site for /favicon.ico: it answers with the site's icon."""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders


def test_favicon_ico_is_sent_to_the_static_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.ico"


def test_the_static_icon_is_an_ico_file():
    icon = Path(finders.find("favicon.ico")).read_bytes()

    assert icon[:4] == b"\x00\x00\x01\x00"
