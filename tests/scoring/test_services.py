"""Fitting and scoring through the database: the summary's conventions, the stored scores, failures."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from interactions.models import Channel, Interaction
from scoring import services
from scoring.models import CustomerScore, ModelRun, RunStatus, ScoreSnapshot
from scoring.summary import SummarySpec, read_summary

from .helpers import AS_OF, load_histories

pytestmark = pytest.mark.django_db


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _order(customer, day: date, value: str, *, hour: int = 12, type_: str = "order_placed", channel="web"):
    return Interaction.objects.create(
        customer=customer,
        channel=Channel.objects.get(code=channel),
        direction="inbound",
        type=type_,
        occurred_at=_at(day, hour),
        value=Decimal(value) if value is not None else None,
    )


def test_summary_counts_purchase_days_and_excludes_the_first_purchase_from_the_mean():
    ann = Customer.objects.create(first_name="Ann")
    d0 = date(2026, 1, 5)
    _order(ann, d0, "100.00")
    _order(ann, d0 + timedelta(days=7), "20.00", hour=9)
    _order(ann, d0 + timedelta(days=7), "10.00", hour=18)  # same day: one purchase of 30.00
    _order(ann, d0 + timedelta(days=21), "50.00")
    _order(ann, d0 + timedelta(days=40), "999.00", type_="page_view")  # not a purchase
    _order(ann, date(2026, 3, 1), "70.00")  # after the cut-off
    bob = Customer.objects.create(first_name="Bob")  # never bought
    spec = SummarySpec(
        transaction_types=("order_placed",),
        until=_at(date(2026, 2, 28), 0),
        cost_since=_at(date(2026, 1, 1), 0),
    )
    summary = read_summary(spec)
    rows = {int(c): i for i, c in enumerate(summary.customer_id)}
    i = rows[ann.pk]
    assert summary.purchase_days[i] == 3  # x = 2 repeat days
    assert summary.last_day[i] - summary.first_day[i] == 21
    assert summary.total_value[i] == pytest.approx(180.0)
    assert summary.repeat_value[i] == pytest.approx(80.0)  # mean repeat value 40, first day excluded
    assert summary.revenue[i] == pytest.approx(180.0)
    assert summary.interactions[i] == 5  # every interaction in the cost window, purchases or not
    assert summary.purchase_days[rows[bob.pk]] == 0


def test_cost_to_serve_is_channel_cost_plus_the_cost_property_in_the_window():
    Channel.objects.filter(code="phone").update(cost_per_interaction=Decimal("4.5000"))
    Channel.objects.filter(code="web").update(cost_per_interaction=Decimal("0.0100"))
    cara = Customer.objects.create(first_name="Cara")
    _order(cara, date(2026, 2, 1), None, type_="call", channel="phone")
    call = _order(cara, date(2026, 2, 2), None, type_="call", channel="phone")
    call.properties = {"cost": 2.25}
    call.save()
    _order(cara, date(2026, 2, 3), "10.00")
    _order(cara, date(2025, 1, 3), None, type_="call", channel="phone")  # before the window
    spec = SummarySpec(("order_placed",), until=_at(date(2026, 3, 1), 0), cost_since=_at(date(2026, 1, 1), 0))
    summary = read_summary(spec)
    assert summary.cost[list(summary.customer_id).index(cara.pk)] == pytest.approx(4.5 + 4.5 + 2.25 + 0.01)


def test_a_fit_scores_every_live_customer_as_of_the_calibration_end():
    customers = load_histories(400, seed=5)
    prospect = Customer.objects.create(first_name="Prospect")
    merged = Customer.objects.create(first_name="Gone", merged_into=prospect)
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.n_customers == 400 and 0 < run.n_repeat_customers < 400
    assert set(run.params) >= {"bgnbd", "gamma_gamma", "rfm"}
    assert run.log_likelihood["bgnbd"] < 0 and run.fit_seconds > 0
    assert run.scored_customers == 401  # the buyers and the prospect; not the merged profile
    assert CustomerScore.objects.count() == 401
    assert not CustomerScore.objects.filter(customer=merged).exists()
    score = CustomerScore.objects.get(customer=customers[0])
    assert score.as_of == datetime(2026, 7, 1, tzinfo=UTC)
    assert 0 <= score.p_alive <= 1 and score.churn_risk == pytest.approx(1 - score.p_alive)
    assert score.clv is not None and score.clv >= 0
    assert len(score.rfm_code) == 3 and score.rfm_label
    none = CustomerScore.objects.get(customer=prospect)
    assert none.p_alive is None and none.clv is None and none.rfm_code == "" and none.purchases == 0
    # A snapshot of the calibration month for everyone scored.
    assert ScoreSnapshot.objects.filter(month=date(2026, 6, 1)).count() == 401
    # One-time buyers have no expected order value; repeat buyers do.
    assert CustomerScore.objects.filter(frequency=0, expected_order_value__isnull=False).count() == 0
    assert CustomerScore.objects.filter(frequency__gt=0, expected_order_value__isnull=True).count() == 0


def test_rfm_quintiles_follow_the_run_breaks():
    load_histories(300, seed=8)
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    run.refresh_from_db()
    breaks = run.params["rfm"]
    for score in CustomerScore.objects.filter(purchases__gt=0):
        f = 1 + sum(b < score.purchases for b in breaks["frequency"])
        assert score.rfm_f == f
        assert score.rfm_code == f"{score.rfm_r}{score.rfm_f}{score.rfm_m}"
    assert CustomerScore.objects.filter(rfm_label="champion").exists()


def test_a_failed_fit_keeps_the_previous_scores_and_says_why():
    load_histories(200, seed=9)
    good = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=good)
    before = dict(CustomerScore.objects.values_list("customer_id", "clv"))
    bad = services.request_fit(
        calibration_end=AS_OF, transaction_types=["no_such_type"], trigger="test", queue=False
    )
    services.run_fit(run=bad)
    bad.refresh_from_db()
    assert bad.status == RunStatus.FAILED
    assert "no customer with a purchase" in bad.error and "previous scores are kept" in bad.error
    assert dict(CustomerScore.objects.values_list("customer_id", "clv")) == before
    assert services.current_run() == good


def test_holdout_compares_predicted_and_actual_repeat_purchases():
    load_histories(400, seed=10, holdout_weeks=26)
    run = services.request_fit(
        calibration_end=AS_OF, holdout_end=AS_OF + timedelta(weeks=26), trigger="test", queue=False
    )
    services.run_fit(run=run)
    run.refresh_from_db()
    holdout = run.holdout
    assert holdout["customers"] == run.n_customers
    assert holdout["actual_total"] > 0
    # Fitted on data drawn from the model: the aggregate prediction is close to what happened.
    assert holdout["predicted_total"] == pytest.approx(holdout["actual_total"], rel=0.35)
    assert holdout["by_frequency"][0]["frequency"] == "0"


def test_dirty_customers_are_rescored_with_the_current_parameters_in_constant_queries():
    customers = load_histories(120, seed=12)
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    params = ModelRun.objects.get(pk=run.pk).params
    one = customers[:1]
    with CaptureQueriesContext(connection) as small:
        services.rescore_customers([c.pk for c in one])
    with CaptureQueriesContext(connection) as large:
        services.rescore_customers([c.pk for c in customers[:40]])  # one SQLite INSERT batch
    assert len(small) == len(large)
    score = CustomerScore.objects.get(customer=customers[0])
    assert score.model_run_id == run.pk and score.as_of > datetime(2026, 7, 1, tzinfo=UTC)
    assert ModelRun.objects.get(pk=run.pk).params == params  # no refit


def test_request_validation_names_the_field():
    from scoring.errors import InvalidFitRequest

    with pytest.raises(InvalidFitRequest) as error:
        services.request_fit(time_unit="month", queue=False)
    assert error.value.field == "time_unit"
    with pytest.raises(InvalidFitRequest) as error:
        services.request_fit(options={"margin": 2}, queue=False)
    assert error.value.field == "options.margin"
    with pytest.raises(InvalidFitRequest) as error:
        services.request_fit(business_unit="nope", queue=False)
    assert error.value.field == "business_unit"


def test_the_dirty_pipeline_rescores_a_customer_after_a_new_order():
    from customers.pipeline import mark_dirty, process_dirty_customers

    customers = load_histories(150, seed=14)
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    buyer = customers[0]
    before = CustomerScore.objects.get(customer=buyer)
    _order(buyer, date.today() - timedelta(days=1), "80.00")
    mark_dirty([buyer.pk], reason="test", schedule=False)
    process_dirty_customers()
    after = CustomerScore.objects.get(customer=buyer)
    assert after.purchases == before.purchases + 1
    assert after.as_of > before.as_of and after.model_run_id == run.pk
    assert after.revenue >= before.revenue  # the new order is inside the cost window


def test_nightly_refit_reuses_the_latest_settings_as_of_yesterday():
    load_histories(150, seed=15, as_of=date.today() - timedelta(days=1))
    first = services.request_fit(
        calibration_end=date.today() - timedelta(days=3), options={"margin": 0.4}, trigger="test", queue=False
    )
    services.run_fit(run=first)
    nightly = services.nightly_refit()
    assert nightly.status == RunStatus.SUCCEEDED, nightly.error
    assert nightly.trigger == "schedule" and nightly.calibration_end == date.today() - timedelta(days=1)
    assert nightly.options["margin"] == 0.4
    assert services.current_run() == nightly
