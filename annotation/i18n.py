"""The annotator pages' language, and the language of the text they show.

An annotator page (under /annotate/ and /accounts/) is in the language the annotator chose
with the page's switcher (kept on their annotator; for a visitor not signed in, in Django's
language cookie), else the project's `ui_language`, else the best match of the browser's
Accept-Language among settings.LANGUAGES, else English. The project's language is thus the
default its annotators can still switch away from. The console and the API keep Django's
default (English). An htmx swap is a request to a page of the same project, so it comes in
the language of the page it lands in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from annotation.models import Annotator, Project

#: The session key of the crowd identity a start page signed in (annotators without an
#: account; annotation.views signs them in).
CROWD_ANNOTATOR_KEY = "crowd_annotator"
#: Pages outside the annotation app that annotators see (sign-in, sign-up, sign-out).
ACCOUNT_PAGES = frozenset({"login", "logout", "signup"})
#: Pages under /annotate/ that belong to the researcher console (its live progress line).
CONSOLE_PAGES = frozenset({"progress"})
#: Primary language subtags and scripts written right to left (BCP 47, lower case).
RTL_LANGUAGES = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ps", "sd", "syr", "ug", "ur", "yi"}
)
RTL_SCRIPTS = frozenset({"adlm", "arab", "hebr", "mand", "mend", "nkoo", "rohg", "syrc", "thaa"})


def supported_language(code: str | None) -> str | None:
    """`code` as one of settings.LANGUAGES (fr-CA gives fr, zh-CN zh-hans), else None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def annotator_choice(request: HttpRequest) -> str:
    """The language the person at this browser chose: their annotator's (signed in, or a
    crowd identity), else the language cookie the switcher left; empty when none."""
    chosen = ""
    if request.user.is_authenticated:
        chosen = (
            Annotator.objects.filter(user=request.user).values_list("language", flat=True).first()
        ) or ""
    elif (crowd_id := request.session.get(CROWD_ANNOTATOR_KEY)) is not None:
        chosen = (
            Annotator.objects.filter(pk=crowd_id, user__isnull=True)
            .values_list("language", flat=True)
            .first()
        ) or ""
    return chosen or request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")


def browser_language(request: HttpRequest) -> str | None:
    """The first language of the Accept-Language header that the pages speak."""
    header = request.headers.get("Accept-Language", "")
    for code, _quality in translation.trans_real.parse_accept_lang_header(header):
        if code == "*":
            break
        if language := supported_language(code):
            return language
    return None


def request_language(request: HttpRequest, *, slug: str | None = None) -> str:
    """The language of an annotator page: the annotator's choice, else the project's
    `ui_language` (the project of `slug`), else Accept-Language, else English."""
    if language := supported_language(annotator_choice(request)):
        return language
    if slug:
        project_language = (
            Project.objects.filter(slug=slug).values_list("ui_language", flat=True).first()
        )
        if language := supported_language(project_language):
            return language
    return browser_language(request) or settings.LANGUAGE_CODE


def is_annotator_page(match: ResolverMatch | None) -> bool:
    if match is None:
        return False
    if match.app_name == "annotation":
        return match.url_name not in CONSOLE_PAGES
    return match.url_name in ACCOUNT_PAGES


class AnnotatorLanguageMiddleware:
    """Activates the language of an annotator page for the view, its template and its
    messages; every other page (console, API) is left as it was."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        override = request.__dict__.pop("_language_override", None)
        if override is not None:
            override.__exit__(None, None, None)
            patch_vary_headers(response, ("Accept-Language", "Cookie"))
            response.headers.setdefault("Content-Language", override.language)
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        if (
            not is_annotator_page(request.resolver_match)
            or "_language_override" in request.__dict__
        ):
            return
        override = translation.override(request_language(request, slug=view_kwargs.get("slug")))
        override.__enter__()
        request._language_override = override  # type: ignore[attr-defined]


def annotator_language_set(*, annotator: Annotator, language: str) -> None:
    """Keep the annotator's choice of language for the pages, across visits and devices."""
    Annotator.objects.filter(pk=annotator.pk).update(language=language)
    annotator.language = language


def text_direction(tag: str) -> str:
    """The direction of text in the language `tag` (BCP 47): "rtl" or "ltr", "auto" when
    the tag is empty (the browser then finds it from the text's first strong letter)."""
    subtags = tag.strip().replace("_", "-").lower().split("-")
    if not subtags[0]:
        return "auto"
    script = next((s for s in subtags[1:] if len(s) == 4 and s.isalpha()), "")
    if script:
        return "rtl" if script in RTL_SCRIPTS else "ltr"
    return "rtl" if subtags[0] in RTL_LANGUAGES else "ltr"


def content_attributes(tag: str) -> SafeString:
    """` lang=".." dir=".."` for a block of prompt or response text in the language `tag`
    (the project's `content_language`): `dir="auto"` alone when the language is unknown."""
    tag = tag.strip()
    if not tag:
        return mark_safe(' dir="auto"')
    return format_html(' lang="{}" dir="{}"', tag, text_direction(tag))
