"""JSON Lines bodies arrive as text and are split by the import service, which names lines."""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import BaseParser


class NDJSONParser(BaseParser):
    media_type = "application/x-ndjson"

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
        return stream.read()


class JSONLinesParser(NDJSONParser):
    media_type = "application/jsonl"
