"""Model runs and scores in the admin: readable by marketers, refit action for admins only."""

import pytest

from scoring import services
from scoring.models import CustomerScore, ModelRun, RunStatus

from .helpers import AS_OF, load_histories

pytestmark = pytest.mark.django_db


@pytest.fixture
def run():
    load_histories(100, seed=51)
    fitted = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    return services.run_fit(run=fitted)


def test_marketer_reads_runs_and_scores(marketer_client, run):
    listing = marketer_client.get("/admin/scoring/modelrun/")
    assert listing.status_code == 200 and "succeeded" in listing.content.decode()
    page = marketer_client.get(f"/admin/scoring/modelrun/{run.pk}/change/").content.decode()
    assert "alpha" in page and "gamma_gamma" in page and "frequency_monetary_correlation" in page
    assert "Fit again" not in listing.content.decode()  # marketers read; admins refit
    score = CustomerScore.objects.first()
    assert marketer_client.get(f"/admin/scoring/customerscore/{score.pk}/change/").status_code == 200


def test_admin_refits_with_the_same_settings(admin_web_client, run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = admin_web_client.post(
            "/admin/scoring/modelrun/", {"action": "refit_like_this", "_selected_action": [run.pk]}
        )
    assert response.status_code == 302
    queued = ModelRun.objects.exclude(pk=run.pk).get()
    assert queued.status == RunStatus.QUEUED and queued.trigger == "admin"
    assert queued.options == run.options and queued.transaction_types == run.transaction_types


def test_agents_have_no_admin(agent_client, run):
    assert agent_client.get("/admin/scoring/modelrun/").status_code in (302, 403)
