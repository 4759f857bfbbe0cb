"""Load: 50 agents on the 360 page and search while ingest runs at 5,000 rows/s over HTTP.

Run with ``make bench-load`` (it starts servers, so it is not part of the default ``make bench``).
The app runs under gunicorn with real Celery workers on a Redis broker (``BENCH_BROKER_URL``,
else the broker the command was started with) and a real-time segment ("placed a load-test order
today"). Locust (headless, a process of its own) drives two user kinds at once:

- **agents** log in, then open a random customer's 360 page (3 of 4 actions) or search by a
  last name (1 of 4), at two paces, each a run of its own: *working* (10–30 s between actions:
  an agent reads the page while talking to the customer) and *stress* (1–3 s: every agent
  clicking without pause, about ten times a working floor's requests);
- **ingest clients** post 1,000-item batches at a steady total of 5,000 rows/s; ~1% of the items
  are a new customer's segment-qualifying order (the freshness markers), ~19% other new customers.

Reported: p50/p95 of the 360 page and of search under that load, each beside the same page
unloaded (measured just before, same server: the ratio is the slowdown), ingest rows/s held
against the 5,000 asked for, and real-time segment freshness — from the moment a marker's batch
was sent to the moment its customer is seen in the segment's membership (polled every 0.2 s, so
a figure is at most 0.2 s late), p50/p95 over every marker.
"""

import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import psycopg
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from customers.models import Customer, Identity
from cxhub.roles import AGENT
from cxhub.services import create_api_client
from segments.models import MovementKind, Refresh, Segment
from segments.services import recompute_segment

from .harness import Run, median, percentile
from .ingest_http import _free_port

AGENTS = 50
INGEST_ROWS_PER_S = 5000
INGEST_CLIENTS = 5
BATCH = 1000
GUNICORN_WORKERS = 4
INGEST_GUNICORN_WORKERS = 3
MARKER_TYPE = "load_test_order"
SOURCE = "bench_load"
DURATION = {"tiny": 20, "small": 60, "large": 120}
POLL_SECONDS = 0.2
BACKGROUND_NICE = 10
# (pace, seconds between an agent's actions): one run each; BENCH_LOAD_PACES=working picks some
PACES = (("working", 10.0, 30.0), ("stress", 1.0, 3.0))


def _label(pace: str, think_min: float, think_max: float) -> str:
    return (
        f"under load ({AGENTS} agents, {pace} pace {think_min:g}–{think_max:g} s, "
        f"+ {INGEST_ROWS_PER_S:,} rows/s ingest)"
    )


def _broker_url() -> str:
    return os.environ.get("BENCH_BROKER_URL", "")


def _app_env(broker: str) -> dict:
    return dict(
        os.environ,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SETTINGS_MODULE="cxhub.settings",
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND="",
        DEBUG="false",
    )


def _background_nice() -> int:
    """How much lower the ingest pool and the background workers run than the agents' pool (README
    "Workers at scale": on one machine, background work yields the CPU to agents' pages).
    ``BENCH_LOAD_NICE=0`` runs every process at the same priority, for comparison."""
    value = os.environ.get("BENCH_LOAD_NICE", str(BACKGROUND_NICE))
    if not (value.isascii() and value.isdigit() and int(value) <= 19):
        raise RuntimeError(f"BENCH_LOAD_NICE must be an integer from 0 to 19, not {value!r}")
    return int(value)


