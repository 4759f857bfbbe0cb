"""Month partitions of interactions on PostgreSQL: the conversion of a table with data, exact keys
across partitions, partitions ahead and detached, and windowed reads that prune partitions.

Each test converts the test database's table inside its own transaction (PostgreSQL DDL is
transactional), so the conversion runs on a copy with data and is rolled back afterwards.
"""

import re
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from interactions import partitioning
from interactions.models import Channel, Interaction
from interactions.selectors import interactions_query
from interactions.services import record_interactions
from segments.compiler import member_ids_sql
from tests.factories import CustomerFactory, InteractionFactory
from tests.interactions.conftest import transactional_marker

pytestmark = [pytest.mark.postgres]

NOW = datetime.now(UTC)
THIS_MONTH = partitioning.month_start(NOW)


def _months_ago(n: int) -> datetime:
    month = THIS_MONTH
    for _ in range(n):
        month = (month.replace(day=1) - timedelta(days=1)).replace(day=1)
    return datetime(month.year, month.month, 10, 12, tzinfo=UTC)


def _rows() -> list[tuple]:
    return list(
        Interaction.objects.order_by("id").values_list(
            "id", "customer_id", "occurred_at", "source", "external_id"
        )
    )


def _partition_of(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {partitioning.TABLE} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def history(db):
    """Interactions over 14 months for two customers, some without an external id."""
    ann, bob = CustomerFactory(), CustomerFactory()
    made = []
    for n in range(14):
        made.append(InteractionFactory(customer=ann, occurred_at=_months_ago(n), external_id=f"a-{n}"))
        made.append(InteractionFactory(customer=bob, occurred_at=_months_ago(n), external_id=None, source=""))
    made.append(
        InteractionFactory(customer=bob, occurred_at=datetime(2001, 5, 1, tzinfo=UTC), external_id="old")
    )
    return {"ann": ann, "bob": bob, "made": made}


@pytest.fixture
def converted(history):
    before = _rows()
    report = partitioning.convert_to_partitioned(months_ahead=2, log=lambda line: None)
    return {**history, "before": before, "report": report}


def test_conversion_keeps_every_row_each_in_its_month(converted):
    assert partitioning.is_partitioned()
    assert _rows() == converted["before"]
    assert converted["report"]["rows"] == len(converted["before"]) == 29
    oldest = converted["made"][26]  # 13 months ago
    assert _partition_of(oldest.pk) == partitioning.partition_name(oldest.occurred_at.date())
    assert _partition_of(converted["made"][-1].pk) == "interactions_interaction_2001_05"  # gaps stay gaps
    names = [name for name, _ in partitioning.month_partitions(connection.cursor())]
    assert len(names) == 14 + 1 + 2 + 1  # the months with rows, two ahead, the default
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitioning.KEY_TABLE}")
        assert cursor.fetchone()[0] == 15  # every row with an external id
    late = InteractionFactory(customer=converted["ann"], occurred_at=datetime(1999, 1, 1, tzinfo=UTC))
    assert _partition_of(late.pk) == partitioning.DEFAULT_PARTITION  # a month without its partition
    # ids keep coming from one sequence, after the copied ones
    assert InteractionFactory(customer=converted["ann"], occurred_at=NOW).pk > max(
        r[0] for r in converted["before"]
    )


def test_foreign_keys_to_interactions_are_dropped_and_from_them_kept(converted):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE confrelid = %s::regclass AND contype = 'f'",
            [partitioning.TABLE],
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT confrelid::regclass::text FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            [partitioning.TABLE],
        )
        assert "customers_customer" in {row[0] for row in cursor.fetchall()}
    with pytest.raises(IntegrityError), transaction.atomic():  # still checked (deferred: at commit)
        InteractionFactory(customer_id=10**12, occurred_at=NOW)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _interaction(customer, occurred_at, source, external_id) -> Interaction:
    return Interaction(
        customer=customer, channel_id=1, direction="inbound", type="x", occurred_at=occurred_at,
        source=source, external_id=external_id,
    )  # fmt: skip


