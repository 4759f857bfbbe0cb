"""The models API: fit requests, runs, a customer's scores; scopes and 4xx errors in the common format."""

import pytest

from customers.models import Customer
from scoring import services
from scoring.models import CustomerScore, ModelRun, RunStatus
from scoring.tasks import fit_value_models

from .helpers import AS_OF, load_histories

pytestmark = pytest.mark.django_db


@pytest.fixture
def fitted():
    customers = load_histories(150, seed=31)
    run = services.request_fit(calibration_end=AS_OF, holdout_end=None, trigger="test", queue=False)
    services.run_fit(run=run)
    return run, customers


def test_fit_request_runs_and_the_run_reads_back_in_the_contract_shape(
    api_client_with, django_capture_on_commit_callbacks
):
    load_histories(150, seed=32)
    client = api_client_with("metrics:write", "metrics:read")
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            "/api/v1/models/fit/",
            {
                "model": "bgnbd_gg",
                "calibration_end": "2026-05-31",
                "holdout_end": "2026-06-30",
                "time_unit": "week",
            },
            format="json",
        )
    assert response.status_code == 202, response.json()
    run_id = response.json()["run_id"]
    assert len(queued) == 1  # the worker task is queued on commit; run it here as a worker would
    assert client.get(f"/api/v1/models/runs/{run_id}/").json()["status"] == "queued"
    assert fit_value_models(run_id) == "succeeded"
    assert fit_value_models(run_id) == "not queued"  # idempotent: a run is fitted once
    body = client.get(f"/api/v1/models/runs/{run_id}/").json()
    assert body["status"] == "succeeded", body
    assert body["calibration_end"] == "2026-05-31" and body["time_unit"] == "week"
    assert set(body["params"]["bgnbd"]) == {"r", "alpha", "a", "b"}
    assert set(body["params"]["gamma_gamma"]) == {"p", "q", "gamma"}
    assert set(body["log_likelihood"]) == {"bgnbd", "gamma_gamma"}
    assert body["n_customers"] > 0 and body["n_repeat_customers"] > 0
    assert body["holdout"]["holdout_end"] == "2026-06-30"
    assert body["fit_seconds"] > 0 and "error" not in body
    listed = client.get("/api/v1/models/runs/").json()
    assert [r["id"] for r in listed["results"]] == [run_id] and "next" in listed


def test_bad_fit_requests_are_400_naming_the_field(api_client_with):
    client = api_client_with("metrics:write")
    cases = [
        ({"time_unit": "month"}, "time_unit"),
        ({"calibration_end": "not-a-date"}, "calibration_end"),
        ({"calibration_end": "2026-06-30", "holdout_end": "2026-06-01"}, "holdout_end"),
        ({"transaction_types": []}, "transaction_types"),
        ({"business_unit": "nowhere"}, "business_unit"),
        ({"options": {"margin": "lots"}}, "options.margin"),
        ({"model": "pareto"}, "model"),
        ({"calibration_end": "2999-01-01"}, "calibration_end"),
    ]
    for payload, field in cases:
        response = client.post("/api/v1/models/fit/", payload, format="json")
        assert response.status_code == 400, payload
        assert response.json()["error"]["field"] == field, (payload, response.json())
    assert not ModelRun.objects.exists()


def test_failed_fit_is_visible_with_its_reason(api_client_with, django_capture_on_commit_callbacks):
    client = api_client_with("metrics:write", "metrics:read")
    with django_capture_on_commit_callbacks():
        run_id = client.post("/api/v1/models/fit/", {}, format="json").json()["run_id"]
    fit_value_models(run_id)
    body = client.get(f"/api/v1/models/runs/{run_id}/").json()
    assert body["status"] == "failed" and "no customer with a purchase" in body["error"]


def test_scopes_are_enforced(api_client_with, fitted):
    run, customers = fitted
    reader = api_client_with("customers:read")
    assert reader.post("/api/v1/models/fit/", {}, format="json").status_code == 403
    assert reader.get(f"/api/v1/models/runs/{run.pk}/").status_code == 403
    assert (
        api_client_with("metrics:read").get(f"/api/v1/customers/{customers[0].pk}/scores/").status_code == 403
    )
    assert api_client_with("metrics:read").post("/api/v1/models/fit/", {}, format="json").status_code == 403


def test_customer_scores_in_the_contract_shape(api_client_with, fitted):
    run, customers = fitted
    repeat = CustomerScore.objects.filter(frequency__gt=0).first()
    body = api_client_with("customers:read").get(f"/api/v1/customers/{repeat.customer_id}/scores/").json()
    for key in (
        "p_alive",
        "churn_risk",
        "expected_purchases_90d",
        "expected_order_value",
        "clv",
        "rfm",
        "cost_to_serve",
        "profitability",
        "model_run",
        "as_of",
    ):
        assert key in body, key
    assert set(body["rfm"]) == {"r", "f", "m", "code", "label"}
    assert body["model_run"] == run.pk and body["as_of"].startswith("2026-07-01T00:00:00")
    assert body["churn_risk"] == pytest.approx(1 - body["p_alive"])
    assert body["p_alive_label"] in ("active", "at risk", "lapsed")
    one_timer = CustomerScore.objects.filter(frequency=0).first()
    body = api_client_with("customers:read").get(f"/api/v1/customers/{one_timer.customer_id}/scores/").json()
    assert body["expected_order_value"] is None and body["clv"] is not None


def test_scores_of_a_merged_id_redirect_and_unknown_ones_are_404(api_client_with, fitted):
    _, customers = fitted
    survivor = customers[0]
    merged = Customer.objects.create(first_name="Old", merged_into=survivor)
    client = api_client_with("customers:read")
    response = client.get(f"/api/v1/customers/{merged.pk}/scores/")
    assert response.status_code == 308 and response["Location"].endswith(f"/customers/{survivor.pk}/scores/")
    assert client.get("/api/v1/customers/999999/scores/").status_code == 404
    fresh = Customer.objects.create(first_name="New")
    response = client.get(f"/api/v1/customers/{fresh.pk}/scores/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_run_status_values_are_the_documented_ones():
    assert set(RunStatus.values) == {"queued", "running", "succeeded", "failed"}
