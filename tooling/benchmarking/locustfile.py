"""Locust users for ``make bench-load``: agents on the 360 page and search while ingest runs.

Run by ``cxhub.benchmarking.load_agents`` as ``locust --headless`` in a process of its own (locust
monkey-patches with gevent, so it never shares a process with Django). Everything it needs comes
from ``CXHUB_LOAD_PLAN`` (a JSON file the benchmark writes): agent logins, customer ids to open,
names to search, the ingest token, identities to ingest for, and where to log the marker items
whose customer must enter the real-time segment (freshness).
"""

import itertools
import json
import os
import random
import threading
import time
from datetime import UTC, datetime, timedelta

from locust import HttpUser, between, constant_throughput, events, task

PLAN = json.loads(open(os.environ["CXHUB_LOAD_PLAN"]).read())  # noqa: SIM115 - read once at start
_agents = itertools.count()
_batches = itertools.count()
_markers_lock = threading.Lock()
_markers = open(PLAN["markers_path"], "a")  # noqa: SIM115 - closed at test stop


@events.test_stop.add_listener
def _close_markers(**_kwargs):
    _markers.close()


class Agent(HttpUser):
    """An agent mid-conversation: opens a customer's 360 page, now and then searches."""

    fixed_count = PLAN["agents"]
    # Each user kind names its pool here: locust's --host would send every kind to one pool.
    host = PLAN["agents_host"]
    wait_time = between(PLAN["think_min"], PLAN["think_max"])

    def on_start(self):
        session = PLAN["agent_sessions"][next(_agents) % len(PLAN["agent_sessions"])]
        self.client.cookies.set(PLAN["session_cookie"], session)
        self.rng = random.Random(session)

    @task(3)
    def open_360(self):
        customer_id = self.rng.choice(PLAN["customer_ids"])
        with self.client.get(f"/customers/{customer_id}/", name="360 page", catch_response=True) as response:
            if response.status_code != 200 or b"Timeline" not in response.content:
                response.failure(f"360 page answered {response.status_code}")

    @task(1)
    def search(self):
        query = self.rng.choice(PLAN["search_terms"])
        self.client.get("/customers/", params={"q": query}, name="search")


class Ingest(HttpUser):
    """A REST client posting 1,000-item batches at a steady rate (together: PLAN["ingest_rows_per_s"])."""

    fixed_count = PLAN["ingest_clients"]
    host = PLAN["ingest_host"]  # its own gunicorn pool, as behind a load balancer in production
    wait_time = constant_throughput(PLAN["ingest_rows_per_s"] / PLAN["ingest_clients"] / PLAN["batch"])

    def on_start(self):
        self.client.headers["Authorization"] = f"Bearer {PLAN['token']}"
        self.rng = random.Random(f"ingest-{id(self)}")

    @task
    def post_batch(self):
        n = next(_batches)
        items, markers = self._batch(n)
        body = json.dumps({"items": items})
        sent = time.time()
        with self.client.post(
            "/api/v1/interactions/batch/",
            data=body,
            headers={"Content-Type": "application/json"},
            name="ingest batch (1,000)",
            catch_response=True,
        ) as response:
            if response.status_code != 200 or response.json().get("errors"):
                response.failure(f"batch answered {response.status_code}: {response.text[:200]}")
                return
        done = time.time()
        with _markers_lock:
            for email in markers:
                _markers.write(json.dumps({"email": email, "sent": sent, "answered": done}) + "\n")
            _markers.flush()

    def _batch(self, n: int) -> tuple[list[dict], list[str]]:
        now = datetime.now(UTC)
        items, markers = [], []
        for i in range(PLAN["batch"]):
            roll = self.rng.random()
            item = {
                "source": PLAN["source"],
                "external_id": f"load-{PLAN['run']}-{n}-{i}",
                "channel": "web",
                "direction": "inbound",
                "type": "page_view",
                "occurred_at": (now - timedelta(seconds=self.rng.randrange(0, 3600))).isoformat(),
                "subject": "Load test",
            }
            if roll < PLAN["marker_share"]:  # a new customer placing the segment's order
                email = f"load.{PLAN['run']}.{n}.{i}@example.net"
                item.update(
                    type=PLAN["marker_type"], customer={"email": email}, value="10.00", currency="EUR"
                )
                markers.append(email)
            elif roll < 0.2:
                item["customer"] = {"email": f"load.new.{PLAN['run']}.{n}.{i}@example.net"}
            else:
                item["customer"] = {"email": self.rng.choice(PLAN["emails"])}
            items.append(item)
        return items, markers
