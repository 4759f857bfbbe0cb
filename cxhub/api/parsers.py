"""The default JSON parser: strict JSON, bounded nesting, no NUL characters (PostgreSQL refuses them)."""

import json

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from cxhub.jsonguard import MAX_REQUEST_DEPTH, JsonProblem, check_json


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(JSONParser):
    """``application/json``: a malformed, too deeply nested or NUL-holding body is a 400 naming the path."""

    check_nul = True

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from exc
        try:
            check_json(data, max_depth=MAX_REQUEST_DEPTH, allow_nul=not self.check_nul)
        except JsonProblem as problem:
            raise exceptions.ValidationError({problem.path: [problem.message]}) from problem
        return data


class BatchJSONParser(StrictJSONParser):
    """For batches whose items are validated one by one: a NUL in one item is that item's error."""

    check_nul = False
