"""A live preview of a project's instructions in the project form: the textarea posts its
text by htmx (debounced) and the answer is the same Markdown renderer the annotator page uses
(annotation.rendering), so what the researcher sees is what annotators will see."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.templatetags.static import static
from django.urls import path, reverse_lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from annotation.rendering import media_hosts_for, render_markdown

PREVIEW_URL_NAME = "annotation_project_instructions_preview"


def urlpatterns(project_admin: Any) -> list[Any]:
    @require_POST
    def preview_view(request: HttpRequest) -> HttpResponse:
        if not project_admin.has_view_or_change_permission(request):
            return HttpResponseForbidden("You may not edit projects.")
        text = request.POST.get("instructions", "")
        if not text.strip():
            return HttpResponse(
                format_html('<p class="instructions-preview-empty">{}</p>', "Nothing to preview.")
            )
        return HttpResponse(render_markdown(text, media_hosts=media_hosts_for()))

    return [
        path(
            "instructions-preview/",
            project_admin.admin_site.admin_view(preview_view),
            name=PREVIEW_URL_NAME,
        )
    ]


class InstructionsPreviewWidget(forms.Textarea):
    """The instructions box, with the rendered preview beside it, refreshed by htmx while
    the researcher types (400 ms after the last key) and once when the form opens."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={
                "hx-post": reverse_lazy(f"admin:{PREVIEW_URL_NAME}"),
                "hx-trigger": "input changed delay:400ms, load",
                "hx-target": "#instructions-preview",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
                "hx-params": "instructions,csrfmiddlewaretoken",
                "hx-indicator": "#instructions-preview",
                "aria-controls": "instructions-preview",
                **(attrs or {}),
            }
        )

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        return format_html(
            '<link rel="stylesheet" href="{}"><div class="instructions-editor">'
            '<div class="instructions-editor-source">{}</div>'
            '<div class="instructions-editor-preview">'
            '<p class="instructions-preview-label">Preview, as annotators see it</p>'
            '<div id="instructions-preview" class="instructions-preview markdown" dir="auto" '
            'aria-live="polite"></div></div></div>',
            static("css/console-instructions.css"),
            super().render(name, value, attrs, renderer),
        )
