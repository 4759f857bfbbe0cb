"""Loading generated data: reference rows, reserved id ranges, COPY on PostgreSQL, ORM on SQLite."""

import multiprocessing
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction

from cxhub.roles import AGENT

from . import vocab
from .generator import ChunkRows, Plan, Reference, Spec, generate_chunk, make_plan
from .rows import SURVEY_TABLES, TABLES, TABLES_BY_KEY, Table, copy_text, model_objects

# Surveys the generator answers: (name, kind, question, trigger interaction type, channel).
GENERATED_SURVEYS = (
    ("Delivery NPS", "nps", "How likely are you to recommend us to a friend?", "order_delivered", "email"),
    (
        "Query effort (CES)",
        "ces",
        "How easy was it to get your question answered?",
        "query_resolved",
        "email",
    ),
    (
        "Complaint satisfaction (CSAT)",
        "csat",
        "How satisfied are you with how we handled it?",
        "complaint_resolved",
        "email",
    ),
)


def active_tables(plan: Plan) -> tuple[Table, ...]:
    """The tables this plan writes: survey responses only when surveys were set up."""
    return tuple(
        t for t in TABLES if (t.key not in SURVEY_TABLES or plan.reference.surveys) and t.available()
    )


@dataclass
class LoadResult:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    responses_skipped: str = ""
    plan: Plan | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


Progress = Callable[[int, int, int, int], None]  # customers done, total, interactions done, total


def surveys_available() -> str:
    """Empty when survey responses can be generated, else the reason they cannot."""
    try:
        survey = apps.get_model("metrics", "Survey")
        response = apps.get_model("metrics", "SurveyResponse")
    except LookupError:
        return "metrics.Survey / metrics.SurveyResponse do not exist yet"
    tables = set(connection.introspection.table_names())
    missing = [m._meta.db_table for m in (survey, response) if m._meta.db_table not in tables]
    if missing:
        return f"survey tables are not migrated yet ({', '.join(missing)})"
    return ""


