"""Pages MTurk may show in its frame.

An MTurk HIT in ExternalQuestion mode shows our entry link in an iframe on MTurk's worker
or sandbox site, and the end page posts the HIT to MTurk's externalSubmit from that frame.
The annotator pages that make up such a visit may therefore be framed by MTurk's sites
alone (CSP `frame-ancestors`, without X-Frame-Options), and their forms may post to MTurk;
every other page keeps `frame-ancestors 'none'`, X-Frame-Options DENY and
`form-action 'self'`. Cookies inside that cross-site frame need MTURK_FRAMING (settings).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from csp.constants import SELF
from django.http import HttpRequest, HttpResponse

#: MTurk's sites that show a HIT: the worker site, its sandbox, and the older www site. The
#: externalSubmit form posts to www or the sandbox, and MTurk may pass it on to the worker
#: site, so the same list bounds where the frame's forms may go.
MTURK_ORIGINS = (
    "https://worker.mturk.com",
    "https://workersandbox.mturk.com",
    "https://www.mturk.com",
)


def frameable_by_mturk(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Let MTurk's sites frame the view's pages, whose forms may then also post to MTurk."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return framed_by_mturk(view(request, *args, **kwargs))

    wrapped.frameable_by_mturk = True  # type: ignore[attr-defined]
    return wrapped


def is_frameable_by_mturk(request: HttpRequest) -> bool:
    """Whether the request's view is one of the pages MTurk may frame (an answer made
    outside the view, such as a domain error's page, is framed as the view's would be)."""
    match = request.resolver_match
    return match is not None and getattr(match.func, "frameable_by_mturk", False)


def framed_by_mturk(response: HttpResponse) -> HttpResponse:
    """The response with MTurk's sites allowed to frame it and its forms to post there."""
    response._csp_replace = {  # type: ignore[attr-defined]
        **(getattr(response, "_csp_replace", None) or {}),
        "frame-ancestors": list(MTURK_ORIGINS),
        "form-action": [SELF, *MTURK_ORIGINS],
    }
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    return response
