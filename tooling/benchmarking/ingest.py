"""(b) Ingest: ``interactions.services.ingest_interactions`` in 1,000-item batches vs raw COPY.

Items follow API.md: most name their customer by an existing email, phone or external
id, some by ``customer_id``, and about 20% bring a new email (a new customer). The
baseline COPYs the very rows the service inserted into a scratch table of the same
shape and indexes, one COPY per 1,000 rows (one transaction each, like a batch).
Dirty-customer processing is queued, not run: in production a worker does it.
"""

import random
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

from django.urls import NoReverseMatch, reverse

from customers.models import Identity
from interactions.services import ingest_interactions

from . import baseline
from .harness import Run

NAME = "ingest_interactions (1,000-item batches)"
BATCH = 1000
SOURCE = "bench_ingest"
HTTP_SOURCE = "bench_http"
WARMUP_ITEMS = 50


def make_items(count: int, *, seed: int, source: str = SOURCE) -> list[dict]:
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
            "source": source,
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
    items = make_items(bench.scale.ingest_items, seed=bench.seed)
    warmup = make_items(WARMUP_ITEMS, seed=bench.seed + 1000, source=f"{SOURCE}_warmup")
    with mock.patch("customers.pipeline.schedule_processing"):
        ingest_interactions(items=warmup, client=None)  # first-use costs (imports, caches) are not ingest
        seconds, created, errors = _ingest_batches(
            items, lambda batch: ingest_interactions(items=batch, client=None)
        )
    _compare_with_copy(bench, NAME, SOURCE, seconds, created, errors, "in-process service call")
    _http(bench)


def _ingest_batches(items: list[dict], send) -> tuple[float, int, int]:
    """(seconds, created, errors) for ``items`` sent in 1,000-item batches through ``send``."""
    seconds, created, errors = 0.0, 0, 0
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        started = time.perf_counter()
        result = send(batch)
        seconds += time.perf_counter() - started
        created += result["created"] if isinstance(result, dict) else result.created
        errors += result["errors"] if isinstance(result, dict) else result.errors
    return seconds, created, errors


def _compare_with_copy(bench: Run, name: str, source: str, seconds, created, errors, how: str) -> None:
    """The same rows COPYed into a scratch table of the same shape and indexes, 1,000 per COPY."""
    if not created:
        bench.skip(name, f"nothing was created ({errors} errors)", "rows/s")
        return
    with baseline.raw_cursor() as cursor:
        data = baseline.export_copy(
            cursor, f"SELECT * FROM interactions_interaction WHERE source = '{source}' ORDER BY id"
        )
        scratch = baseline.scratch_table_like(cursor, "interactions_interaction", f"{source}_copy")
        copy_seconds = 0.0
        for block in baseline.split_lines(data, BATCH):
            copy_seconds += baseline.copy_in(cursor, scratch, block)
        cursor.execute(f"DROP TABLE {scratch}")
    bench.add(
        name,
        created / seconds,
        created / copy_seconds,
        "rows/s",
        better="higher",
        note=f"{created:,} created, {errors} errors; ~20% new identities; {how}",
    )


def _http(bench: Run) -> None:
    """The same shape of items through POST /api/v1/interactions/batch/ (Django test client, Bearer token)."""
    name = "POST /api/v1/interactions/batch/ (1,000 items)"
    try:
        url = reverse("interaction-batch")
    except NoReverseMatch:
        try:
            url = reverse("interactions:interaction-batch")
        except NoReverseMatch:
            bench.skip(name, "the batch endpoint does not exist yet", "rows/s")
            return
    from rest_framework.test import APIClient

    from cxhub.services import create_api_client

    issued = create_api_client(name="bench-ingest-http", scopes=["ingest:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    items = make_items(bench.scale.ingest_items, seed=bench.seed + 1, source=HTTP_SOURCE)

    def send(batch):
        response = client.post(url, {"items": batch}, format="json")
        if response.status_code != 200:
            raise RuntimeError(f"batch answered {response.status_code}: {response.content[:200]!r}")
        return response.json()

    try:
        send(make_items(WARMUP_ITEMS, seed=bench.seed + 1001, source=f"{HTTP_SOURCE}_warmup"))
        seconds, created, errors = _ingest_batches(items, send)
    except RuntimeError as exc:
        bench.skip(name, f"error: {exc}", "rows/s")
        return
    _compare_with_copy(bench, name, HTTP_SOURCE, seconds, created, errors, "JSON over the test client")
