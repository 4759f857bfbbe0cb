"""The 360 page shows value and risk (header figures and panel) and links to the explanation page."""

import pytest

from scoring import services
from scoring.models import CustomerScore

from .helpers import AS_OF, load_histories

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored():
    load_histories(120, seed=41)
    run = services.request_fit(calibration_end=AS_OF, trigger="test", queue=False)
    services.run_fit(run=run)
    return CustomerScore.objects.filter(frequency__gt=1).order_by("-clv").first()


def test_360_page_shows_clv_p_alive_rfm_and_links_to_the_explanation(agent_client, scored):
    html = agent_client.get(f"/customers/{scored.customer_id}/").content.decode()
    assert f"{scored.clv:,.2f}" in html  # header: lifetime value
    header = html.split('class="figures"')[1].split("</dl>")[0]
    # Every figure is filled and links to the explanation, except detractor risk: no NPS answers here.
    assert header.count("not computed yet") == 1 and "Detractor risk" in header
    assert header.count(f'href="/customers/{scored.customer_id}/value/"') == 5
    assert "P(alive)" in header and scored.rfm_code in header


def test_explanation_page_plugs_the_customers_numbers_into_the_formulas(
    agent_client, marketer_client, scored
):
    for client in (agent_client, marketer_client):
        response = client.get(f"/customers/{scored.customer_id}/value/")
        assert response.status_code == 200
    html = response.content.decode()
    assert f"x = {scored.frequency} repeat" in html
    assert "BG/NBD" in html and "Gamma-Gamma" in html and str(scored.clv) in html
    assert "Detractor risk" in html


def test_explanation_needs_a_role(client, make_user, scored):
    assert client.get(f"/customers/{scored.customer_id}/value/").status_code == 302  # to the login page
    client.force_login(make_user(None))
    assert client.get(f"/customers/{scored.customer_id}/value/").status_code == 403


def test_customer_without_scores_says_not_computed_yet(agent_client):
    from customers.models import Customer

    fresh = Customer.objects.create(first_name="Fresh")
    html = agent_client.get(f"/customers/{fresh.pk}/").content.decode()
    assert "no value model has been fitted" in html
    assert agent_client.get(f"/customers/{fresh.pk}/value/").status_code == 200
