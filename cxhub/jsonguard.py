"""Checks every JSON value from outside goes through before it reaches the database.

PostgreSQL refuses NUL characters in text and jsonb, and deeply nested values make
recursive code (validation, rendering, JSON encoding) fail. One walk, without recursion,
finds the first problem and names its path (``traits.address.city``, ``rules.all[0].value``).
"""

import math

# Traits, attributes, interaction properties and context: deep enough for any real record.
MAX_DATA_DEPTH = 10
# Any JSON request body (rules nest all/any/not; data is capped lower where it is stored).
MAX_REQUEST_DEPTH = 64


class JsonProblem(Exception):
    def __init__(self, message: str, *, path: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.message, self.path = message, path


def _child(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_json(
    value,
    *,
    path: str = "",
    max_depth: int = MAX_DATA_DEPTH,
    max_number: float | None = None,
    allow_nul: bool = False,
):
    """Raise JsonProblem for the first NUL character (in a key or a string), container nested more
    than ``max_depth`` levels below the top, non-finite number or, when given, number beyond
    ±``max_number``."""
    stack = [(value, path, 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise JsonProblem(f"nested more than {max_depth} levels deep.", path=where)
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if not allow_nul and isinstance(key, str) and "\x00" in key:
                    raise JsonProblem("keys must not contain NUL characters.", path=where)
                stack.append((child, _child(where, key), depth + 1))
        elif isinstance(node, str):
            if not allow_nul and "\x00" in node:
                raise JsonProblem("must not contain NUL characters.", path=where)
        elif isinstance(node, float | int) and not isinstance(node, bool):
            if isinstance(node, float) and not math.isfinite(node):
                raise JsonProblem("must be a finite number.", path=where)
            if max_number is not None and abs(node) > max_number:
                raise JsonProblem(f"must be between -{max_number:g} and {max_number:g}.", path=where)


def check_data_json(value, *, path: str) -> None:
    """Traits, attributes, properties: a DomainError naming the path unless ``value`` holds no NUL
    and nests at most ``MAX_DATA_DEPTH`` levels below the object itself."""
    from .errors import DomainError

    try:
        check_json(value, path=path, max_depth=MAX_DATA_DEPTH)
    except JsonProblem as problem:
        raise DomainError(f"{problem.path}: {problem.message}", field=problem.path) from None
