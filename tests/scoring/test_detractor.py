"""Detractor risk: features from behaviour before each answer, a time split, held-out AUC and calibration."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from customers.models import Customer
from interactions.models import Channel, Interaction
from metrics.models import SurveyResponse
from scoring import detractor, services
from scoring.models import CustomerScore, RunStatus
from tests.metrics.helpers import make_survey

from .helpers import AS_OF, load_histories

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)


def _contact(customer, at, type_="complaint", channel="phone", outcome=""):
    return Interaction(
        customer=customer,
        channel=Channel.objects.get(code=channel),
        direction="inbound",
        type=type_,
        occurred_at=at,
        outcome=outcome,
    )


def _answers_driven_by_complaints(n: int, *, seed: int = 4):
    """Each customer answers once; a complaint in the 30 days before makes a 0–6 answer likely."""
    rng = np.random.default_rng(seed)
    survey = make_survey("nps")
    customers = Customer.objects.bulk_create([Customer(first_name=f"P{i}") for i in range(n)])
    interactions, answers = [], []
    for customer in customers:
        answered = START + timedelta(days=float(rng.uniform(0, 170)))
        complained = rng.random() < 0.4
        if complained:
            interactions.append(_contact(customer, answered - timedelta(days=float(rng.uniform(1, 30)))))
        detractor_chance = 0.8 if complained else 0.1
        score = int(rng.integers(0, 7)) if rng.random() < detractor_chance else int(rng.integers(7, 11))
        answers.append(
            SurveyResponse(survey=survey, kind="nps", customer=customer, score=score, responded_at=answered)
        )
    Interaction.objects.bulk_create(interactions)
    SurveyResponse.objects.bulk_create(answers)
    return customers


def test_features_only_see_behaviour_before_the_answer():
    survey = make_survey("nps")
    ann = Customer.objects.create(first_name="Ann")
    answered = datetime(2026, 3, 1, 12, tzinfo=UTC)
    Interaction.objects.bulk_create(
        [
            _contact(ann, answered - timedelta(days=3)),
            _contact(ann, answered - timedelta(days=2), type_="call", outcome="escalated"),
            _contact(ann, answered - timedelta(days=200)),  # outside the 90-day window
            _contact(ann, answered + timedelta(hours=1)),  # after the answer
        ]
    )
    SurveyResponse.objects.create(survey=survey, kind="nps", customer=ann, score=8, responded_at=answered)
    rows = detractor.read_features(
        detractor.answer_probes(before=datetime(2026, 6, 1, tzinfo=UTC), window_days=90),
        purchase_types=("order_placed",),
    )
    features = dict(zip([name for name, _ in detractor.FEATURES], rows.matrix[0], strict=True))
    assert features["complaints"] == 1
    assert features["service_contacts"] == 2
    assert features["escalations"] == 1
    assert features["days_since_purchase"] == detractor.RECENCY_CAP_DAYS
    assert features["no_previous_answer"] == 1 and features["previous_detractor"] == 0


def test_fit_reports_auc_and_calibration_on_later_answers_and_scores_drivers():
    _answers_driven_by_complaints(400)
    load_histories(60, seed=2)  # buyers so that the value models fit too
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    report = run.detractor
    assert report["status"] == "fitted"
    assert report["n_train"] + report["n_test"] == 400 and report["n_test"] >= 80
    # Held-out answers are all later than every training answer.
    split = datetime.fromisoformat(report["split_at"])
    latest_train = SurveyResponse.objects.filter(responded_at__lt=split).order_by("-responded_at").first()
    assert latest_train.responded_at < split
    assert report["auc"] > 0.75  # complaints separate the classes well (truth: 0.8 vs 0.1)
    assert sum(row["n"] for row in report["calibration"]) == report["n_test"]
    assert report["coefficients"]["complaints"] > 0
    assert set(run.params["detractor"]) >= {"mean", "scale", "coef", "intercept", "features"}
    # Scores as of the calibration end: nobody complained in the last 90 days, so risk is the base.
    assert CustomerScore.objects.filter(detractor_risk__isnull=False).count() == CustomerScore.objects.count()


def test_a_recent_complaint_raises_risk_and_shows_as_a_driver():
    _answers_driven_by_complaints(300, seed=6)
    load_histories(60, seed=2)
    calm, upset = Customer.objects.create(first_name="Calm"), Customer.objects.create(first_name="Upset")
    Interaction.objects.bulk_create(
        [
            _contact(upset, datetime(2026, 6, 20, tzinfo=UTC)),
            _contact(upset, datetime(2026, 6, 25, tzinfo=UTC)),
        ]
    )
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    calm_score, upset_score = (CustomerScore.objects.get(customer=c) for c in (calm, upset))
    assert upset_score.detractor_risk > calm_score.detractor_risk + 0.2
    assert upset_score.detractor_drivers[0]["feature"] == "complaints"
    assert upset_score.detractor_drivers[0]["contribution"] > 0


def test_too_few_answers_skip_the_detractor_model_with_a_reason():
    load_histories(80, seed=2)
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.detractor["status"] == "skipped" and "NPS answers" in run.detractor["reason"]
    assert "detractor" not in run.params
    assert not CustomerScore.objects.filter(detractor_risk__isnull=False).exists()


def test_drivers_json_lists_the_largest_positive_terms_in_order():
    contributions = np.array([[0.5, -1.0, 2.0, 0.001], [-0.2, -0.1, -0.3, -0.4]])
    text = detractor.drivers_json(contributions, ["a", "b", "c", "d"])
    import json

    assert json.loads(text[0]) == [
        {"feature": "c", "contribution": 2.0},
        {"feature": "a", "contribution": 0.5},
    ]
    assert json.loads(text[1]) == []


def test_scoring_every_customer_reads_the_same_features_as_scoring_a_few():
    """All customers at one moment use grouped passes; a dirty batch looks each one up: same rows."""
    _answers_driven_by_complaints(60, seed=9)
    load_histories(40, seed=3)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    everyone = detractor.read_features(
        detractor.customer_probes(at=at, window_days=90, customer_ids=None), purchase_types=("order_placed",)
    )
    few = detractor.read_features(
        detractor.customer_probes(at=at, window_days=90, customer_ids=ids), purchase_types=("order_placed",)
    )
    assert list(everyone.customer_id) == ids == list(few.customer_id)
    np.testing.assert_allclose(everyone.matrix, few.matrix, rtol=1e-9)
    assert everyone.matrix[:, -2].sum() > 0 and (everyone.matrix[:, -3] < detractor.RECENCY_CAP_DAYS).any()