def _copy_row(customer_id, occurred_at, source, external_id) -> None:
    columns = "customer_id, channel_id, direction, type, occurred_at, received_at, source, external_id"
    columns += ", touchpoint, subject, summary, outcome, currency, properties"
    values = [customer_id, 1, "inbound", "x", occurred_at, NOW, source, external_id, "", "", "", "", "", "{}"]
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {partitioning.TABLE} ({columns}) FROM STDIN") as copy,
    ):
        copy.write_row(values)


def test_a_key_stays_unique_across_months(converted):
    with pytest.raises(IntegrityError), transaction.atomic():  # same key, another month's partition
        InteractionFactory(customer=converted["ann"], source="test", external_id="a-3", occurred_at=NOW)
    with pytest.raises(IntegrityError), transaction.atomic():  # COPY, as the ingest batch path writes
        _copy_row(converted["ann"].pk, _months_ago(5), "test", "a-9")
    fresh = InteractionFactory(
        customer=converted["ann"], source="test", external_id="new-key", occurred_at=NOW
    )
    assert fresh.pk
    with pytest.raises(IntegrityError), transaction.atomic():  # and within one statement
        Interaction.objects.bulk_create(
            [_interaction(converted["ann"], t, "bulk", "twice") for t in (NOW, _months_ago(4))]
        )


def test_a_deleted_interaction_frees_its_key_and_keys_do_not_change(converted):
    row = Interaction.objects.get(source="test", external_id="a-2")
    with pytest.raises(Exception, match="do not change"), transaction.atomic():
        Interaction.objects.filter(pk=row.pk).update(external_id="a-2-renamed")
    Interaction.objects.filter(pk=row.pk).update(summary="edited")  # other columns change freely
    Interaction.objects.filter(pk=row.pk).delete()
    again = InteractionFactory(customer=converted["ann"], source="test", external_id="a-2", occurred_at=NOW)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT interaction_id FROM {partitioning.KEY_TABLE} "
            "WHERE source = 'test' AND external_id = 'a-2'"
        )
        assert cursor.fetchall() == [(again.pk,)]


def test_partitions_are_created_ahead_and_old_ones_detached(converted):
    later = NOW + timedelta(days=200)
    created = partitioning.ensure_partitions(months_ahead=1, now=later)
    assert created == [
        partitioning.partition_name(partitioning.month_start(later)),
        partitioning.partition_name(partitioning.next_month(partitioning.month_start(later))),
    ]
    assert partitioning.ensure_partitions(months_ahead=1, now=later) == []  # idempotent
    oldest = converted["made"][26]
    month = oldest.occurred_at.date()
    name = partitioning.detach_partition(month=month)
    assert not Interaction.objects.filter(pk=oldest.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{name}"')  # a plain table now, ready to archive
        assert cursor.fetchone()[0] == 2
        assert name not in {n for n, _ in partitioning.month_partitions(cursor)}


def test_ensure_partitions_does_nothing_on_a_plain_table(history):
    assert not partitioning.is_partitioned()
    assert partitioning.ensure_partitions() == []


def _scanned(sql: str, params) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return set(re.findall(r"interactions_interaction_(\d{4}_\d{2}|other)\b", plan))


def test_timeline_windows_and_segment_windows_prune_partitions(converted):
    month = _months_ago(3)
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime.combine(partitioning.next_month(start.date()), datetime.min.time(), tzinfo=UTC)
    timeline = interactions_query(customer_id=converted["ann"].pk, since=start, until=end)
    sql, params = timeline.query.sql_with_params()
    assert _scanned(sql, params) == {f"{start:%Y_%m}"}

    older_page = interactions_query(customer_id=converted["ann"].pk).filter(occurred_at__lt=_months_ago(12))
    sql, params = older_page.query.sql_with_params()  # "load more" before a point in time
    assert all(name == "other" or name <= f"{_months_ago(12):%Y_%m}" for name in _scanned(sql, params))

    rule = {"events": {"type": "page_view", "within_days": 45}, "count": {"op": "gte", "value": 1}}
    sql, params = member_ids_sql(rule, parent_id=None, now=NOW)
    scanned = _scanned(sql, params)
    recent, month = set(), partitioning.month_start(NOW - timedelta(days=45))
    while month <= THIS_MONTH:  # a 45-day window spans three months when it ends early in one
        recent.add(f"{month:%Y_%m}")
        month = partitioning.next_month(month)
    assert scanned and scanned - {"other"} <= recent | {
        f"{partitioning.next_month(THIS_MONTH):%Y_%m}",
        f"{partitioning.next_month(partitioning.next_month(THIS_MONTH)):%Y_%m}",
    }
    assert f"{_months_ago(6):%Y_%m}" not in scanned


def test_helpers_name_months():
    assert partitioning.partition_name(date(2026, 1, 1)) == "interactions_interaction_2026_01"
    assert partitioning.next_month(date(2026, 12, 1)) == date(2027, 1, 1)


def test_converting_back_gives_the_plain_table_with_its_unique_key_and_foreign_keys(converted):
    report = partitioning.convert_to_plain(log=lambda line: None)
    assert not partitioning.is_partitioned()
    assert _rows() == converted["before"]
    dropped = [name for name, _ in converted["report"]["dropped_foreign_keys"]]
    assert report["restored_foreign_keys"] == dropped
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partitioning.KEY_TABLE])
        assert cursor.fetchone()[0] is None
    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(customer=converted["ann"], source="test", external_id="a-3", occurred_at=NOW)


