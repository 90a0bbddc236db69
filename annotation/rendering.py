"""Markdown to safe HTML: responses are untrusted model output."""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from django.utils.html import escape
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "img",
    "sup",
    "sub",
    "span",
    "audio",
    "video",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
    "audio": {"src", "controls", "preload"},
    "video": {"src", "controls", "preload", "width"},
}

MEDIA_URL = re.compile(r"^https?://\S+?\.(?P<ext>[a-z0-9]{2,5})(?:[?#]\S*)?$", re.IGNORECASE)
AUDIO = {"mp3", "wav", "ogg", "oga", "m4a", "flac", "opus"}
VIDEO = {"mp4", "webm", "ogv", "mov", "m4v"}
IMAGE = {"png", "jpg", "jpeg", "gif", "webp", "svg"}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Raw HTML in the source is shown as text, never passed through.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


def _media(text: str) -> str | None:
    """A response that is nothing but a link to an image, a sound or a video is shown with
    the element for it."""
    match = MEDIA_URL.match(text.strip())
    if match is None:
        return None
    url, ext = escape(text.strip()), match["ext"].lower()
    if ext in AUDIO:
        return f'<audio controls preload="metadata" src="{url}"></audio>'
    if ext in VIDEO:
        return f'<video controls preload="metadata" src="{url}"></video>'
    if ext in IMAGE:
        return f'<p><img src="{url}" alt="the response (an image)"></p>'
    return None


def render_markdown(text: str) -> str:
    """Render Markdown and sanitise the result; a <script> in a response never runs."""
    html = _media(text or "") or _parser().render(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
