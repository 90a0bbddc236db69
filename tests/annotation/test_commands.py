from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from annotation.models import Item, Project
from tests.factories import ProjectFactory, ResearcherFactory, item_rows

pytestmark = pytest.mark.django_db


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
