"""(b) Ingest: ``interactions.services.ingest_interactions`` in 1,000-item batches vs raw COPY.

Items follow API.md: most name their customer by an existing email, phone or external
id, some by ``customer_id``, and about 20% bring a new email (a new customer). The
baseline COPYs the very rows the service inserted into a scratch table of the same
shape and indexes, one COPY per 1,000 rows (one transaction each, like a batch).
Dirty-customer processing is queued, not run: in production a worker does it.
"""

import importlib
import random
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

from customers.models import Identity

from . import baseline
from .harness import Run

NAME = "ingest_interactions (1,000-item batches)"
BATCH = 1000
SOURCE = "bench_ingest"


def _service():
    try:
        module = importlib.import_module("interactions.services")
    except ImportError as exc:
        return None, f"interactions.services does not import ({exc})"
    func = getattr(module, "ingest_interactions", None)
    if func is None:
        return None, "interactions.services.ingest_interactions does not exist yet"
    return func, ""


def make_items(count: int, *, seed: int) -> list[dict]:
    rng = random.Random(f"{seed}:ingest")
    identities = list(
        Identity.objects.filter(kind__in=("email", "phone", "external_id")).values_list(
            "customer_id", "kind", "namespace", "value"
        )[:50_000]
    )
    if not identities:
        raise RuntimeError("no customers to ingest for: load data first")
    now = datetime.now(UTC)
    kinds = (
        ("order_placed", "web", "inbound"),
        ("page_view", "web", "inbound"),
        ("email_sent", "email", "outbound"),
        ("query", "chat", "inbound"),
        ("call", "phone", "inbound"),
        ("complaint", "email", "inbound"),
    )
    items = []
    for n in range(count):
        type_, channel, direction = rng.choices(kinds, (25, 35, 20, 10, 6, 4))[0]
        item = {
            "source": SOURCE,
            "external_id": f"ingest-{seed}-{n}",
            "channel": channel,
            "direction": direction,
            "type": type_,
            "occurred_at": (now - timedelta(seconds=rng.randrange(1, 30 * 86400))).isoformat(),
            "subject": type_.replace("_", " ").capitalize(),
            "summary": f"Benchmark {type_.replace('_', ' ')}",
            "touchpoint": "benchmark",
        }
        if type_ == "order_placed":
            item.update(
                value=f"{rng.randrange(500, 30000) / 100:.2f}", currency="EUR", properties={"order_id": n}
            )
        roll = rng.random()
        customer_id, kind, namespace, value = rng.choice(identities)
        if roll < 0.2:
            item["customer"] = {"email": f"new.person.{seed}.{n}@example.net"}
        elif roll < 0.3:
            item["customer_id"] = customer_id
        elif kind == "external_id":
            item["customer"] = {"external_id": value, "namespace": namespace}
        else:
            item["customer"] = {kind: value}
        items.append(item)
    return items


def run(bench: Run) -> None:
    ingest, reason = _service()
    if ingest is None:
        bench.skip(NAME, reason, "items/s")
        return
    items = make_items(bench.scale.ingest_items, seed=bench.seed)
    seconds, created, errors = 0.0, 0, 0
    with mock.patch("customers.pipeline._schedule_processing"):
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            started = time.perf_counter()
            result = ingest(items=batch, client=None)
            seconds += time.perf_counter() - started
            created += result.created
            errors += result.errors
    if errors:
        bench.log(f"  {errors} items were rejected by ingest")
    with baseline.raw_cursor() as cursor:
        data = baseline.export_copy(
            cursor, f"SELECT * FROM interactions_interaction WHERE source = '{SOURCE}' ORDER BY id"
        )
        scratch = baseline.scratch_table_like(cursor, "interactions_interaction", "ingest_copy")
        copy_seconds = 0.0
        for block in baseline.split_lines(data, BATCH):
            copy_seconds += baseline.copy_in(cursor, scratch, block)
        cursor.execute(f"DROP TABLE {scratch}")
    bench.add(
        NAME,
        created / seconds,
        created / copy_seconds,
        "rows/s",
        better="higher",
        note=f"{created:,} created, {errors} errors; ~20% new identities; in-process service call",
    )
