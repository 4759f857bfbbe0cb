"""Ingest over real HTTP: the app under gunicorn, 3 concurrent clients posting 1,000-item batches.

Run it with ``make bench-ingest`` (not part of the default ``make bench``: it starts a
server). The items have the same shape as the in-process ingest benchmark (~20% bring a
new identity); the baseline COPYs the very rows the server inserted into a scratch table
of the same shape and indexes, in the same run.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from django.conf import settings

from cxhub.services import create_api_client

from .harness import Run
from .ingest import BATCH, WARMUP_ITEMS, _compare_with_copy, make_items

NAME = "POST /api/v1/interactions/batch/ under gunicorn (3 clients)"
SOURCE = "bench_gunicorn"
CLIENTS = 3
WORKERS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(port: int) -> subprocess.Popen:
    env = dict(os.environ, ALLOWED_HOSTS="127.0.0.1,localhost", DJANGO_SETTINGS_MODULE="cxhub.settings")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "cxhub.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=settings.BASE_DIR,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {server.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                return server
        except requests.RequestException:  # not listening yet, or busy starting its workers
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def _body(batch: list[dict]) -> bytes:
    return json.dumps({"items": batch}).encode()


def run(bench: Run) -> None:
    token = create_api_client(name="bench-ingest-gunicorn", scopes=["ingest:write"]).token
    items = make_items(bench.scale.http_items, seed=bench.seed + 2, source=SOURCE)
    # Request bodies are encoded before the clock starts, as the baseline's COPY data is: the
    # clients share the machine's CPUs with the server, and JSON encoding is the client's work.
    batches = [_body(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
    port = _free_port()
    server = _start_gunicorn(port)
    url = f"http://127.0.0.1:{port}/api/v1/interactions/batch/"
    sessions = threading.local()
    totals = {"created": 0, "errors": 0}
    lock = threading.Lock()

    def send(body: bytes) -> None:
        session = getattr(sessions, "session", None)
        if session is None:
            session = sessions.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            session.headers["Content-Type"] = "application/json"
        response = session.post(url, data=body, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"batch answered {response.status_code}: {response.text[:200]}")
        body = response.json()
        with lock:
            totals["created"] += body["created"]
            totals["errors"] += body["errors"]

    try:
        warmup = make_items(WARMUP_ITEMS, seed=bench.seed + 1002, source=f"{SOURCE}_warmup")
        for _ in range(WORKERS):  # every worker process pays its first-request costs here
            send(_body(warmup))
        totals.update(created=0, errors=0)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(send, batches))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    _compare_with_copy(
        bench,
        NAME,
        SOURCE,
        seconds,
        totals["created"],
        totals["errors"],
        f"HTTP to gunicorn ({WORKERS} workers), {CLIENTS} concurrent clients, wall time",
    )
