"""(c) Customer 360 page: server time for a customer with 10,000 interactions vs its bare SQL.

The page is requested through Django's test client (URL routing, middleware, session,
role check, selectors, template rendering: everything but the network) logged in as an
agent. The baseline re-executes, on a plain psycopg connection, exactly the SQL the page
ran (captured with ``CaptureQueriesContext``), inside a transaction rolled back after
each repetition so writes (the audit row) do not pile up.
"""

import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from cxhub.roles import AGENT
from tooling.datagen.generator import Spec
from tooling.datagen.loader import load

from . import baseline
from .harness import Run, percentile, recall, remember

WARMUP = 3


def _page_url(customer_id: int) -> tuple[str | None, str]:
    try:
        return reverse("customers:detail", args=[customer_id]), ""
    except NoReverseMatch:
        return None, "the Customer 360 page (customers:detail) does not exist yet"


def big_customer(bench: Run) -> int:
    """A customer with exactly ``scale.page_interactions`` interactions (generated, COPYed)."""
    if "big_customer" not in bench.state:
        customer_id = recall("big_customer") if bench.reuse else None
        if customer_id is None:
            spec = Spec(customers=1, interactions=bench.scale.page_interactions, seed=bench.seed + 1)
            customer_id = load(spec, workers=1).plan.customer_id_base
            remember("big_customer", customer_id)
        bench.state["big_customer"] = customer_id
    return bench.state["big_customer"]


def _agent_client() -> Client:
    User = get_user_model()
    user, created = User.objects.get_or_create(username="bench-agent")
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=AGENT))
    client = Client()
    client.force_login(user)
    return client


def run(bench: Run) -> None:
    count = bench.scale.page_interactions
    names = (
        f"Customer 360 page p50 ({count:,} interactions)",
        f"Customer 360 page p95 ({count:,} interactions)",
    )
    url, reason = _page_url(1)
    if url is None:
        for name in names:
            bench.skip(name, reason, "ms")
        return
    customer_id = big_customer(bench)
    url, _ = _page_url(customer_id)
    client = _agent_client()
    for _ in range(WARMUP):
        response = client.get(url)
    if response.status_code != 200:
        for name in names:
            bench.skip(name, f"GET {url} answered {response.status_code}", "ms")
        return
    page_ms = []
    for _ in range(bench.scale.page_requests):
        started = time.perf_counter()
        response = client.get(url)
        page_ms.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    statements = [q["sql"] for q in captured.captured_queries]
    sql_ms = []
    with baseline.raw_connection() as raw:
        raw.autocommit = False
        with raw.cursor() as cursor:
            for _ in range(WARMUP):
                baseline.run_queries(cursor, statements)
                raw.rollback()
            for _ in range(bench.scale.page_requests):
                sql_ms.append(baseline.run_queries(cursor, statements) * 1000)
                raw.rollback()
    note = f"{len(statements)} queries; test client, agent role; {bench.scale.page_requests} requests"
    bench.add(names[0], percentile(page_ms, 50), percentile(sql_ms, 50), "ms", note=note)
    bench.add(names[1], percentile(page_ms, 95), percentile(sql_ms, 95), "ms", note="target p95 < 150 ms")
