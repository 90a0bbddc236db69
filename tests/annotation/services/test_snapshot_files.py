"""A snapshot's file appears under its final name only once it is complete: a disk that
fills up (or turns read-only) mid-write leaves nothing behind (README "When services fail")."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage

from annotation.exports.query import export_query_from_params
from annotation.models import Project, Snapshot
from annotation.services.exporting import snapshot_build, snapshot_create
from tests.factories import voted_project

pytestmark = pytest.mark.django_db

FULL_DISK = "tests.annotation.services.test_snapshot_files.FullDiskStorage"


class _FillsTheDisk(File):
    """The content of a write that stops with ENOSPC after its first bytes are on disk."""

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        pieces = super().chunks(chunk_size=16)
        yield next(pieces)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDiskStorage(FileSystemStorage):
    """The local disk, full: every save writes a few bytes and then fails, as a real full
    disk does (the file exists, partly written, when the error comes)."""

    def _save(self, name: str, content: File) -> str:
        return super()._save(name, _FillsTheDisk(content.file, name=content.name))


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def voted() -> Project:
    return voted_project()


def _snapshot(project: Project) -> Snapshot:
    return snapshot_create(
        project=project,
        query=export_query_from_params({"format": "judgments"}, strict=True),
        created_by=None,
    )


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_full_disk_fails_the_snapshot_and_leaves_no_file(settings, media, voted):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": FULL_DISK}}
    snapshot = _snapshot(voted)

    snapshot = snapshot_build(snapshot=snapshot)

    assert snapshot.status == Snapshot.Status.FAILED
    assert "No space left on device" in snapshot.error
    assert not snapshot.file
    assert files_under(media) == []


def test_a_complete_file_is_moved_into_place_and_no_temporary_name_stays(media, voted):
    snapshot = snapshot_build(snapshot=_snapshot(voted))

    assert snapshot.status == Snapshot.Status.READY
    name = f"snapshots/{voted.slug}/{voted.slug}-judgments-{snapshot.pk}.jsonl"
    assert snapshot.file.name == name
    assert files_under(media) == [name]
    with default_storage.open(name) as handle:
        assert handle.read().count(b"\n") == snapshot.row_count == 3


def test_a_move_that_fails_leaves_neither_name(media, voted, monkeypatch):
    def read_only(source, target):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("annotation.storage.os.replace", read_only)

    snapshot = snapshot_build(snapshot=_snapshot(voted))

    assert snapshot.status == Snapshot.Status.FAILED
    assert "Read-only file system" in snapshot.error
    assert files_under(media) == []


def test_a_storage_without_local_paths_gets_the_file_under_its_final_name(settings, voted):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    snapshot = snapshot_build(snapshot=_snapshot(voted))

    assert snapshot.status == Snapshot.Status.READY
    folder = f"snapshots/{voted.slug}"
    assert default_storage.listdir(folder)[1] == [os.path.basename(snapshot.file.name)]
