"""Markdown to safe HTML: responses are untrusted model output.

Media (images, sounds, videos) are shown only from the hosts a project allows; anything
else becomes a link, never fetched by the page, so a response cannot load a tracking pixel
or make the annotator's browser request one of the site's own pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import nh3
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import mark_safe
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


def media_hosts_for(project_hosts: Iterable[str] = ()) -> tuple[str, ...]:
    """The hosts media may come from: the project's and the MEDIA_HOSTS setting's."""
    hosts = [*getattr(settings, "MEDIA_HOSTS", []), *project_hosts]
    return tuple(dict.fromkeys(h.strip().lower() for h in hosts if h and h.strip()))


def media_allowed(url: str, hosts: Sequence[str]) -> bool:
    """An absolute http(s) address on one of `hosts` (`*.example.org` covers subdomains;
    an entry with a port matches that port only)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    for allowed in hosts:
        name, _, allowed_port = allowed.partition(":")
        if allowed_port and str(port) != allowed_port:
            continue
        if host == name or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def _image_rule(self: Any, tokens: Any, idx: int, options: Any, env: dict) -> str:
    """An image from an allowed host is shown; any other is a link with its alt text."""
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = self.renderInlineAsText(token.children or [], options, env)
    if media_allowed(src, env.get("media_hosts", ())):
        return f'<img src="{escape(src)}" alt="{escape(alt)}">'
    return f'<a href="{escape(src)}">{escape(alt or "image")} (image: {escape(src)})</a>'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Raw HTML in the source is shown as text, never passed through.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )
    parser.add_render_rule("image", _image_rule)
    return parser


def _media(text: str, hosts: Sequence[str]) -> str | None:
    """A response that is nothing but a link to an image, a sound or a video is shown with
    the element for it, when its host is allowed."""
    match = MEDIA_URL.match(text.strip())
    if match is None or not media_allowed(text, hosts):
        return None
    url, ext = escape(text.strip()), match["ext"].lower()
    if ext in AUDIO:
        return f'<audio controls preload="metadata" src="{url}"></audio>'
    if ext in VIDEO:
        return f'<video controls preload="metadata" src="{url}"></video>'
    if ext in IMAGE:
        return f'<p><img src="{url}" alt="the response (an image)"></p>'
    return None


def render_markdown(text: str, *, media_hosts: Sequence[str] = ()) -> str:
    """Render Markdown and sanitise the result; a <script> in a response never runs, and
    media load only from `media_hosts` (see media_hosts_for)."""
    html = _media(text or "", media_hosts) or _parser().render(
        text or "", {"media_hosts": media_hosts}
    )
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def prompt_turns(prompt: Any, *, media_hosts: Sequence[str] = ()) -> list[dict[str, str]]:
    """An item's prompt as the annotator page shows it: one rendered turn per message (a
    plain prompt is the user's one turn)."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    return [
        {
            "role": message.get("role", ""),
            "html": mark_safe(render_markdown(message.get("content", ""), media_hosts=media_hosts)),
        }
        for message in messages
    ]
