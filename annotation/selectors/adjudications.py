"""Researchers' adjudications as the exports read them: the decided label of each task and
who decided it, named by a pseudonym (a published dataset names no researcher account)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from annotation.models import Adjudication, Project


def researcher_pseudonym(user_id: int | None) -> str | None:
    """How exports name the researcher who decided: `researcher-<account id>`, stable across
    pulls and meaningless outside this deployment (None once the account is deleted)."""
    return None if user_id is None else f"researcher-{user_id}"


def adjudicated_labels(*, project: Project) -> dict[int, tuple[str, str | None]]:
    """{task id: (label, researcher pseudonym)} of every adjudicated task of the project, in
    one query (a project has a few adjudications per hundred tasks at most)."""
    rows = Adjudication.objects.filter(project=project).values_list(
        "task_id", "label", "researcher_id"
    )
    return {task: (label, researcher_pseudonym(user)) for task, label, user in rows}


def adjudicated_after(*, project: Project, since: datetime | int) -> QuerySet:
    """Ids of the tasks adjudicated after an export's `since` cursor: after a datetime, or,
    for a judgment id, while the project's newest judgment was at or past it (a decision
    made after a pull whose newest judgment was N always is; one made just before it may
    come again, which an upsert by pair_id makes harmless)."""
    if isinstance(since, int):
        condition = Q(last_judgment_id__gte=since)
    else:
        condition = Q(decided_at__gt=since)
    return Adjudication.objects.filter(condition, project=project).values("task_id")
