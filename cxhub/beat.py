"""One beat at a time: django-celery-beat's database scheduler behind a PostgreSQL advisory lock.

Run as many ``celery -A cxhub beat --scheduler cxhub.beat:SingleBeatScheduler`` processes as you
like (one per machine for failover): the one holding the session-level advisory lock sends tasks,
the others wait on standby and try again every ``BEAT_LOCK_RETRY_SECONDS``. The lock lives on a
connection of its own, checked before every tick, so a leader that lost it (its connection died,
PostgreSQL released the lock) stops sending before another can start. With ``beat_sync_every = 1``
(settings) the leader writes each entry's ``last_run_at`` as it sends it, so a standby that takes
over re-reads the schedule from the database and does not send again what the old leader sent.
On SQLite (a laptop, one process) there is nothing to lock and beat runs as the plain scheduler.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger("cxhub.beat")

# pg_try_advisory_lock(namespace, key): "BEAT", 1.
LOCK_NAMESPACE = 0x42454154
LOCK_KEY = 1


class BeatLock:
    """A session-level advisory lock on a dedicated PostgreSQL connection."""

    def __init__(self) -> None:
        self.conn = None
        self.held = False

    def _connect(self):
        import psycopg

        params = connections["default"].settings_dict
        kwargs = {
            "dbname": params["NAME"],
            "host": params.get("HOST") or None,
            "port": params.get("PORT") or None,
            "user": params.get("USER") or None,
            "password": params.get("PASSWORD") or None,
            "autocommit": True,
            "connect_timeout": 5,
            "application_name": "cxhub-beat-lock",
            # Notice a dead peer within a minute, so a leader cut off from PostgreSQL stops.
            "keepalives": 1,
            "keepalives_idle": 20,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})

    def acquire(self) -> bool:
        """Take the lock if no other beat holds it; True when this process holds it now."""
        if self.still_held():
            return True
        try:
            if self.conn is None or self.conn.closed:
                self.conn = self._connect()
            self.held = bool(
                self.conn.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, LOCK_KEY]
                ).fetchone()[0]
            )
        except Exception:  # PostgreSQL unreachable: not the leader, try again later
            logger.warning("Beat lock: PostgreSQL unreachable", exc_info=True)
            self.release()
        return self.held

    def still_held(self) -> bool:
        """The lock is ours only while its connection is alive (one round trip)."""
        if not self.held or self.conn is None:
            return False
        try:
            self.conn.execute("SELECT 1")
        except Exception:
            logger.warning("Beat lock: lost its connection; standing by")
            self.release()
        return self.held

    def release(self) -> None:
        self.held = False
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # closing a broken connection may raise; it is gone either way
                logger.debug("Beat lock: close failed", exc_info=True)
            self.conn = None


class SingleBeatScheduler(DatabaseScheduler):
    """The database scheduler, sending tasks only while it holds the beat lock."""

    def __init__(self, *args, **kwargs):
        self.lock = BeatLock() if connections["default"].vendor == "postgresql" else None
        self.leading = self.lock is None
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        # Not in __init__: `celery beat` also builds a lazy scheduler for its banner, which must
        # not take (and keep) the lock.
        if not self.leading:
            self.leading = self.lock.acquire()
            logger.info("Beat %s", "leading" if self.leading else "standing by: another beat holds the lock")
        if self.leading:  # the standby leaves the stored schedule alone
            super().setup_schedule()

    def tick(self, *args, **kwargs):
        if self.lock is None:
            return super().tick(*args, **kwargs)
        if not self.lock.still_held():
            if self.leading:
                logger.warning("Beat lost the lock; standing by")
                self.leading = False
            if not self.lock.acquire():
                return settings.BEAT_LOCK_RETRY_SECONDS
            self._take_over()
        return super().tick(*args, **kwargs)

    def _take_over(self) -> None:
        """Just became the leader: read the schedule (and the last runs) afresh from the database."""
        logger.warning("Beat took the lock: now leading")
        self.leading = True
        self._initial_read = True
        self._heap = None
        super().setup_schedule()

    def close(self):
        super().close()
        if self.lock is not None:
            self.lock.release()