@pytest.fixture
def committed_partitioned_table(seeded_channels):
    partitioning.convert_to_partitioned(log=lambda line: None)
    yield
    partitioning.convert_to_plain(log=lambda line: None)


@transactional_marker()
@pytest.mark.usefixtures("committed_partitioned_table")
def test_concurrent_writers_of_one_key_in_different_months_store_one_row():
    """Two transactions record the same 50 keys at once, each with other times (other partitions):
    one row per key, and both are told its id."""
    ann = CustomerFactory()
    keys = [f"msg-{n}" for n in range(50)]
    batches = [
        [_row(ann, key, _months_ago(n % 3)) for n, key in enumerate(keys)],
        [_row(ann, key, _months_ago(3 + n % 3)) for n, key in enumerate(keys)][::-1],
    ]
    results, errors = [None, None], []
    barrier = threading.Barrier(2)

    def work(position):
        try:
            with transaction.atomic():
                barrier.wait()
                results[position] = record_interactions(rows=batches[position])
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert Interaction.objects.count() == 50
    first, second = results[0], results[1][::-1]
    assert [a.id for a in first] == [b.id for b in second]
    assert all(a.created != b.created for a, b in zip(first, second, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitioning.KEY_TABLE}")
        assert cursor.fetchone()[0] == 50


def _row(customer, external_id, occurred_at) -> dict:
    return {
        "customer_id": customer.pk,
        "channel_id": Channel.objects.get(code="email").pk,
        "direction": "outbound",
        "type": "message_sent",
        "occurred_at": occurred_at,
        "source": "outreach",
        "external_id": external_id,
    }


def test_the_operator_command_converts_shows_ensures_detaches_and_reverts(history):
    from io import StringIO

    from django.core.management import call_command

    def run(*args) -> str:
        out = StringIO()
        call_command("partition_interactions", *args, stdout=out)
        return out.getvalue()

    assert "one plain table" in run()
    converted = run("--convert", "--months-ahead", "1")
    assert "interactions_interaction_2001_05" in converted
    month = f"{_months_ago(13):%Y-%m}"
    assert f"detached interactions_interaction_{month.replace('-', '_')}" in run("--detach", month)
    assert "created:" in run("--ensure", "--months-ahead", "4")
    assert "one plain table" in run("--revert")
    assert Interaction.objects.count() == 29 - 2  # the detached month's two rows left with it
