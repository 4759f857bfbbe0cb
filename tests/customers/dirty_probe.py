"""A Celery app for worker subprocesses in tests: CX Hub's app plus a dirty-customer handler that
records, in the batch's own transaction, which worker process handled which customer in which
lane."""

import os

from celery.signals import worker_init

from cxhub.celery import app

__all__ = ["app"]

PROBE_TABLE = "test_dirty_probe"


def _recorder(lane: int):
    def record(customer_ids: list[int]) -> None:
        import time

        from django.db import connection

        from cxhub.db import array_literal

        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {PROBE_TABLE} (customer_id, lane, worker_pid) "
                "SELECT unnest(%s::bigint[]), %s, %s",
                [array_literal(customer_ids), lane, os.getpid()],
            )
        time.sleep(0.02)  # a batch takes a moment, so the workers' batches overlap

    return record


@worker_init.connect
def _register(**_kwargs) -> None:
    import django

    django.setup()
    from customers.models import DirtyLane
    from customers.pipeline import register_dirty_handler

    for lane in DirtyLane:
        register_dirty_handler(f"test_probe_{lane.name.lower()}", _recorder(lane), lane=lane)
