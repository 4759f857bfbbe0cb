import pytest

from interactions.models import Interaction
from metrics.models import FollowUpCase, SurveyResponse
from tests.factories import CustomerFactory, InteractionFactory
from tests.metrics.helpers import make_survey

pytestmark = pytest.mark.django_db


def _item(**overrides):
    item = {
        "external_id": "r-1",
        "score": 9,
        "responded_at": "2026-10-01T10:00:00Z",
        "customer": {"email": " Ann.Lee@Example.com"},
        "comment": "Friendly staff and quick delivery",
        "channel": "web",
    }
    item.update(overrides)
    return item


def test_create_survey_sets_the_standard_scale(api_client_with):
    api = api_client_with("metrics:write")
    response = api.post("/api/v1/surveys/", {"name": "Post-purchase", "kind": "ces", "question": "Easy?"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["scale_min"], body["scale_max"]) == (1, 7)


def test_create_survey_rejects_unknown_kind_and_channel(api_client_with):
    api = api_client_with("metrics:write")
    bad_kind = api.post("/api/v1/surveys/", {"name": "x", "kind": "stars", "question": "?"})
    assert bad_kind.status_code == 400
    assert bad_kind.json()["error"]["field"] == "kind"
    bad_channel = api.post(
        "/api/v1/surveys/", {"name": "x", "kind": "nps", "question": "?", "channel": "pigeon"}
    )
    assert bad_channel.status_code == 400
    assert bad_channel.json()["error"]["field"] == "channel"


def test_survey_endpoints_need_their_scopes(api_client_with):
    survey = make_survey()
    reader = api_client_with("metrics:read")
    assert reader.post("/api/v1/surveys/", {"name": "x", "kind": "nps", "question": "?"}).status_code == 403
    assert reader.post(f"/api/v1/surveys/{survey.pk}/responses/", _item()).status_code == 403
    assert api_client_with("customers:read").get("/api/v1/metrics/nps/").status_code == 403


def test_response_is_stored_linked_and_on_the_timeline(api_client_with):
    survey = make_survey()
    prompt = InteractionFactory(type="order_delivered")
    api = api_client_with("metrics:write")
    response = api.post(
        f"/api/v1/surveys/{survey.pk}/responses/",
        _item(customer=None, customer_id=prompt.customer_id, interaction_id=prompt.pk),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["category"] == "promoter"
    assert body["customer_id"] == prompt.customer_id
    assert body["interaction_id"] == prompt.pk
    assert body["sentiment_label"] == "positive"
    assert set(body["themes"]) == {"staff", "delivery"}
    timeline = Interaction.objects.get(pk=body["timeline_interaction_id"])
    assert (timeline.customer_id, timeline.direction, timeline.type) == (
        prompt.customer_id,
        "inbound",
        "survey_response",
    )
    assert timeline.properties["score"] == 9


def test_response_resolves_customer_by_identity_and_is_idempotent(api_client_with):
    survey = make_survey()
    api = api_client_with("metrics:write")
    first = api.post(f"/api/v1/surveys/{survey.pk}/responses/", _item(), format="json")
    again = api.post(f"/api/v1/surveys/{survey.pk}/responses/", _item(score=2), format="json")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["score"] == 9
    assert SurveyResponse.objects.count() == 1
    other = api.post(f"/api/v1/surveys/{survey.pk}/responses/", _item(external_id="r-2"), format="json")
    assert other.json()["customer_id"] == first.json()["customer_id"]


def test_response_errors_name_the_field(api_client_with):
    survey = make_survey("csat")
    api = api_client_with("metrics:write")
    url = f"/api/v1/surveys/{survey.pk}/responses/"
    out_of_scale = api.post(url, _item(score=9), format="json")
    assert out_of_scale.status_code == 400
    assert out_of_scale.json()["error"]["field"] == "score"
    bad_email = api.post(url, _item(score=4, customer={"email": "nope"}), format="json")
    assert bad_email.status_code == 400
    assert bad_email.json()["error"]["field"].startswith("customer")
    missing = api.post(url, _item(score=4, customer=None), format="json")
    assert missing.status_code == 400
    unknown = api.post(url, {**_item(score=4), "customer_id": 999999, "customer": None}, format="json")
    assert unknown.status_code in (400, 404)
    assert api.post("/api/v1/surveys/99999/responses/", _item(), format="json").status_code == 404


def test_detractor_opens_a_follow_up_case_and_promoter_does_not(api_client_with):
    survey = make_survey()
    customer = CustomerFactory()
    api = api_client_with("metrics:write")
    url = f"/api/v1/surveys/{survey.pk}/responses/"
    api.post(url, _item(external_id="a", score=10, customer_id=customer.pk, customer=None), format="json")
    detractor = api.post(
        url,
        _item(external_id="b", score=3, customer_id=customer.pk, customer=None, comment="Rude agent"),
        format="json",
    )
    case = FollowUpCase.objects.get()
    assert case.response_id == detractor.json()["id"]
    assert case.status == "open"
    assert (case.due_at - case.opened_at).total_seconds() == survey.follow_up_sla_hours * 3600


def test_batch_reports_each_item_and_resending_creates_nothing(api_client_with):
    survey = make_survey()
    api = api_client_with("metrics:write")
    url = f"/api/v1/surveys/{survey.pk}/responses/batch/"
    items = [_item(external_id="b-1"), _item(external_id="b-2", score=11), _item(external_id="b-3", score=0)]
    first = api.post(url, {"items": items}, format="json")
    assert first.status_code == 200
    body = first.json()
    assert [r["status"] for r in body["results"]] == ["created", "error", "created"]
    assert body["results"][1]["error"]["field"] == "score"
    assert (body["created"], body["duplicates"], body["errors"]) == (2, 0, 1)
    again = api.post(url, {"items": items}, format="json").json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "error", "duplicate"]
    assert again["results"][0]["id"] == body["results"][0]["id"]
    assert SurveyResponse.objects.count() == 2


def test_batch_rejects_a_body_without_items(api_client_with):
    survey = make_survey()
    response = api_client_with("metrics:write").post(
        f"/api/v1/surveys/{survey.pk}/responses/batch/", {"rows": []}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "items"


def test_a_rejected_response_creates_no_customer(api_client_with):
    from customers.models import Customer

    survey = make_survey()
    api = api_client_with("metrics:write")
    before = Customer.objects.count()
    bad = api.post(
        f"/api/v1/surveys/{survey.pk}/responses/",
        _item(customer={"email": "new.person@example.org"}, channel="pigeon"),
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "channel"
    assert Customer.objects.count() == before


def test_record_responses_service_isolates_bad_items_and_reports_duplicates():
    from datetime import UTC, datetime

    from metrics.services import record_responses
    from metrics.services.responses import RejectedItem

    survey = make_survey()
    ann = CustomerFactory()

    def parse(item):
        if item.get("score") is None:
            raise RejectedItem({"code": "invalid", "message": "score: required", "field": "score"})
        return {
            "external_id": item["id"],
            "score": item["score"],
            "responded_at": datetime(2026, 10, 1, tzinfo=UTC),
            "customer_id": ann.pk,
        }

    items = [{"id": "s-1", "score": 10}, {"id": "s-2"}, "not an object", {"id": "s-1", "score": 10}]
    body = record_responses(survey=survey, items=items, parse=parse)
    assert [r["status"] for r in body["results"]] == ["created", "error", "error", "duplicate"]
    assert body["results"][1]["error"]["field"] == "score"
    assert body["results"][3]["id"] == body["results"][0]["id"]
    assert (body["created"], body["duplicates"], body["errors"]) == (1, 1, 2)
    assert SurveyResponse.objects.filter(survey=survey).count() == 1
