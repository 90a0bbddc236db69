"""Researchers: the group and its permissions, making researchers, whom they see."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from annotation.errors import ValidationFailed
from annotation.models import Annotator, CrowdSession
from annotation.services.researchers import (
    RESEARCHER_GROUP,
    annotators_seen_by,
    member_candidates,
    researcher_codenames,
    researcher_create,
    researcher_group_sync,
)
from tests.factories import ProjectFactory, UserFactory, make_annotator

pytestmark = pytest.mark.django_db

LONG_PASSWORDS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
]


def _codenames(group: Group) -> set[str]:
    return set(group.permissions.values_list("codename", flat=True))


def test_the_migrations_make_the_group_with_exactly_the_console_permissions():
    """0010 makes the group; 0024 adds the model endpoints' permissions to it, 0031 the
    judges'."""
    loader = MigrationLoader(connection)
    editor = SimpleNamespace(connection=connection)
    Group.objects.filter(name=RESEARCHER_GROUP).delete()
    Permission.objects.filter(content_type__app_label="annotation").delete()
    migration = importlib.import_module("annotation.migrations.0010_researcher_group")
    state = loader.project_state(("annotation", "0010_researcher_group"))
    migration.create_researcher_group(state.apps, editor)
    migration = importlib.import_module("annotation.migrations.0024_model_endpoints")
    state = loader.project_state(("annotation", "0024_model_endpoints"))
    migration.grant_researchers(state.apps, editor)
    migration = importlib.import_module("annotation.migrations.0031_judges")
    state = loader.project_state(("annotation", "0031_judges"))
    migration.grant_researchers(state.apps, editor)
    group = Group.objects.get(name=RESEARCHER_GROUP)
    assert _codenames(group) == set(researcher_codenames())


def test_the_group_reads_collected_data_and_writes_set_up_only():
    codenames = set(researcher_codenames())
    assert {"add_project", "change_item", "delete_criterion", "change_task"} <= codenames
    assert {"view_judgment", "view_crowdsession", "view_annotator"} <= codenames
    assert not {"add_judgment", "change_judgment", "delete_judgment", "change_annotator"} & (
        codenames
    )
    assert not any(c.endswith(("_user", "_group", "_token", "_tokenproxy")) for c in codenames)


def test_syncing_the_group_removes_a_permission_granted_by_hand():
    group = researcher_group_sync()
    group.permissions.add(Permission.objects.get(codename="delete_judgment"))
    researcher_group_sync()
    assert _codenames(group) == set(researcher_codenames())


def test_a_researcher_is_staff_in_the_group_and_not_a_superuser():
    user = researcher_create(username="ada", email="ada@example.org")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [RESEARCHER_GROUP]
    assert user.has_perm("annotation.change_project")
    assert not user.has_perm("annotation.delete_judgment")
    assert not user.has_usable_password() and user.email == "ada@example.org"


def test_making_an_existing_user_a_researcher_keeps_their_password_and_drops_superuser():
    user = UserFactory(username="grace", is_superuser=True)
    researcher_create(username="grace")
    user.refresh_from_db()
    assert user.is_staff and not user.is_superuser and user.check_password("pw")


def test_a_short_password_is_refused_and_nothing_is_made(settings):
    settings.AUTH_PASSWORD_VALIDATORS = LONG_PASSWORDS
    with pytest.raises(ValidationFailed) as caught:
        researcher_create(username="ada", password="short")
    assert caught.value.errors[0]["field"] == "password"
    assert "at least 10 characters" in caught.value.errors[0]["error"]
    assert not Group.objects.get(name=RESEARCHER_GROUP).user_set.exists()


def test_a_good_password_is_set(settings):
    settings.AUTH_PASSWORD_VALIDATORS = LONG_PASSWORDS
    user = researcher_create(username="ada", password="correct horse battery")
    assert user.check_password("correct horse battery")


def test_a_username_with_spaces_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        researcher_create(username="ada lovelace")
    assert caught.value.errors[0]["field"] == "username"


def test_a_researcher_sees_the_annotators_of_their_projects_only():
    ada = researcher_create(username="ada")
    mine, theirs = ProjectFactory(owner=ada), ProjectFactory()
    member, stranger = make_annotator(), make_annotator()
    mine.members.add(member)
    theirs.members.add(stranger)
    crowd = Annotator.objects.create(source=Annotator.Source.PROLIFIC, external_id="c" * 24)
    CrowdSession.objects.create(
        project=mine,
        annotator=crowd,
        platform=crowd.source,
        external_id=crowd.external_id,
        started_at=timezone.now(),
    )
    other_crowd = Annotator.objects.create(
        source=Annotator.Source.MTURK, external_id="A1B2C3D4E5F6G"
    )
    assert set(annotators_seen_by(user=ada)) == {member, crowd}
    assert set(member_candidates(user=ada)) == {member, crowd, stranger}
    assert other_crowd not in member_candidates(user=ada)


def test_syncing_the_group_makes_missing_permissions_first():
    Permission.objects.filter(codename="view_crowdsession").delete()
    group = researcher_group_sync()
    assert "view_crowdsession" in _codenames(group)
