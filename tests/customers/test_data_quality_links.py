"""Data-quality findings link to the customers and offer a merge; follow-up cases link to the 360 page."""

import pytest

from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_likely_duplicates_link_to_customers_and_offer_the_merge(admin_web_client):
    ann = CustomerFactory(first_name="Ann", last_name="Lee", attributes={"postcode": "LS1 1AA"})
    twin = CustomerFactory(first_name="ann ", last_name="LEE", attributes={"postcode": "ls1 1aa"})
    page = admin_web_client.get("/admin/customers/customer/data-quality/")
    html = page.content.decode()
    assert f'href="/customers/{ann.pk}/"' in html and f'href="/customers/{twin.pk}/"' in html
    merge = f"/admin/customers/customer/merge/?ids={ann.pk},{twin.pk}"
    assert merge in html
    preview = admin_web_client.get(merge)
    assert preview.status_code == 200 and b"Merge two customers" in preview.content


def test_marketers_see_the_findings_without_the_merge(marketer_client):
    CustomerFactory(first_name="Bo", last_name="Ray", attributes={"company": "Acme"})
    CustomerFactory(first_name="Bo", last_name="Ray", attributes={"company": "acme"})
    page = marketer_client.get("/admin/customers/customer/data-quality/")
    assert page.status_code == 200
    assert b"merge-link" not in page.content and b"Merging needs the permission" in page.content


def test_follow_up_cases_link_to_the_customer(agent_client):
    from metrics.services import record_response
    from tests.metrics.helpers import make_survey

    customer = CustomerFactory()
    record_response(survey=make_survey("nps"), score=2, customer_id=customer.pk, external_id="r1")
    link = f'href="/customers/{customer.pk}/"'.encode()
    assert link in agent_client.get("/metrics/cases/").content
    assert link in agent_client.get("/").content  # the home panel
    from metrics.models import FollowUpCase

    case = FollowUpCase.objects.get()
    assert link in agent_client.get(f"/metrics/cases/{case.pk}/").content
