"""Domain errors. Services raise them; the API's one exception handler and the pages map
them to answers, so no view catches them one by one."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a request the domain refuses. `status` is the HTTP answer it maps to."""

    status: int = 400
    default_detail = "The request was refused."

    def __init__(self, detail: str | None = None, *, errors: list | None = None) -> None:
        self.detail = detail or self.default_detail
        self.errors = errors or []
        super().__init__(self.detail)


class ValidationFailed(DomainError):
    status = 400
    default_detail = "The input is not valid."


class ImportRejected(ValidationFailed):
    """A file or body with bad lines: nothing was imported; `errors` name each line."""

    default_detail = "The import was rejected; nothing was imported."


class NotFound(DomainError):
    status = 404
    default_detail = "Not found."


class PermissionDenied(DomainError):
    status = 403
    default_detail = "You may not do this."


class AnnotatorBlocked(PermissionDenied):
    default_detail = "This annotator has been blocked from this project."


class ProjectNotOpen(PermissionDenied):
    default_detail = "This project is not open for annotation."


class LeaseExpired(DomainError):
    status = 410
    default_detail = "The lease on this assignment has expired; the task went back to the pool."


class AlreadyAnswered(DomainError):
    """A different answer posted for an assignment that already has a judgment."""

    status = 409
    default_detail = "This assignment already has a different judgment."
