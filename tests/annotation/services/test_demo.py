"""The demo's items are JSONL fixtures shipped in the package and imported as a
researcher's file would be: what the files say is what the demo site holds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from annotation.models import Item, Response
from annotation.services.demo import PROJECTS, demo_create, demo_items

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_each_demo_project_holds_the_items_of_its_fixture_as_written():
    projects = {project.slug: project for project in demo_create()}
    for spec in PROJECTS:
        written = [json.loads(line) for line in demo_items(spec["items"]).splitlines()]
        project = projects[spec["slug"]]
        stored = Item.objects.filter(project=project).order_by("pk")
        assert [item.external_id for item in stored] == [item["id"] for item in written]
        assert [item.prompt for item in stored] == [item["prompt"] for item in written]
        assert list(
            Response.objects.filter(item__project=project)
            .order_by("item_id", "position")
            .values_list("external_id", "model", "text")
        ) == [(r["id"], r["model"], r["text"]) for item in written for r in item["responses"]]


def test_an_installed_wheel_carries_the_demo_fixtures(tmp_path):
    # Built from a copy, so the build leaves nothing in the working tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("config", "annotation", "api", "ops"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("prefpanel-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for spec in PROJECTS:
        assert f"annotation/fixtures/demo/{spec['items']}" in names