def _start(args: list[str], env: dict, log: Path, *, nice: int = 0) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        env=env,
        cwd=settings.BASE_DIR,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {server.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer /healthz within 90 s")


def _signed_in_session(user) -> str:
    """A session key for ``user``, as a login would create it: the load measures pages, not the
    password hasher (50 logins at once cost ~50 CPU-seconds of PBKDF2)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def _prepare(bench: Run, workdir: Path) -> tuple[dict, Segment]:
    group = Group.objects.get(name=AGENT)
    User = get_user_model()
    sessions = []
    for n in range(AGENTS):
        user, created = User.objects.get_or_create(username=f"load-agent-{n}")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            user.groups.add(group)
        sessions.append(_signed_in_session(user))
    segment, _ = Segment.objects.update_or_create(
        slug="load-test-orders",
        defaults={
            "name": "Placed a load-test order today",
            "refresh": Refresh.REALTIME,
            "rules": {"events": {"type": MARKER_TYPE, "within_days": 1}, "count": {"op": "gte", "value": 1}},
        },
    )
    recompute_segment(segment=segment, trigger="manual")
    _nightly_rollups_on_record(bench)
    customers = list(
        Customer.objects.filter(merged_into__isnull=True)
        .exclude(last_name="")
        .order_by("?")
        .values_list("id", "last_name")[:2000]
    )
    emails = list(Identity.objects.filter(kind="email").values_list("value", flat=True)[:20_000])
    plan = {
        "run": str(int(time.time())),
        "agents": AGENTS,
        "agent_sessions": sessions,
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "customer_ids": [c for c, _ in customers],
        "search_terms": sorted({name for _, name in customers if len(name) >= 3})[:500],
        "token": create_api_client(name=f"bench-load-{time.time_ns()}", scopes=["ingest:write"]).token,
        "ingest_clients": INGEST_CLIENTS,
        "ingest_rows_per_s": INGEST_ROWS_PER_S,
        "batch": BATCH,
        "source": SOURCE,
        "emails": emails,
        "marker_type": MARKER_TYPE,
        "marker_share": 0.01,
        "markers_path": str(workdir / "markers.jsonl"),
    }
    return plan, segment


def _nightly_rollups_on_record(bench: Run) -> None:
    """Rebuild the survey rollups once if the data set has no rebuild on record, as the nightly
    task would have: without one, every dirty customer's refresh recounts every cell of every
    answer they ever gave (production's state after its first night is the one to measure)."""
    from metrics.models import RollupRebuild
    from metrics.services.rollups import rebuild_all

    if RollupRebuild.objects.filter(segment_id__isnull=True).exists():
        return
    started = time.perf_counter()
    outcome = rebuild_all()
    seconds = time.perf_counter() - started
    bench.log(f"  survey rollups rebuilt (none on record): {outcome} in {seconds:.1f} s")


class MembershipPoller(threading.Thread):
    """Records when each customer is first seen entering the segment (its own connection).

    It reads the segment's entries of the last minute written since the test began (movements
    are written in the same statement as the membership they describe), not the whole
    membership: the poller runs on the machine under test, and re-reading tens of thousands of
    members five times a second took CPU from it.
    """

    def __init__(self, segment_id: int):
        super().__init__(daemon=True)
        self.segment_id = segment_id
        self.first_seen: dict[int, float] = {}
        self.stopping = threading.Event()
        params = connection.get_connection_params()
        self.conninfo = psycopg.conninfo.make_conninfo(
            **{k: v for k, v in params.items() if k in ("dbname", "host", "port", "user", "password") and v}
        )

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            last = conn.execute("SELECT coalesce(max(id), 0) FROM segments_segmentmovement").fetchone()[0]
            while not self.stopping.is_set():
                # Ids are drawn before commit, so one may become visible after a higher one: reread
                # the last minute's ids (a short range of the primary key) rather than only newer.
                rows = conn.execute(
                    "SELECT customer_id FROM segments_segmentmovement "
                    "WHERE id > %s AND segment_id = %s AND kind = %s AND at > now() - interval '1 minute'",
                    [last, self.segment_id, MovementKind.ENTERED],
                ).fetchall()
                now = time.time()
                for (customer_id,) in rows:
                    self.first_seen.setdefault(customer_id, now)
                self.stopping.wait(POLL_SECONDS)


def _unloaded(url: str, plan: dict, requests_count: int = 30) -> tuple[list[float], list[float]]:
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, plan["agent_sessions"][0])
    pages, searches = [], []
    for n in range(requests_count):
        started = time.perf_counter()
        assert session.get(f"{url}/customers/{plan['customer_ids'][n]}/").status_code == 200
        pages.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        session.get(f"{url}/customers/", params={"q": plan["search_terms"][n % len(plan["search_terms"])]})
        searches.append((time.perf_counter() - started) * 1000)
    return pages, searches


def _pause_benchmark_segments(bench: Run) -> list[int]:
    """Switch the segment benchmark's 50 real-time segments (``bench-…-rtN``, kept in the bench
    database for ``--reuse-db``) to manual refresh for the length of the load test, and return
    their ids to switch back. They are benchmark artefacts, not the installation under test:
    left on, they multiply the dirty pipeline's work per ingested row by ten."""
    from .segments import incremental_slugs

    benchmark = Segment.objects.filter(refresh=Refresh.REALTIME, slug__in=incremental_slugs())
    paused = list(benchmark.values_list("pk", flat=True))
    Segment.objects.filter(pk__in=paused).update(refresh=Refresh.MANUAL)
    realtime = Segment.objects.filter(refresh=Refresh.REALTIME).count()
    bench.log(f"  {len(paused)} benchmark segments paused; {realtime} real-time segments stay on")
    return paused


class CpuMeter:
    """CPU time each role's processes (a process and its children) and PostgreSQL's backends used
    between ``start()`` and ``stop()``, as cores: where the machine's two cores went."""

    def __init__(self, roles: dict[str, subprocess.Popen]):
        self.roles = roles

    def start(self) -> None:
        self.began, self.first = time.monotonic(), self._sample()

    def stop(self, reaped: dict[str, float]) -> dict[str, float]:
        """``reaped``: CPU seconds of processes that ran and exited meanwhile (locust), by role."""
        last, seconds = self._sample(), time.monotonic() - self.began
        cores = {role: (last[role] - self.first.get(role, 0.0)) / seconds for role in last}
        cores.update({role: used / seconds for role, used in reaped.items()})
        machine = cores.pop("machine")
        cores[
            "not attributed (kernel time, PostgreSQL backends that exited, the bench process, other jobs)"
        ] = machine - sum(cores.values())
        return cores

    def _sample(self) -> dict[str, float]:
        used = {role: _tree_cpu(process.pid) for role, process in self.roles.items()}
        used["PostgreSQL"] = sum(
            _cpu(p) for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"
        )
        machine = psutil.cpu_times()
        used["machine"] = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        return used


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:  # exited meanwhile
        return 0.0
    return times.user + times.system


def _tree_cpu(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        return sum(_cpu(p) for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0.0


def _paces() -> tuple:
    chosen = {name.strip() for name in os.environ.get("BENCH_LOAD_PACES", "").split(",") if name.strip()}
    return tuple(p for p in PACES if not chosen or p[0] in chosen)


def _locust_stats(prefix: Path) -> dict[str, dict]:
    with open(f"{prefix}_stats.csv") as stats:
        return {row["Name"]: row for row in csv.DictReader(stats)}


def run(bench: Run) -> None:
    broker = _broker_url()
    for pace, think_min, think_max in _paces():
        label = _label(pace, think_min, think_max)
        if not broker.startswith("redis://"):
            bench.skip(
                f"360 page p95 {label}", "needs a Redis broker for the workers (BENCH_BROKER_URL)", "ms"
            )
            continue
        bench.log(f"  {pace} pace: agents think {think_min:g}–{think_max:g} s between actions")
        _run_pace(bench, broker, label, think_min, think_max)


def _run_pace(bench: Run, broker: str, label: str, think_min: float, think_max: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cxhub-load-"))
    plan, segment = _prepare(bench, workdir)
    plan.update(think_min=think_min, think_max=think_max)
    plan_path = workdir / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env = _app_env(broker)
    port, ingest_port = _free_port(), _free_port()
    url, ingest_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ingest_port}"
    plan.update(agents_host=url, ingest_host=ingest_url)
    plan_path.write_text(json.dumps(plan))
    python = [sys.executable, "-m"]
    subprocess.run(
        [*python, "celery", "-A", "cxhub", "purge", "-f"], env=env, cwd=settings.BASE_DIR, check=False
    )

    def gunicorn(bind_port: int, workers: int) -> list[str]:
        command = [*python, "gunicorn", "cxhub.wsgi:application", "--bind", f"127.0.0.1:{bind_port}"]
        return command + ["--workers", str(workers), "--timeout", "120", "--log-level", "warning"]

    worker = [
        *python,
        "celery",
        "-A",
        "cxhub",
        "worker",
        "--pool=solo",
        "--loglevel=warning",
        "--without-gossip",
    ]
    nice = _background_nice()
    processes = [
        # Agents' pages and the ingest API on separate gunicorn pools (production puts them behind
        # one load balancer): long ingest batches must not hold every worker agents wait for.
        _start(gunicorn(port, GUNICORN_WORKERS), env, workdir / "gunicorn.log"),
        # Ingest and the background work run at a lower CPU priority, as the one-machine layout
        # advises: they take whatever CPU the agents' pages (and the real-time lane) leave.
        _start(
            gunicorn(ingest_port, INGEST_GUNICORN_WORKERS), env, workdir / "gunicorn-ingest.log", nice=nice
        ),
        # the dirty pipeline's two lanes on a worker each (real-time segments never wait behind the
        # standard lane's journeys, metrics and scores), everything else on another. The real-time
        # lane keeps the agents' priority: its seconds are a promise too, and its batches are small.
        _start([*worker, "-Q", "realtime", "-n", "realtime@%h"], env, workdir / "worker-realtime.log"),
        _start([*worker, "-Q", "dirty", "-n", "dirty@%h"], env, workdir / "worker-dirty.log", nice=nice),
        _start(
            [*worker, "-Q", "default,ingest,segments,journeys,outbound,models", "-n", "other@%h"],
            env,
            workdir / "worker-other.log",
            nice=nice,
        ),
    ]
    plan["background_nice"] = nice
    bench.log(f"  ingest pool, standard lane and other workers at nice {nice} (agents, real-time lane at 0)")
    poller = MembershipPoller(segment.pk)
    seconds = DURATION.get(bench.scale.name, 60)
    paused = _pause_benchmark_segments(bench)
    try:
        _wait_healthy(url, processes[0])
        _wait_healthy(ingest_url, processes[1])
        quiet_pages, quiet_searches = _unloaded(url, plan)
        poller.start()
        meter = CpuMeter(
            {
                "agents' gunicorn": processes[0],
                "ingest gunicorn": processes[1],
                "real-time lane worker": processes[2],
                "standard lane worker": processes[3],
                "other worker": processes[4],
            }
        )
        meter.start()
        prefix = workdir / "locust"
        bench.log(f"  locust: {AGENTS} agents + {INGEST_CLIENTS} ingest clients for {seconds} s …")
        started = time.time()
        command = [*python, "locust", "-f", str(Path(__file__).with_name("locustfile.py")), "--headless"]
        # No --host: it would override each user kind's own pool (agents' and ingest's gunicorn).
        command += ["-u", str(AGENTS + INGEST_CLIENTS), "-r", "25", "-t", f"{seconds}s"]
        command += ["--csv", str(prefix), "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        locust = subprocess.run(
            command,
            env=dict(os.environ, CXHUB_LOAD_PLAN=str(plan_path)),
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.time() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # locust is the one child reaped meanwhile
        locust_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        cores = meter.stop({"locust (the load generator)": locust_cpu})
        if not Path(f"{prefix}_stats.csv").exists():
            raise RuntimeError(f"locust wrote no stats: {locust.stderr[-1500:]}")
        markers = [json.loads(line) for line in Path(plan["markers_path"]).read_text().splitlines()]
        deadline = time.monotonic() + 30  # let the workers finish what the last batches marked
        while time.monotonic() < deadline and len(poller.first_seen) < len(markers):
            time.sleep(0.5)
    finally:
        poller.stopping.set()
        stopped = time.time()
        Segment.objects.filter(pk__in=paused).update(refresh=Refresh.REALTIME)
        for process in processes:
            _stop(process)
    _report(
        bench,
        label,
        plan,
        markers,
        poller.first_seen,
        stopped,
        _locust_stats(prefix),
        elapsed,
        quiet_pages,
        quiet_searches,
    )
    for role, used in cores.items():
        note = f"CPU time over the {elapsed:.0f} s of load ÷ elapsed; the machine has {os.cpu_count()} cores"
        bench.add(f"CPU cores used by {role} {label}", used, None, "cores", note=note)
    shutil.rmtree(workdir, ignore_errors=True)  # kept only when the run failed: its logs say why


def _report(
    bench, label, plan, markers, first_seen, stopped, stats, elapsed, quiet_pages, quiet_searches
) -> None:
    page, search, ingest = stats["360 page"], stats["search"], stats["ingest batch (1,000)"]
    for name, row, quiet in (("360 page", page, quiet_pages), ("search", search, quiet_searches)):
        note = (
            f"{row['Request Count']} requests, {row['Failure Count']} failed; unloaded baseline, "
            f"same server; ingest pool, standard lane and other workers at nice {plan['background_nice']}"
        )
        bench.add(f"{name} p50 {label}", float(row["50%"]), median(quiet), "ms", note=note)
        aim = "; aim p95 < 150 ms" if name == "360 page" else ""
        bench.add(f"{name} p95 {label}", float(row["95%"]), percentile(quiet, 95), "ms", note=note + aim)
    rows = int(ingest["Request Count"]) * BATCH
    bench.add(
        f"ingest rows/s held {label}",
        rows / elapsed,
        plan["ingest_rows_per_s"],
        "rows/s",
        better="higher",
        note=f"{rows:,} rows in {elapsed:.0f} s, {ingest['Failure Count']} failed batches; "
        f"baseline = the rate asked for; batch p50 {ingest['50%']} ms, p95 {ingest['95%']} ms",
    )
    emails = {m["email"]: m for m in markers}
    owners = dict(
        Identity.objects.filter(kind="email", value__in=list(emails)).values_list("value", "customer_id")
    )
    # A marker never seen counts with the time it had waited when polling stopped: a lower bound,
    # so the percentiles cover every marker sent, not only the fast ones.
    lags = [first_seen.get(owners.get(e), stopped) - m["sent"] for e, m in emails.items()]
    seen = sum(1 for e in emails if owners.get(e) in first_seen)
    if not seen:
        bench.skip(
            f"segment freshness p95 {label}", f"no marker reached the segment ({len(emails)} sent)", "s"
        )
        return
    note = f"{len(emails)} new customers, batch sent → seen in the real-time segment"
    note += f" (polled every {POLL_SECONDS} s)"
    if seen < len(emails):
        note += f"; {len(emails) - seen} not seen within 30 s of the end, counted as waiting until then"
    bench.add(f"segment freshness p50 {label}", median(lags), None, "s", note=note)
    bench.add(f"segment freshness p95 {label}", percentile(lags, 95), None, "s", note=note + "; aim < 2 s")
