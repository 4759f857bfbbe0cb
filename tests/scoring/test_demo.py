"""The demo's purchase histories give believable, fitted scores; seeding twice fits once."""

import io
import random

import pytest

from scoring.models import CustomerScore, ModelRun, RunStatus

pytestmark = pytest.mark.django_db


def test_demo_fits_the_models_on_believable_histories():
    from customers import demo as customer_demo
    from interactions import demo as interaction_demo
    from metrics import demo as metrics_demo
    from scoring import demo

    rng = random.Random(2026)
    out = io.StringIO()
    customer_demo.seed(rng=rng, stdout=out)
    interaction_demo.seed(rng=rng, stdout=out)
    metrics_demo.seed(rng=rng, stdout=out)
    demo.seed(rng=rng, stdout=out)
    run = ModelRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED, run.error
    # Most demo customers buy, and most buyers come back at least once.
    assert run.n_customers > 100 and run.n_repeat_customers > run.n_customers / 2
    assert 20 < run.checks["population_mean_order_value"] < 80  # typical orders around 45 euros
    assert run.detractor["status"] == "fitted" and run.detractor["n_test"] > 0
    buyers = CustomerScore.objects.filter(purchases__gt=0)
    assert buyers.filter(clv__gt=0).count() > buyers.count() / 2
    assert len(set(buyers.values_list("rfm_label", flat=True))) >= 6  # every kind of customer shows up
    demo.seed(rng=rng, stdout=out)
    assert ModelRun.objects.count() == 1
