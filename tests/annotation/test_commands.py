from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from annotation.models import Item, Project
from tests.factories import ProjectFactory, ResearcherFactory, item_rows

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_import_items_prints_a_summary(tmp_path):
    project = ProjectFactory(slug="cmd")
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in item_rows(3)))
    out = StringIO()
    call_command("import_items", "cmd", str(path), stdout=out)
    assert "3 items imported (3 new" in out.getvalue()
    assert Item.objects.filter(project=project).count() == 3


def test_import_items_exits_1_naming_bad_lines_and_imports_nothing(tmp_path):
    ProjectFactory(slug="cmd")
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps(item_rows(1)[0]) + "\n{oops\n")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_items", "cmd", str(path), stderr=err)
    assert f"{path}:2: invalid JSON" in err.getvalue()
    assert not Item.objects.exists()


def test_import_items_into_an_unknown_project_fails(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text("")
    with pytest.raises(CommandError, match="No project"):
        call_command("import_items", "nope", str(path))


def test_create_api_token_prints_the_token_alone_on_the_last_line():
    user = ResearcherFactory(username="pipeline")
    out = StringIO()
    call_command("create_api_token", "pipeline", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == Token.objects.get(user=user).key


def test_demo_is_idempotent():
    call_command("demo", stdout=StringIO())
    counts = (Project.objects.count(), Item.objects.count())
    call_command("demo", stdout=StringIO())
    assert (Project.objects.count(), Item.objects.count()) == counts
    assert counts[0] == 2 and counts[1] >= 30
    assert {p.kind for p in Project.objects.all()} == {"pairwise", "rubric"}


def test_demo_prints_the_address_it_is_served_at():
    out = StringIO()
    call_command("demo", "--url", "http://0.0.0.0:8001/", stdout=out)
    assert "Sign in at http://0.0.0.0:8001/ as demo / demo" in out.getvalue()
    assert "8000" not in out.getvalue()


LONG_PASSWORDS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
]


def _researcher_command(*args: str) -> str:
    out = StringIO()
    call_command("create_researcher", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_researcher_makes_a_staff_member_of_the_group_who_can_sign_in(settings):
    settings.AUTH_PASSWORD_VALIDATORS = LONG_PASSWORDS
    out = _researcher_command("ada", "--password", "a-long-password", "--email", "a@b.org")
    user = User.objects.get(username="ada")
    assert user.is_staff and not user.is_superuser and user.email == "a@b.org"
    assert user.groups.filter(name="researcher").exists()
    assert user.check_password("a-long-password")
    assert "ada is a researcher" in out


def test_create_researcher_refuses_a_short_password_with_exit_status_1(settings):
    settings.AUTH_PASSWORD_VALIDATORS = LONG_PASSWORDS
    with pytest.raises(CommandError, match="at least 10 characters") as caught:
        _researcher_command("ada", "--password", "short")
    assert caught.value.returncode == 1
    assert not User.objects.filter(username="ada").exists()


def test_create_researcher_refuses_a_bad_username():
    with pytest.raises(CommandError, match="username"):
        _researcher_command("not a name", "--no-input")
    assert not User.objects.exists()


def test_create_researcher_without_a_password_says_the_account_cannot_sign_in_yet():
    out = _researcher_command("ada", "--no-input")
    assert not User.objects.get(username="ada").has_usable_password()
    assert "changepassword ada" in out


def test_create_researcher_prompts_for_a_password_on_a_terminal(settings, monkeypatch):
    settings.AUTH_PASSWORD_VALIDATORS = LONG_PASSWORDS
    answers = iter(["short", "short", "a-long-password", "a-long-password"])
    monkeypatch.setattr(
        "annotation.management.commands.create_researcher.sys.stdin",
        type("Tty", (), {"isatty": staticmethod(lambda: True)})(),
    )
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    _researcher_command("ada")
    assert User.objects.get(username="ada").check_password("a-long-password")


def test_create_researcher_updates_an_existing_account():
    ResearcherFactory(username="ada", is_superuser=True)
    _researcher_command("ada", "--no-input", "--email", "new@b.org")
    user = User.objects.get(username="ada")
    assert not user.is_superuser and user.email == "new@b.org" and user.check_password("pw")


def test_the_demo_researcher_is_a_researcher_not_a_superuser_and_keeps_demo(settings, client):
    settings.AUTH_PASSWORD_VALIDATORS = LONG_PASSWORDS
    call_command("demo", stdout=StringIO())
    user = User.objects.get(username="demo")
    assert user.is_staff and not user.is_superuser and user.check_password("demo")
    assert user.groups.filter(name="researcher").exists() and not user.user_permissions.exists()
    client.force_login(user)
    pages = ["/admin/", "/admin/annotation/project/add/"]
    for model in ["project", "criterion", "item", "response", "task", "assignment", "judgment"]:
        pages.append(f"/admin/annotation/{model}/")
    for model in ["annotatorstats", "annotator", "crowdsession"]:
        pages.append(f"/admin/annotation/{model}/")
    for project in Project.objects.all():
        assert project.owner == user
        pages += [
            f"/admin/annotation/project/{project.pk}/change/",
            f"/admin/annotation/project/{project.pk}/import/",
        ]
    for page in pages:
        assert client.get(page).status_code == 200, page


def test_the_demo_turns_an_earlier_superuser_demo_into_a_researcher():
    ResearcherFactory(username="demo", is_superuser=True)
    call_command("demo", stdout=StringIO())
    user = User.objects.get(username="demo")
    assert not user.is_superuser and user.check_password("demo")
