"""Streaming bodies for exports: rows are encoded as they are read, never held in memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any


def jsonl_stream(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    buffer: list[str] = []
    for row in rows:
        buffer.append(json.dumps(row, ensure_ascii=False, default=str))
        if len(buffer) >= 500:
            yield ("\n".join(buffer) + "\n").encode()
            buffer.clear()
    if buffer:
        yield ("\n".join(buffer) + "\n").encode()


def csv_stream(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """CSV with one header from the first row; nested values are written as JSON text."""
    out = io.StringIO()
    writer: csv.DictWriter | None = None
    for count, row in enumerate(rows, start=1):
        flat = {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
            for k, v in row.items()
        }
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(flat))
            writer.writeheader()
        writer.writerow(flat)
        if count % 500 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue().encode()
