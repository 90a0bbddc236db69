"""The API's interactive documentation (Swagger UI), served offline under the site's
Content-Security-Policy."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI, its script served as a file (no inline script); Swagger UI styles its
    elements inline, so this page alone may use inline styles."""

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response._csp_update = {"style-src": ["'unsafe-inline'"]}
        return response