def prepare_reference(*, customers: int, with_surveys: bool) -> Reference:
    """Business units, channels, agent users and (optionally) surveys the data points at."""
    BusinessUnit = apps.get_model("customers", "BusinessUnit")
    Channel = apps.get_model("interactions", "Channel")
    unit_ids = {}
    for code, name, *_ in vocab.BUSINESS_UNITS:
        unit_ids[code] = BusinessUnit.objects.get_or_create(code=code, defaults={"name": name})[0].id
    channel_ids = dict(Channel.objects.values_list("code", "id"))
    needed = {"web", "mobile_app", "email", "sms", "phone", "chat", "whatsapp", "social", "store", "letter"}
    missing = needed - set(channel_ids)
    if missing:
        raise RuntimeError(f"channels missing (run migrate): {', '.join(sorted(missing))}")
    agent_ids = _agents(max(5, min(200, customers // 1000)))
    surveys = _surveys(channel_ids) if with_surveys else ()
    return Reference(
        unit_ids=unit_ids,
        channel_ids=channel_ids,
        agent_ids=agent_ids,
        surveys=surveys,
        verbatims=_analyse_verbatims() if surveys else {},
    )


def _analyse_verbatims() -> dict[str, tuple[float | None, str, tuple[int, ...]]]:
    """Sentiment and themes of the (few, fixed) verbatims, by the metrics app's own analysers."""
    try:
        from metrics.verbatims import current_taxonomy, sentiment_of, themes_in

        Theme = apps.get_model("metrics", "Theme")
    except (ImportError, LookupError):
        return {}
    taxonomy = current_taxonomy()
    theme_ids = dict(Theme.objects.values_list("code", "id"))
    out = {}
    try:
        for texts in vocab.VERBATIMS.values():
            for text in texts:
                sentiment = sentiment_of(text)
                themes = tuple(theme_ids[c] for c in themes_in(text, taxonomy) if c in theme_ids)
                out[text] = (sentiment.compound, sentiment.label, themes) if sentiment else (None, "", themes)
    except ImportError:  # the sentiment lexicon package is not installed
        return {}
    return out


def _agents(count: int) -> tuple[int, ...]:
    User = get_user_model()
    names = [f"gen-agent-{k:03d}" for k in range(1, count + 1)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    new = []
    for k, name in enumerate(names):
        if name in existing:
            continue
        user = User(username=name, first_name=f"Agent {k + 1:03d}", last_name="(generated)")
        user.set_unusable_password()
        new.append(user)
    User.objects.bulk_create(new)
    users = list(User.objects.filter(username__in=names).order_by("username"))
    group = Group.objects.get(name=AGENT)
    group.user_set.add(*users)
    return tuple(u.id for u in users)


def _surveys(channel_ids: dict[str, int]) -> tuple[tuple[int, str, str], ...]:
    Survey = apps.get_model("metrics", "Survey")
    out = []
    for name, kind, question, trigger, channel in GENERATED_SURVEYS:
        survey = Survey.objects.filter(name=name, kind=kind).first()
        if survey is None:
            survey = Survey(name=name, kind=kind, question=question, trigger_interaction_type=trigger)
            survey.channel_id = channel_ids[channel]
            survey.scale_min, survey.scale_max = (
                (0, 10) if kind == "nps" else (1, 7) if kind == "ces" else (1, 5)
            )
            survey.save()
        out.append((survey.id, kind, trigger))
    return tuple(out)


def reserve_ids(model, count: int) -> int:
    """First id of a block of ``count`` ids nobody else will be given (sequence moved on PostgreSQL)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        max_id = cursor.fetchone()[0]
        if connection.vendor != "postgresql":
            return max_id + 1
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s)", [sequence])
        base = max(cursor.fetchone()[0], max_id + 1)
        if count:
            cursor.execute("SELECT setval(%s, %s)", [sequence, base + count - 1])
        return base


def build_plan(spec: Spec, *, chunk_size: int = 5000) -> tuple[Plan, str]:
    """Reference rows, reserved ids and the plan; the second value says why responses are skipped."""
    skip = surveys_available() if spec.responses else ""
    reference = prepare_reference(customers=spec.customers, with_surveys=bool(spec.responses) and not skip)
    customer_base = reserve_ids(TABLES_BY_KEY["customers"].model, spec.customers)
    interaction_base = reserve_ids(TABLES_BY_KEY["interactions"].model, spec.interactions)
    response_base = reserve_ids(TABLES_BY_KEY["responses"].model, spec.responses) if reference.surveys else 1
    plan = make_plan(
        spec,
        reference,
        customer_id_base=customer_base,
        interaction_id_base=interaction_base,
        response_id_base=response_base,
        chunk_size=chunk_size,
    )
    return plan, skip


DEFER_THRESHOLD = 1_000_000  # interactions; from here rebuilding indexes beats maintaining them


def load(
    spec: Spec,
    *,
    workers: int = 1,
    chunk_size: int = 5000,
    progress: Progress | None = None,
    defer_indexes: bool | None = None,
) -> LoadResult:
    """Generate and load ``spec``; COPY on PostgreSQL, bulk ORM inserts elsewhere.

    ``workers`` generator processes feed the COPY (0: generate in this process).
    ``defer_indexes`` (PostgreSQL; default: from ``DEFER_THRESHOLD`` interactions on) drops the
    secondary indexes and foreign keys of the loaded tables and rebuilds them afterwards, which
    validates every row at once instead of row by row.
    """
    started = time.perf_counter()
    plan, skip = build_plan(spec, chunk_size=chunk_size)
    result = LoadResult(rows={t.key: 0 for t in active_tables(plan)}, responses_skipped=skip, plan=plan)
    if connection.vendor == "postgresql":
        if defer_indexes is None:
            defer_indexes = spec.interactions >= DEFER_THRESHOLD
        if defer_indexes:
            with deferred_indexes(active_tables(plan)):
                _load_copy(plan, result, workers=workers, progress=progress)
        else:
            _load_copy(plan, result, workers=workers, progress=progress)
        with connection.cursor() as cursor:
            for table in active_tables(plan):
                if result.rows[table.key]:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(table.model._meta.db_table)}")
    else:
        _load_orm(plan, result, progress=progress)
    result.seconds = time.perf_counter() - started
    return result


# --- PostgreSQL: COPY ----------------------------------------------------------------------


@contextmanager
def deferred_indexes(tables: tuple[Table, ...]):
    """Drop secondary indexes and foreign keys of ``tables``; re-create (and so validate) them after.

    Primary keys and constraint-backed unique indexes stay. Everything dropped is re-created in
    ``finally``, so a failed load never leaves the schema without its indexes.
    """
    dropped_indexes: list[str] = []
    dropped_keys: list[tuple[str, str, str]] = []
    with connection.cursor() as cursor:
        for table in tables:
            name = table.model._meta.db_table
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f'",
                [name],
            )
            for conname, definition in cursor.fetchall():
                dropped_keys.append((name, conname, definition))
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [name],
            )
            dropped_indexes.extend(definition for _, definition in cursor.fetchall())
            for conname, _definition in [(k[1], k[2]) for k in dropped_keys if k[0] == name]:
                cursor.execute(f'ALTER TABLE "{name}" DROP CONSTRAINT "{conname}"')
        for definition in dropped_indexes:
            index = definition.split(" ON ")[0].split()[-1]
            cursor.execute(f"DROP INDEX {index}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for definition in dropped_indexes:
                cursor.execute(definition)
            for name, conname, definition in dropped_keys:
                cursor.execute(f'ALTER TABLE "{name}" ADD CONSTRAINT "{conname}" {definition}')
            cursor.execute("RESET maintenance_work_mem")


_WORKER_PLAN: Plan | None = None


def _init_worker(plan: Plan) -> None:
    global _WORKER_PLAN
    _WORKER_PLAN = plan


def _chunk_as_copy(index: int) -> tuple[dict[str, bytes], dict[str, int]]:
    rows = generate_chunk(_WORKER_PLAN, index)
    return serialise(rows, active_tables(_WORKER_PLAN))


def serialise(rows: ChunkRows, tables: tuple[Table, ...]) -> tuple[dict[str, bytes], dict[str, int]]:
    """COPY text per table, and row counts, for one chunk."""
    data, counts = {}, {}
    for table in tables:
        chunk = getattr(rows, table.key)
        counts[table.key] = len(chunk)
        if chunk:
            data[table.key] = copy_text(table, chunk)
    return data, counts


def _copy_statement(table: Table) -> str:
    qn = connection.ops.quote_name
    columns = ", ".join(qn(c) for c in table.columns())
    return f"COPY {qn(table.model._meta.db_table)} ({columns}) FROM STDIN"


def _load_copy(plan: Plan, result: LoadResult, *, workers: int, progress: Progress | None) -> None:
    tables = active_tables(plan)
    statements = {t.key: _copy_statement(t) for t in tables}
    indexes = range(plan.chunk_count)
    # Forking needs the connection closed, which an enclosing transaction (a test) forbids.
    if workers >= 1 and plan.chunk_count > 1 and not connection.in_atomic_block:
        # Forked workers only generate text; the parent owns the one database connection.
        connection.close()
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker, initargs=(plan,))
        chunks = pool.imap(_chunk_as_copy, indexes)
    else:
        pool = None
        _init_worker(plan)
        chunks = (_chunk_as_copy(i) for i in indexes)
    done_customers = done_interactions = 0
    try:
        for data, counts in chunks:
            with transaction.atomic(), connection.cursor() as cursor:
                for table in tables:
                    payload = data.get(table.key)
                    if payload:
                        with cursor.cursor.copy(statements[table.key]) as copy:
                            copy.write(payload)
            for key, n in counts.items():
                result.rows[key] += n
            done_customers += counts["customers"]
            done_interactions += counts["interactions"]
            if progress:
                progress(done_customers, plan.spec.customers, done_interactions, plan.spec.interactions)
    finally:
        if pool is not None:
            pool.close()
            pool.join()


# --- SQLite and others: the ORM -----------------------------------------------------------


@contextmanager
def _explicit_timestamps(tables: tuple[Table, ...]):
    """Let bulk_create keep generated created_at/received_at values instead of 'now'."""
    saved = []
    for table in tables:
        for f in table.model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                saved.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _load_orm(plan: Plan, result: LoadResult, *, progress: Progress | None) -> None:
    done_customers = done_interactions = 0
    tables = active_tables(plan)
    with _explicit_timestamps(tables):
        for index in range(plan.chunk_count):
            rows = generate_chunk(plan, index)
            with transaction.atomic():
                for table in tables:
                    chunk = getattr(rows, table.key)
                    if chunk:
                        table.model.objects.bulk_create(model_objects(table, chunk), batch_size=500)
                    result.rows[table.key] += len(chunk)
            done_customers += len(rows.customers)
            done_interactions += len(rows.interactions)
            if progress:
                progress(done_customers, plan.spec.customers, done_interactions, plan.spec.interactions)
