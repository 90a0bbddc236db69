"""Files that appear under their final name only once complete (README "When services
fail"): a reader never sees half a file, and a failed write leaves nothing behind."""

from __future__ import annotations

import logging
import os
import posixpath
import uuid

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage

logger = logging.getLogger(__name__)

#: Files being written carry this prefix (hidden on a local disk) until they are complete.
PARTIAL_PREFIX = ".partial-"


def save_complete(*, storage: Storage, name: str, content: File) -> str:
    """Save `content` under a temporary name beside `name`, then move it into place; the
    name it got (the storage may pick another if `name` is taken). When the write or the
    move fails (a full or read-only disk), the temporary file is deleted and the error
    raised: nothing is left under either name."""
    folder, base = posixpath.split(name)
    partial = posixpath.join(folder, f"{PARTIAL_PREFIX}{uuid.uuid4().hex}-{base}")
    try:
        partial = storage.save(partial, content)
        return _move_into_place(storage=storage, partial=partial, name=name)
    except BaseException:
        _delete_quietly(storage=storage, name=partial)
        raise


def leftovers_remove(*, storage: Storage, name: str) -> list[str]:
    """Delete what a write of `name` killed before it ended (SIGKILL runs no cleanup) left:
    its temporary files and a complete file never recorded. Only for a caller that alone
    may write `name` (a snapshot's build holds its row lock); the names deleted."""
    folder, base = posixpath.split(name)
    try:
        _, files = storage.listdir(folder)
    except FileNotFoundError:
        return []
    removed = [
        posixpath.join(folder, file)
        for file in files
        if file == base or (file.startswith(PARTIAL_PREFIX) and file.endswith(f"-{base}"))
    ]
    for leftover in removed:
        storage.delete(leftover)
    return removed


def _move_into_place(*, storage: Storage, partial: str, name: str) -> str:
    """A local disk renames (atomic within the folder) once the bytes are flushed; a
    storage without local paths (object storage, where an upload appears whole anyway)
    gets a copy under the final name and loses the temporary one."""
    if not isinstance(storage, FileSystemStorage):
        with storage.open(partial) as handle:
            final = storage.save(name, handle)
        storage.delete(partial)
        return final
    source = storage.path(partial)
    with open(source, "rb") as handle:
        os.fsync(handle.fileno())
    final = storage.get_available_name(name)
    os.replace(source, storage.path(final))
    return final


def _delete_quietly(*, storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:
        logger.exception("could not delete the partial file %s", name)
