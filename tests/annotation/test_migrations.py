"""Data migrations, run forward from the state before them on a real schema."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from annotation.models import model_pair_key

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("annotation", "0008_tasklabel_task_unchecked")]
AFTER = [("annotation", "0009_crowd_identity")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_crowd_workers_are_detached_from_accounts_and_the_entrys_accounts_deactivated():
    old = _migrate(BEFORE)
    try:
        User = old.get_model("auth", "User")
        Annotator = old.get_model("annotation", "Annotator")
        made = User.objects.create(username="prolific-5f0c0a0b0c0d0e0f10111213", password="!x")
        Annotator.objects.create(
            user=made, source="prolific", external_id="5f0c0a0b0c0d0e0f10111213", pseudonym="p1"
        )
        # Someone signed up as "prolific-alice"; the old entry took the account over.
        victim = User.objects.create(username="prolific-alice", password="!taken")
        Annotator.objects.create(
            user=victim, source="prolific", external_id="alice", pseudonym="p2"
        )
        staff = User.objects.create(username="mturk-lab", password="md5$x$y", is_staff=True)
        Annotator.objects.create(user=staff, source="mturk", external_id="lab", pseudonym="p3")
        local = User.objects.create(username="rater", password="md5$x$y")
        Annotator.objects.create(user=local, source="local", pseudonym="p4")

        new = _migrate(AFTER)

        User = new.get_model("auth", "User")
        Annotator = new.get_model("annotation", "Annotator")
        active = set(User.objects.filter(is_active=True).values_list("username", flat=True))
        assert active == {"mturk-lab", "rater"}
        assert User.objects.count() == 4  # nothing deleted
        crowd = Annotator.objects.filter(source__in=["prolific", "mturk"])
        assert crowd.count() == 3 and not crowd.filter(user__isnull=False).exists()
        assert Annotator.objects.get(source="local").user.username == "rater"
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("annotation"))


def test_existing_responses_get_their_style_features():
    old = _migrate([("annotation", "0022_snapshot_claimed_at")])
    try:
        Project = old.get_model("annotation", "Project")
        Item = old.get_model("annotation", "Item")
        Response = old.get_model("annotation", "Response")
        project = Project.objects.create(slug="styled", name="Styled")
        item = Item.objects.create(project=project, external_id="q", prompt="Hi")
        Response.objects.create(item=item, external_id="r", model="m", text="## Hi\n- **a**")

        new = _migrate([("annotation", "0023_response_style_min_group_votes")])

        style = new.get_model("annotation", "Response").objects.get(external_id="r").style
        assert style == {
            "chars": 13,
            "tokens": 4,
            "headers": 1,
            "list_items": 1,
            "bold": 1,
            "code_blocks": 0,
        }
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("annotation"))


def test_existing_pairs_get_their_sorted_model_pair():
    old = _migrate([("annotation", "0025_project_sampling")])
    try:
        Project = old.get_model("annotation", "Project")
        Item = old.get_model("annotation", "Item")
        Response = old.get_model("annotation", "Response")
        Task = old.get_model("annotation", "Task")
        project = Project.objects.create(slug="old-pairs", name="Old pairs")
        item = Item.objects.create(project=project, external_id="q0", prompt="Q?")
        alpha, zed, single = (
            Response.objects.create(item=item, external_id=f"r{n}", model=name)
            for n, name in enumerate(["alpha", "Zed", "solo"])
        )
        pair = Task.objects.create(project=project, item=item, response_a=zed, response_b=alpha)
        one = Task.objects.create(project=project, item=item, response_a=single)
        new = _migrate([("annotation", "0026_task_model_pair")])
        Task = new.get_model("annotation", "Task")
        # Code point order (a collation would put "alpha" first), as model_pair_key sorts.
        assert Task.objects.get(pk=pair.pk).model_pair == model_pair_key("alpha", "Zed")
        assert model_pair_key("alpha", "Zed") == "Zed\x1falpha"
        assert Task.objects.get(pk=one.pk).model_pair == ""
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("annotation"))
