"""Retention: each kind of data is kept for its period (``settings.RETENTION_DAYS``), then purged.

Apps register how to purge what they own, in their wiring::

    from customers.retention import register_retention
    register_retention("interactions", purge=purge_interactions_before)

``purge(cutoff) -> int`` removes (or blanks) that kind's data older than ``cutoff`` in chunks and
returns how many rows it touched. ``enforce_retention`` (the daily beat task
``customers.enforce_retention``) runs every registered kind whose period is above 0 and records
the counts in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from audit.services import purge_before as purge_audit_before
from audit.services import record_audit

Purge = Callable[[datetime], int]
_purges: dict[str, Purge] = {}


def register_retention(kind: str, *, purge: Purge) -> None:
    _purges[kind] = purge


def retention_kinds() -> dict[str, Purge]:
    return dict(_purges)


def retention_days() -> dict[str, int]:
    return dict(getattr(settings, "RETENTION_DAYS", {}))


def enforce_retention(*, now: datetime | None = None) -> dict[str, int]:
    """Purge every kind past its retention period; returns {kind: rows purged}."""
    now = now or timezone.now()
    done: dict[str, int] = {}
    for kind, days in sorted(retention_days().items()):
        purge = _purges.get(kind)
        if purge is None or not days or days <= 0:
            continue
        done[kind] = purge(now - timedelta(days=days))
    record_audit(action="retention.enforce", detail=dict(done))
    return done


# The audit log lives below customers; customers wires its retention.
register_retention("audit", purge=purge_audit_before)
