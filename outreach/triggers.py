"""Segment-entry triggers: what happens when customers enter a segment, driven by its movements.

Outreach treats on-entry campaigns itself; higher apps (journeys) register a handler here from
their wiring, and outreach calls every handler right after the segments refresh of a dirty batch
(its dirty handler runs after segments') and from the beat task that catches full recomputes::

    from outreach.triggers import register_entry_handler
    register_entry_handler("journeys", start_journeys_on_entry)  # handler(*, customer_ids, since)

``customer_ids`` is the dirty batch (None from the sweep); ``since`` bounds the movements to
look at. Handlers must be idempotent per movement: the sweep looks at recent movements again.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

logger = logging.getLogger("cxhub.outreach")

# How far back the sweep looks for entries (it runs every 30 s; handlers are idempotent).
SWEEP_WINDOW = timedelta(minutes=10)

EntryHandler = Callable[..., int]
_handlers: dict[str, EntryHandler] = {}


def register_entry_handler(name: str, handler: EntryHandler) -> None:
    _handlers[name] = handler


def run_entry_handlers(*, customer_ids: list[int] | None, since: datetime | None = None) -> int:
    since = since or timezone.now() - SWEEP_WINDOW
    handled = 0
    for name, handler in _handlers.items():
        try:
            handled += handler(customer_ids=customer_ids, since=since) or 0
        except Exception:
            logger.exception("Segment-entry handler %s failed", name)
            raise
    return handled
