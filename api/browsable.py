"""The browsable API for signed-in researchers, under the site's Content-Security-Policy."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import BrowsableAPIRenderer


class BrowsableAPI(BrowsableAPIRenderer):
    """DRF's page sets a few inline styles (its code highlighting and two buttons): this page
    alone may use inline styles; scripts stay the site's own files only."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> Any:
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src": ["'unsafe-inline'"]}
        return super().render(data, accepted_media_type, renderer_context)
