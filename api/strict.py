"""Strict input (README "REST API"): an endpoint names what it does not take instead of ignoring
it. A query parameter it does not read is a 400; a body of a media type it does not parse
is a 415 (a request without a body needs no Content-Type). Body fields are checked by the
serializers (api.serializers.StrictFieldsMixin) and import rows by the import services.

Every view under /api/v1/ derives from StrictAPIView or StrictListAPIView."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from rest_framework import exceptions, generics
from rest_framework.request import Request
from rest_framework.views import APIView

from annotation.errors import ValidationFailed
from annotation.numbers import ascii_int

WRITES = ("POST", "PUT", "PATCH", "DELETE")


class BodyNotTaken(exceptions.UnsupportedMediaType):
    """A body that is not of a media type the endpoint parses, or of none at all."""

    def __init__(self, *, given: str, taken: Collection[str]) -> None:
        media_types = ", ".join(taken)
        what = f"A {given} body" if given else "A body without a Content-Type"
        super().__init__(given, detail=f"{what} is not taken here: send {media_types}.")
        self.errors = [{"field": "Content-Type", "error": f"must be one of {media_types}"}]


def refuse_unknown_query_parameters(request: Request, taken: Collection[str]) -> None:
    """Refuse every query parameter not in `taken`, by name, in one 400."""
    unknown = sorted(set(request.query_params) - set(taken))
    if unknown:
        raise ValidationFailed(
            f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
            errors=[{"field": name, "error": "unknown parameter"} for name in unknown],
        )


def has_body(request: Request) -> bool:
    """Whether the request carries a body (a chunked one has its Content-Length set by
    api.middleware by now)."""
    return (ascii_int(request.META.get("CONTENT_LENGTH") or "0") or 0) > 0


def refuse_body_not_taken(request: Request) -> None:
    """A body's media type must be one the view parses: anything else would be read as no
    body (no Content-Type) or be a form the serializers would half understand."""
    if request.method not in WRITES or not has_body(request):
        return
    parser = None
    if request.content_type:
        parser = request.negotiator.select_parser(request, request.parsers)
    if parser is None:
        given = request.content_type.split(";")[0].strip()
        raise BodyNotTaken(given=given, taken=[p.media_type for p in request.parsers])


def no_body(request: Request) -> None:
    """For an action that takes no body: nothing, or `{}`; any field is named in a 400."""
    from api.serializers import NoBodySerializer

    NoBodySerializer(data=request.data).is_valid(raise_exception=True)


class StrictInputMixin:
    """Checks a request's query parameters and body media type once it is authenticated
    and allowed (a stranger still gets a 401 or 403 first)."""

    #: The query parameters each method takes; a list's GET also takes its paginator's.
    query_parameters: Mapping[str, Collection[str]] = {}

    def taken_query_parameters(self, request: Request) -> set[str]:
        method = "GET" if request.method == "HEAD" else request.method  # HEAD is a GET
        taken = set(self.query_parameters.get(method, ()))
        paginator = getattr(self, "paginator", None) if method == "GET" else None
        if paginator is not None:
            taken |= set(paginator.query_parameters())
        return taken

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if not hasattr(self, request.method.lower()):
            return  # a method the endpoint lacks is a 405, whatever was sent with it
        refuse_unknown_query_parameters(request, self.taken_query_parameters(request))
        refuse_body_not_taken(request)


class StrictAPIView(StrictInputMixin, APIView):
    pass


class StrictListAPIView(StrictInputMixin, generics.ListAPIView):
    pass
