"""Domain errors. Services raise them; the API's one exception handler (api.exceptions) and
the pages' middleware (annotation.error_pages) map them to answers by `status`, so no view
catches them one by one.

The messages annotators may read are translated: an error takes its text in the language
active where it is raised (an annotator page's; English in the API and the console).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

#: The block reason stored for a failed qualification quiz: kept in English whatever the
#: page's language, since `AnnotatorBlocked.for_reason` knows the quiz's block by it.
QUIZ_FAILED_REASON = gettext_noop(
    "Thank you for taking the qualification quiz. Your answers did not reach the "
    "accuracy this study needs, so there are no more tasks for you here."
)


class DomainError(Exception):
    """Base class: a request the domain refuses. `status` is the HTTP answer it maps to."""

    status: int = 400
    default_detail: str = _("The request was refused.")
    #: Seconds after which the same request may succeed: a `Retry-After` header when set.
    retry_after: int | None = None

    def __init__(self, detail: str | None = None, *, errors: list | None = None) -> None:
        self.detail = str(detail or self.default_detail)
        self.errors = errors or []
        super().__init__(self.detail)

    def as_json(self) -> dict[str, object]:
        """The body of the JSON answer: {"detail", "errors"}, as every API error."""
        return {"detail": self.detail, "errors": self.errors}


class ValidationFailed(DomainError):
    status = 400
    default_detail = _("The input is not valid.")


class ImportRejected(ValidationFailed):
    """A file or body with bad lines: nothing was imported; `errors` name each line."""

    default_detail = "The import was rejected; nothing was imported."


class NotFound(DomainError):
    status = 404
    default_detail = "Not found."


class PermissionDenied(DomainError):
    status = 403
    default_detail = _("You may not do this.")


class AnnotatorBlocked(PermissionDenied):
    """An annotator stopped site-wide or in one project. The reason stored with a block is a
    researchers' note (it may name who blocked): the annotator is told only this message, or
    one written for them, such as the qualification quiz's."""

    default_detail = _("You can no longer work on this project. Thank you for your work so far.")

    @classmethod
    def for_reason(cls, reason: str | None) -> AnnotatorBlocked:
        """The error to show for a stored block reason, without revealing the reason."""
        if reason == QUIZ_FAILED_REASON:
            return QualificationFailed()
        return cls()


class QualificationFailed(AnnotatorBlocked):
    default_detail = _(QUIZ_FAILED_REASON)


class ProjectNotOpen(PermissionDenied):
    default_detail = _("This project is not open for annotation.")


class GroupQuotaFull(ProjectNotOpen):
    """A first task asked for by an annotator whose group of a group quota is full."""

    default_detail = _(
        "Thank you for your interest in this study. It already has all the participants it "
        "needs from your group, so there is no task for you here. Nothing you did counts "
        "against you; if you came from a crowd platform, please return the study there."
    )


class LeaseExpired(DomainError):
    status = 410
    default_detail = _("The lease on this assignment has expired; the task went back to the pool.")


class AlreadyAnswered(DomainError):
    """A different answer posted for an assignment that already has a judgment."""

    status = 409
    default_detail = _("This assignment already has a different judgment.")


class CrowdEntryRefused(ValidationFailed):
    """A crowd entry link that cannot start work: a malformed id, another study's link."""

    default_detail = _("This study link is not valid.")


class CrowdEntryThrottled(DomainError):
    status = 429
    default_detail = _(
        "Too many new participants have started this study from your network in the last "
        "hour. Please try again later."
    )


class VoteTooSoon(DomainError):
    """A vote through the task page that came sooner than the project's `arming_ms` after
    its card was shown: a key pressed twice, not a choice about this card."""

    status = 409
    default_detail = _("This vote came before the task had been on screen; nothing was stored.")


class JudgeBusy(DomainError):
    """A judge deleted while one of its runs is pending or running: its worker would go on
    writing the judge's judgments. `errors` name the run; delete once it has ended."""

    status = 409
    default_detail = _("This judge has a run that has not ended; delete it once the run is over.")


class EndpointFailed(DomainError):
    """A model endpoint that failed or timed out twice (one retry) and is now marked
    unhealthy; the detail names the endpoint and the failure, never its key. Callers (the
    arena, judges) draw another endpoint or try later; annotators never see it."""

    status = 502
    default_detail = "The model endpoint did not answer."


class ArenaPromptRefused(DomainError):
    """An arena prompt not let through (services.arena_safety.arena_prompt_admit): `code`
    says why for front ends (`empty`, `too_long`, `blocked`, `closed`, `annotator_limit`,
    `address_limit`), `message` says it plainly to the annotator; nothing was stored or sent
    to a model. A rate limit is a 429 with `retry_after` (seconds), the rest 400s."""

    default_detail = _("This prompt was refused.")

    def __init__(
        self, code: str, message: str, *, status: int = 400, retry_after: int | None = None
    ) -> None:
        super().__init__(message, errors=[{"field": "prompt", "error": code}])
        self.code = code
        self.message = self.detail
        self.status = status
        self.retry_after = retry_after

    def as_json(self) -> dict[str, object]:
        body = {**super().as_json(), "code": self.code}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


class ArenaUnavailable(DomainError):
    """Fewer than two model endpoints of an arena project are enabled and healthy: no
    battle can start. Annotators read this; which endpoints failed is logged instead."""

    status = 409
    default_detail = _(
        "The arena cannot start a conversation right now: not enough models are available. "
        "Please try again in a few minutes."
    )


class ArenaTurnOpen(DomainError):
    """A conversation continued before its last answers were voted on."""

    status = 409
    default_detail = _("Vote on the last answers before you continue the conversation.")
