"""Rule validation: the JSON Schema (with the fault's JSON path) and the segment graph (no cycles)."""

from __future__ import annotations

from collections.abc import Iterator

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from cxhub.jsonguard import JsonProblem, check_json

from .errors import InvalidRule, SegmentCycle
from .registry import condition_types, rule_schema

# all/any/not nest this deep at most (a rule is written by people; the compiler recurses).
MAX_RULE_DEPTH = 32
# Any number in a rule (counts, sums, attribute values): beyond this it is a mistake, and
# bigint/numeric columns or date arithmetic would overflow.
MAX_RULE_NUMBER = 1e15


def _validator() -> Draft202012Validator:
    # Rebuilt per call: conditions registered late (other apps' ready()) must be included.
    return Draft202012Validator(rule_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def json_path(prefix: str, parts) -> str:
    path = prefix
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _discriminators(schema: dict, validator: Draft202012Validator) -> set[str]:
    """Keys that identify a oneOf alternative: its required keys, through $ref and nested oneOf."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        schema = validator.schema["$defs"][ref.removeprefix("#/$defs/")]
    keys = set(schema.get("required", [])[:1])
    for alternative in schema.get("oneOf", []):
        keys |= _discriminators(alternative, validator)
    return keys


def _most_specific(error: ValidationError, validator: Draft202012Validator) -> ValidationError:
    """Descend into oneOf failures, following the alternative the instance's keys point at."""
    while error.validator == "oneOf" and error.context and isinstance(error.instance, dict):
        alternatives = error.schema["oneOf"]
        chosen = None
        for index, alternative in enumerate(alternatives):
            if _discriminators(alternative, validator) & set(error.instance):
                chosen = index
                break
        if chosen is None:
            break
        sub = [e for e in error.context if e.schema_path and e.schema_path[0] == chosen]
        if not sub:
            break
        error = max(sub, key=lambda e: (len(e.absolute_path), e.validator != "oneOf"))
    return error


def validate_rules(rules, *, prefix: str = "rules") -> None:
    """Raise InvalidRule naming the JSON path (``rules.all[0].op``) of the first fault."""
    try:
        # Conditions nest two containers deep per rule level ({"all": [...]}).
        check_json(rules, path=prefix, max_depth=2 * MAX_RULE_DEPTH + 4, max_number=MAX_RULE_NUMBER)
    except JsonProblem as problem:
        message = problem.message
        if message.startswith("nested"):
            message = f"rules nest more than {MAX_RULE_DEPTH} levels deep."
        raise InvalidRule(f"{problem.path}: {message}", field=problem.path) from None
    validator = _validator()
    errors = sorted(validator.iter_errors(rules), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    error = _most_specific(errors[0], validator)
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        known = ", ".join(["all", "any", "not", *condition_types()])
        message = f"not a rule: expected exactly one of {known}"
    else:
        message = error.message
    path = json_path(prefix, error.absolute_path)
    raise InvalidRule(f"{path}: {message}", field=path)


def referenced_segments(rules) -> Iterator[tuple[str, str]]:
    """(slug, json path) of every ``{"segment": ...}`` condition in a rule."""

    def walk(node, path):
        if not isinstance(node, dict):
            return
        for key in ("all", "any"):
            if isinstance(node.get(key), list):
                for index, child in enumerate(node[key]):
                    yield from walk(child, f"{path}.{key}[{index}]")
        if "not" in node:
            yield from walk(node["not"], f"{path}.not")
        if isinstance(node.get("segment"), str) and "is" in node:
            yield node["segment"], f"{path}.segment"

    yield from walk(rules, "rules")


def check_no_cycle(*, segment_id: int | None, slug: str, rules, parent_id: int | None) -> None:
    """Reject rules whose segment references (or parent chain) lead back to this segment."""
    from .models import Segment

    graph: dict[int, set[int]] = {}
    rows = list(Segment.objects.values_list("pk", "slug", "rules", "parent_id"))
    slugs = {other_slug: pk for pk, other_slug, _, _ in rows}
    for pk, _, other_rules, other_parent in rows:
        graph[pk] = {other_parent} if other_parent else set()
        graph[pk] |= {slugs[ref] for ref, _ in referenced_segments(other_rules) if ref in slugs}
    me = segment_id if segment_id is not None else -1
    edges = {parent_id} if parent_id else set()
    for ref, path in referenced_segments(rules):
        if ref == slug:
            raise SegmentCycle("A segment cannot refer to itself.", field=path)
        if ref not in slugs:
            raise InvalidRule(f"Unknown segment {ref!r}.", field=path)
        edges.add(slugs[ref])
    graph[me] = edges
    for start in edges:
        stack, seen = [start], set()
        while stack:
            node = stack.pop()
            if node == me:
                culprit = next((p for r, p in referenced_segments(rules) if slugs.get(r) == start), "parent")
                raise SegmentCycle("Segment references form a cycle.", field=culprit)
            if node in seen:
                continue
            seen.add(node)
            stack.extend(graph.get(node, ()))


def stored_cycle(segment_id: int) -> list[str] | None:
    """The slugs of a dependency cycle through ``segment_id`` among the saved segments, if any.

    Saving refuses cycles, but recompute must never follow one even if it was stored (edits
    that raced before the graph lock, or rows written by hand): it checks first.
    """
    from .models import Segment

    rows = list(Segment.objects.values_list("pk", "slug", "rules", "parent_id"))
    slugs = {slug: pk for pk, slug, _, _ in rows}
    names = {pk: slug for pk, slug, _, _ in rows}
    graph: dict[int, set[int]] = {}
    for pk, _, rules, parent in rows:
        graph[pk] = ({parent} if parent else set()) | {
            slugs[ref] for ref, _ in referenced_segments(rules or {}) if ref in slugs
        }
    stack = [(dep, [segment_id, dep]) for dep in graph.get(segment_id, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node == segment_id:
            return [names.get(pk, str(pk)) for pk in path]
        if node in seen:
            continue
        seen.add(node)
        stack.extend((dep, [*path, dep]) for dep in graph.get(node, ()))
    return None
