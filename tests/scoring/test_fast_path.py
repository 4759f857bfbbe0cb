"""The scoring pass's fast paths give what the plain paths gave: binary COPY reads equal the rows
fetched one by one, the one-format-per-row COPY text equals the per-column text of before."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from customers.models import Customer
from interactions.models import Channel, Interaction
from scoring import detractor, pgcopy, services
from scoring.compute import Scores
from scoring.models import CustomerScore
from scoring.summary import COLUMNS, _to_matrix, read_summary, summary_sql
from scoring.writer import SCORE_COLUMNS, _columns, copy_lines

from .helpers import AS_OF, load_histories
from .test_detractor import _answers_driven_by_complaints, _contact

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="binary COPY is the PostgreSQL path"
)


def _random_scores(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)

    def floats(scale=1.0, nan_share=0.3):
        values = rng.normal(0, scale, n) * rng.choice([1e-7, 1e-3, 1, 1e3, 1e6], n)
        values[rng.random(n) < nan_share] = np.nan
        return values

    bought = rng.random(n) < 0.7
    r, f, m = (np.where(bought, rng.integers(1, 6, n), 0) for _ in range(3))
    codes = np.where(bought, (r * 100 + f * 10 + m).astype("U3"), "").astype(object)
    labels = np.where(bought, "potential_loyalist", "").astype(object)
    frequency = np.where(bought, rng.integers(0, 40, n), np.nan).astype(float)
    scores = Scores(
        p_alive=np.where(bought, rng.random(n), np.nan),
        expected_purchases_90d=floats(),
        expected_order_value=floats(50),
        clv=floats(100),
        rfm_r=r,
        rfm_f=f,
        rfm_m=m,
        rfm_code=codes,
        rfm_label=labels,
        frequency=frequency,
        recency=floats(10),
        age=floats(10),
        monetary=floats(40),
        revenue=np.round(rng.gamma(2, 50, n), 2),
        cost_to_serve=np.round(rng.gamma(2, 5, n), 2),
        profitability=rng.normal(0, 30, n) + 0.005,  # half-cent ties and negatives
    )
    risk = floats(0.3)
    drivers = np.where(
        rng.random(n) < 0.5, '[{"feature": "complaints", "contribution": 0.412}]', "[]"
    ).astype(object)
    ids = np.sort(rng.choice(10_000_000, n, replace=False)).astype(np.int64)
    purchases = np.where(bought, frequency + 1, 0).astype(np.int64)
    return ids, purchases, scores, risk, drivers


def test_copy_lines_are_the_per_column_copy_text_of_before():
    ids, purchases, scores, risk, drivers = _random_scores(5_000)
    moments = {
        "run_id": 42,
        "as_of": datetime(2026, 7, 1, tzinfo=UTC),
        "scored_at": datetime(2026, 7, 1, 2, 31, 5, 123456, tzinfo=UTC),
    }
    before = _columns(ids, purchases, scores, risk, drivers, **moments)
    expected = "".join("\t".join(row) + "\n" for row in zip(*before, strict=True))
    assert copy_lines(ids, purchases, scores, risk, drivers, **moments) == expected
    assert "\tnan" not in expected and expected.count("\n") == 5_000
    assert len(expected.splitlines()[0].split("\t")) == len(SCORE_COLUMNS)
    assert copy_lines(ids[:0], purchases[:0], scores, risk[:0], drivers[:0], **moments) == ""


def _history_with_costs():
    load_histories(60, seed=7)
    phone = Channel.objects.get(code="phone")
    buyers = list(Customer.objects.order_by("pk")[:20])
    Interaction.objects.bulk_create(
        [
            Interaction(
                customer=customer,
                channel=phone,
                direction="inbound",
                type="call",
                occurred_at=datetime(2026, 6, 1, tzinfo=UTC) - timedelta(days=k),
                properties={"cost": 1.25 * k} if k % 2 else {"cost": "n/a"},
                value=Decimal("3.10") if k == 3 else None,
            )
            for k, customer in enumerate(buyers)
        ]
    )
    Customer.objects.create(first_name="Prospect")


def test_the_summary_read_by_copy_equals_the_rows_fetched():
    _history_with_costs()
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    spec = services._spec(run, until=services.end_of_day(AS_OF))
    sql, params = summary_sql(spec)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = _to_matrix(cursor.fetchall())
    summary = read_summary(spec)
    assert len(summary) == 61 == len(fetched)
    for k, name in enumerate(COLUMNS):
        np.testing.assert_array_equal(getattr(summary, name), fetched[:, k], err_msg=name)
    assert np.isnan(summary.first_day).sum() == 1  # the prospect
    some = sorted(summary.customer_id[::7].tolist())
    few = read_summary(spec, customer_ids=some)
    np.testing.assert_array_equal(few.customer_id, some)
    np.testing.assert_array_equal(few.total_value, summary.total_value[::7])


def test_detractor_features_read_by_copy_equal_the_rows_fetched():
    _answers_driven_by_complaints(80, seed=3)
    _history_with_costs()
    at = datetime(2026, 6, 1, tzinfo=UTC)
    for probes in (
        detractor.answer_probes(before=at, window_days=90),
        detractor.customer_probes(at=at, window_days=90, customer_ids=None),
    ):
        sql, params = detractor.features_sql(probes, purchase_types=("order_placed",))
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = detractor._chunk(np.array(cursor.fetchall(), dtype=object).astype(float))
        rows = detractor.read_features(probes, purchase_types=("order_placed",))
        np.testing.assert_array_equal(rows.probe, fetched[:, 0])
        np.testing.assert_array_equal(rows.score, fetched[:, 2])
        np.testing.assert_allclose(rows.answered_at, fetched[:, 3], rtol=1e-15)
        np.testing.assert_allclose(rows.matrix, fetched[:, 4:], rtol=1e-12)
        assert rows.matrix[:, 1].sum() > 0  # contacts were counted


@postgres_only
def test_binary_copy_refuses_a_null_rather_than_misreading_it():
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        rows = list(pgcopy.read_matrix(cursor, "SELECT 1::float8, 'NaN'::float8", [], 2))
        assert rows[0][0, 0] == 1 and np.isnan(rows[0][0, 1])
        with pytest.raises(ValueError, match="NULL"):
            list(pgcopy.read_matrix(cursor, "SELECT 1::float8, NULL::float8", [], 2))


@postgres_only
def test_binary_copy_streams_many_chunks(monkeypatch):
    monkeypatch.setattr(pgcopy, "CHUNK_BYTES", 1000)
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        chunks = list(
            pgcopy.read_matrix(
                cursor, "SELECT g::float8, g::float8 / %s FROM generate_series(1, 5000) g ORDER BY g", [4], 2
            )
        )
    assert len(chunks) > 10
    data = np.concatenate(chunks)
    np.testing.assert_array_equal(data[:, 0], np.arange(1, 5001))
    np.testing.assert_array_equal(data[:, 1], np.arange(1, 5001) / 4)


# --- Contact types: a setting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("complaint,call", "non-empty list"),
        ([], "non-empty list"),
        (None, "non-empty list"),
        (["call", ""], "not an interaction type"),
        (["call", " chat"], "not an interaction type"),
        (["x" * 65], "not an interaction type"),
        (["call", 3], "not an interaction type"),
        (["call", "call"], "twice"),
    ],
)
def test_contact_types_setting_is_checked(settings, value, problem):
    from django.core import checks

    settings.SCORING_CONTACT_TYPES = value
    errors = [e for e in checks.run_checks() if e.id == "scoring.E001"]
    assert errors and problem in errors[0].msg


def test_the_default_contact_types_pass_the_check(settings):
    from django.core import checks

    assert settings.SCORING_CONTACT_TYPES == ["complaint", "query", "call", "email", "chat"]
    assert not [e for e in checks.run_checks() if e.id == "scoring.E001"]


def test_contact_types_decide_what_counts_as_a_service_contact(settings):
    ann = Customer.objects.create(first_name="Ann")
    at = datetime(2026, 6, 1, tzinfo=UTC)
    Interaction.objects.bulk_create(
        [_contact(ann, at - timedelta(days=2), type_="callback"), _contact(ann, at - timedelta(days=1))]
    )
    contacts = [name for name, _ in detractor.FEATURES].index("service_contacts")

    def counted():
        rows = detractor.read_features(
            detractor.customer_probes(at=at, window_days=90, customer_ids=None),
            purchase_types=("order_placed",),
        )
        return rows.matrix[0, contacts]

    assert counted() == 1  # the complaint
    settings.SCORING_CONTACT_TYPES = ["complaint", "callback"]
    assert counted() == 2


def test_a_fitted_model_keeps_its_contact_types_for_scoring(settings):
    settings.SCORING_CONTACT_TYPES = ["complaint", "callback"]
    _answers_driven_by_complaints(200, seed=8)
    load_histories(40, seed=2)
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    run.refresh_from_db()
    assert run.params["detractor"]["contact_types"] == ["complaint", "callback"]
    settings.SCORING_CONTACT_TYPES = ["email"]  # changed after the fit: dirty re-scoring keeps the model's
    upset = Customer.objects.create(first_name="Upset")
    moment = datetime.now(UTC) - timedelta(days=1)
    Interaction.objects.bulk_create([_contact(upset, moment, type_="callback")])
    risk, _ = detractor.score(run, np.array([upset.pk]), as_of=datetime.now(UTC), all_customers=False)
    calm = Customer.objects.create(first_name="Calm")
    calm_risk, _ = detractor.score(run, np.array([calm.pk]), as_of=datetime.now(UTC), all_customers=False)
    coefficient = run.detractor["coefficients"]["service_contacts"]
    assert (risk[0] > calm_risk[0]) == (coefficient > 0) and risk[0] != calm_risk[0]


def test_an_invalid_contact_types_setting_fails_the_fit_with_the_reason(settings):
    _answers_driven_by_complaints(100, seed=8)
    load_histories(40, seed=2)
    settings.SCORING_CONTACT_TYPES = []
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    run.refresh_from_db()
    assert run.status == "failed" and "SCORING_CONTACT_TYPES" in run.error


# --- Full passes swap a new table in (PostgreSQL) ----------------------------------------------


def _catalog():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'scoring_customerscore'::regclass ORDER BY 1"
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'scoring_customerscore'::regclass ORDER BY 1"
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT 'scoring_customerscore'::regclass::oid, to_regclass('scoring_customerscore_next')"
        )
        oid, leftover = cursor.fetchone()
    return constraints, indexes, oid, leftover


def _fit_and_read():
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return {
        row["customer_id"]: row
        for row in CustomerScore.objects.values("customer_id", "p_alive", "clv", "rfm_code", "profitability")
    }


@pytest.fixture
def swap_small_passes(monkeypatch):
    from scoring import writer

    monkeypatch.setattr(writer, "SWAP_MIN_ROWS", 0)


@postgres_only
def test_a_full_pass_swaps_in_a_table_with_the_same_constraints_and_indexes(swap_small_passes):
    load_histories(80, seed=4)
    constraints, indexes, oid, _ = _catalog()
    first = _fit_and_read()
    after_constraints, after_indexes, after_oid, leftover = _catalog()
    assert after_oid != oid and leftover is None  # a new table, nothing left behind
    assert (after_constraints, after_indexes) == (constraints, indexes)
    assert len(first) == 80
    gone = Customer.objects.order_by("pk").first()
    Customer.objects.filter(pk=gone.pk).delete()
    second = _fit_and_read()
    assert gone.pk not in second and len(second) == 79
    assert {k: v for k, v in first.items() if k != gone.pk}.keys() == second.keys()


@postgres_only
@pytest.mark.django_db(
    transaction=True, serialized_rollback=True
)  # the other connection must see the committed table
def test_a_reader_holding_the_table_makes_the_pass_update_in_place(monkeypatch, swap_small_passes):
    from scoring import writer
    from tooling.benchmarking import baseline

    load_histories(60, seed=4)
    swapped = _fit_and_read()
    _, _, oid, _ = _catalog()
    monkeypatch.setattr(writer, "SWAP_LOCK_TIMEOUT", "200ms")
    with baseline.raw_connection() as other:
        other.autocommit = False
        other.execute("SELECT count(*) FROM scoring_customerscore")  # holds ACCESS SHARE until rollback
        updated = _fit_and_read()
        other.rollback()
    _, _, same_oid, leftover = _catalog()
    assert same_oid == oid and leftover is None
    assert updated.keys() == swapped.keys()


@postgres_only
def test_a_granted_table_is_updated_in_place(swap_small_passes):
    load_histories(40, seed=4)
    with connection.cursor() as cursor:
        cursor.execute("GRANT SELECT ON scoring_customerscore TO PUBLIC")
    _, _, oid, _ = _catalog()
    assert len(_fit_and_read()) == 40
    assert _catalog()[2] == oid


@postgres_only
def test_a_small_full_pass_updates_in_place():
    load_histories(40, seed=4)
    _, _, oid, _ = _catalog()
    assert len(_fit_and_read()) == 40
    assert _catalog()[2] == oid
