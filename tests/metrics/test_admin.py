import pytest

from metrics.services import invitations, record_response
from tests.factories import CustomerFactory
from tests.metrics.helpers import grant, make_survey

pytestmark = pytest.mark.django_db

MODELS = ("survey", "surveyresponse", "surveyinvitation", "theme", "followupcase")


def test_admin_pages_render(admin_web_client):
    survey = make_survey()
    customer = CustomerFactory()
    grant(customer)
    recorded = record_response(survey=survey, score=1, customer_id=customer.pk, comment="Late delivery")
    response = recorded.response
    invitations.invite_customer(survey=survey, customer=customer)
    objects = {
        "survey": survey.pk,
        "surveyresponse": response.pk,
        "followupcase": response.follow_up_case.pk,
    }
    for model in MODELS:
        assert admin_web_client.get(f"/admin/metrics/{model}/").status_code == 200, model
        if model in objects:
            page = admin_web_client.get(f"/admin/metrics/{model}/{objects[model]}/change/")
            assert page.status_code == 200, model
    assert admin_web_client.get("/admin/metrics/survey/add/").status_code == 200
    assert admin_web_client.get("/admin/metrics/surveyresponse/?themes__id__exact=1").status_code == 200
