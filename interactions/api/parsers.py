"""A JSON parser for ingest bodies: size limits, gzip ``Content-Encoding``, strict JSON."""

import json
import re
import zlib

from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser

MAX_BODY_BYTES = 5 * 1024 * 1024
# A \uD800-\uDFFF escape: fine in pairs, but a lone surrogate cannot be stored as UTF-8.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "Request body too large."


class UnsupportedEncoding(exceptions.APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_code = "unsupported_media_type"
    default_detail = "Unsupported Content-Encoding: send identity or gzip."


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def gunzip(raw: bytes, limit: int, too_large: type[exceptions.APIException]) -> bytes:
    """Decompress a gzip body, refusing to inflate past ``limit`` bytes (no gzip bombs)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise exceptions.ParseError("Body is not valid gzip.") from exc
    if len(body) > limit or inflater.unconsumed_tail:
        raise too_large(f"Request body larger than {limit} bytes once decompressed.")
    if not inflater.eof:
        raise exceptions.ParseError("Body is truncated gzip.")
    return body


class IngestJSONParser(BaseParser):
    """``application/json``, optionally gzip-compressed; bodies past ``max_bytes`` are refused."""

    media_type = "application/json"
    max_bytes = MAX_BODY_BYTES
    too_large = PayloadTooLarge

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_bytes:
            raise self.too_large(f"Request body larger than {self.max_bytes} bytes.")
        raw = stream.read(self.max_bytes + 1) if stream is not None else b""
        if len(raw) > self.max_bytes:
            raise self.too_large(f"Request body larger than {self.max_bytes} bytes.")
        encoding = meta.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if encoding == "gzip":
            raw = gunzip(raw, self.max_bytes, self.too_large)
        elif encoding not in ("", "identity"):
            raise UnsupportedEncoding()
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from exc
        if SURROGATE_ESCAPE.search(raw):
            try:
                json.dumps(data, ensure_ascii=False).encode()
            except UnicodeEncodeError as exc:
                raise exceptions.ParseError(
                    "Malformed JSON: a string holds a lone UTF-16 surrogate."
                ) from exc
        return data
