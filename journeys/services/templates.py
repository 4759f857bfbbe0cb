"""The shipped journey templates (JSON in ``journeys/templates_data/``) and their loader."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import transaction

from cxhub.errors import DomainError

from ..models import ActionKind, ActionTrigger, ExceptionKind, Journey, Stage, StageAction

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates_data"
STAGE_FIELDS = ("name", "interaction_type", "channels", "direction", "property_matches", "sla", "terminal")


@dataclass(frozen=True)
class LoadOutcome:
    slug: str
    status: str  # created | updated | unchanged


def shipped_templates() -> list[dict]:
    """Every template file, validated, in name order."""
    return [
        _validated(json.loads(path.read_text()), path.name) for path in sorted(TEMPLATES_DIR.glob("*.json"))
    ]


def _validated(data: dict, source: str) -> dict:
    for key in ("slug", "name", "stages"):
        if not data.get(key):
            raise DomainError(f"{source}: missing {key}", field=key)
    slugs = [s.get("slug") for s in data["stages"]]
    if len(set(slugs)) != len(slugs) or not all(slugs):
        raise DomainError(f"{source}: stage slugs must be present and unique", field="stages")
    for action in data.get("actions", ()):
        if action.get("trigger") not in ActionTrigger.values or action.get("kind") not in ActionKind.values:
            raise DomainError(f"{source}: bad action {action}", field="actions")
        if action.get("stage") and action["stage"] not in slugs:
            raise DomainError(f"{source}: action names unknown stage {action['stage']}", field="actions")
        if action.get("exception_kind", "") not in ("", *ExceptionKind.values):
            raise DomainError(f"{source}: unknown exception kind {action['exception_kind']}", field="actions")
    return data


def _stage_values(raw: dict) -> dict:
    hours = raw.get("sla_hours")
    return {
        "name": raw["name"],
        "interaction_type": raw["interaction_type"],
        "channels": list(raw.get("channels", [])),
        "direction": raw.get("direction", ""),
        "property_matches": dict(raw.get("property_matches", {})),
        "sla": timedelta(hours=hours) if hours else None,
        "terminal": bool(raw.get("terminal", False)),
    }


def _journey_values(data: dict) -> dict:
    return {
        "name": data["name"],
        "description": data.get("description", ""),
        "correlation_key": data.get("correlation_key", ""),
        "stall_factor": data.get("stall_factor", 3),
        "abandon_after": timedelta(days=data.get("abandon_after_days", 30)),
        "template": data["slug"],
    }


@transaction.atomic
def load_journey_templates(*, update: bool = False, slugs: list[str] | None = None) -> list[LoadOutcome]:
    """Create the shipped journeys that are missing (idempotent).

    ``update=True`` also rewrites existing template journeys and their stages from the files
    (stages matched by slug; stages added in the admin are kept; rules are never duplicated).
    """
    outcomes = []
    for data in shipped_templates():
        if slugs and data["slug"] not in slugs:
            continue
        journey = Journey.objects.filter(slug=data["slug"]).first()
        if journey is None:
            journey = Journey.objects.create(slug=data["slug"], **_journey_values(data))
            _write_stages(journey, data["stages"])
            _create_actions(journey, data.get("actions", ()))
            outcomes.append(LoadOutcome(data["slug"], "created"))
        elif update and _update(journey, data):
            outcomes.append(LoadOutcome(data["slug"], "updated"))
        else:
            outcomes.append(LoadOutcome(data["slug"], "unchanged"))
    return outcomes


def _write_stages(journey: Journey, stages: list[dict]) -> bool:
    existing = {s.slug: s for s in journey.stages.all()}
    wanted = {raw["slug"]: (position, _stage_values(raw)) for position, raw in enumerate(stages)}
    changed = any(
        slug not in existing
        or existing[slug].position != position
        or any(getattr(existing[slug], f) != values[f] for f in STAGE_FIELDS)
        for slug, (position, values) in wanted.items()
    )
    if not changed:
        return False
    # Move every stage out of the way first so new positions never collide mid-update.
    offset = 1000 + max((s.position for s in existing.values()), default=0)
    for stage in existing.values():
        stage.position += offset
        stage.save(update_fields=["position"])
    for slug, (position, values) in wanted.items():
        stage = existing.get(slug) or Stage(journey=journey, slug=slug)
        stage.position = position
        for name, value in values.items():
            setattr(stage, name, value)
        stage.save()
    extras = sorted((s for s in existing.values() if s.slug not in wanted), key=lambda s: s.position)
    for n, stage in enumerate(extras, start=len(wanted)):
        stage.position = n
        stage.save(update_fields=["position"])
    return True


def _create_actions(journey: Journey, actions) -> None:
    stages = {s.slug: s for s in journey.stages.all()}
    for raw in actions:
        StageAction.objects.create(
            journey=journey,
            stage=stages.get(raw.get("stage", "")),
            trigger=raw["trigger"],
            exception_kind=raw.get("exception_kind", ""),
            kind=raw["kind"],
            channel=raw.get("channel", ""),
            purpose=raw.get("purpose", "service"),
            subject=raw.get("subject", ""),
            body=raw.get("body", ""),
        )


def _update(journey: Journey, data: dict) -> bool:
    values = _journey_values(data)
    changed = any(getattr(journey, k) != v for k, v in values.items())
    if changed:
        for k, v in values.items():
            setattr(journey, k, v)
        journey.save()
    changed = _write_stages(journey, data["stages"]) or changed
    if not journey.actions.exists():
        _create_actions(journey, data.get("actions", ()))
        changed = changed or bool(data.get("actions"))
    return changed
