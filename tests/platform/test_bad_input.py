"""Bad input is a 400 in the common error format, never a 500: cursors, NUL characters,
empty or deeply nested rules and traits, out-of-range dates and numbers."""

import base64

import pytest
from rest_framework.test import APIClient

from cxhub.roles import SCOPES
from cxhub.services import create_api_client
from metrics.models import Survey
from segments.models import Segment
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(db):
    client = APIClient()
    client.raise_request_exception = False
    client.credentials(
        HTTP_AUTHORIZATION="Bearer " + create_api_client(name="bad", scopes=list(SCOPES)).token
    )
    return client


@pytest.fixture
def objects(db):
    customer = CustomerFactory()
    segment = Segment.objects.create(
        slug="leads", name="Leads", rules={"attr": "lifecycle_stage", "op": "eq", "value": "lead"}
    )
    survey = Survey.objects.create(name="NPS", kind="nps", question="Recommend us?")
    return {"customer": customer.pk, "segment": segment.pk, "survey": survey.pk}


LISTS = [
    "/api/v1/customers/",
    "/api/v1/customers/{customer}/identities/",
    "/api/v1/customers/{customer}/merges/",
    "/api/v1/customers/{customer}/consents/",
    "/api/v1/customers/{customer}/timeline/",
    "/api/v1/interactions/",
    "/api/v1/journeys/",
    "/api/v1/journeys/instances/",
    "/api/v1/journeys/exceptions/",
    "/api/v1/segments/",
    "/api/v1/segments/{segment}/members/",
    "/api/v1/segments/{segment}/movements/",
    "/api/v1/segments/{segment}/runs/",
    "/api/v1/surveys/",
    "/api/v1/surveys/{survey}/responses/",
    "/api/v1/follow-up-cases/",
]


def _cursor(querystring: str) -> str:
    return base64.b64encode(querystring.encode()).decode()


BAD_CURSORS = [
    "not-base64!",
    _cursor("p=abc"),
    _cursor("p=1e30"),
    _cursor("p=2026-13-45T00:00:00Z"),
    _cursor("p=99999999999999999999999"),
    _cursor("p=\x00"),
    _cursor("o=x"),
]


def _assert_error(response, status=400, field=None):
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    if field is not None:
        assert body["error"].get("field") == field, body


@pytest.mark.parametrize("url", LISTS)
def test_a_bad_cursor_on_any_list_is_a_400(api, objects, url):
    for cursor in BAD_CURSORS:
        _assert_error(api.get(url.format(**objects), {"cursor": cursor}), field="cursor")


@pytest.mark.parametrize("url", LISTS)
def test_a_good_cursor_still_pages(api, objects, url):
    first = api.get(url.format(**objects), {"page_size": 1})
    assert first.status_code == 200
    assert "results" in first.json()


@pytest.mark.parametrize(
    "url",
    [
        *LISTS,
        "/api/v1/metrics/nps/",
        "/api/v1/segments/{segment}/kpis/",
        "/api/v1/journeys/exceptions/",
    ],
)
def test_a_nul_character_in_any_query_parameter_is_a_400(api, objects, url):
    for name in ("q", "email", "channel", "type", "status", "kind", "journey", "segment", "business_unit"):
        _assert_error(api.get(url.format(**objects), {name: "a\x00b"}), field=name)


def test_a_nul_character_in_a_page_query_is_a_400(agent_client):
    assert agent_client.get("/customers/", {"q": "ann\x00"}).status_code == 400


@pytest.mark.parametrize("name", ["until", "to", "since"])
@pytest.mark.parametrize("value", ["2026-13-45", "9999-12-31", "1e30"])
def test_out_of_range_dates_in_metric_filters_are_a_400(api, name, value):
    _assert_error(api.get("/api/v1/metrics/nps/", {name: value}))


def _deep(rule, levels, key="not"):
    for _ in range(levels):
        rule = {key: rule} if key == "not" else {key: [rule]}
    return rule


LEAF = {"attr": "lifecycle_stage", "op": "eq", "value": "lead"}
BAD_RULES = [
    ({"any": []}, "rules.any"),
    ({"all": []}, "rules.all"),
    ({"attr": "lifecycle_stage", "op": "eq", "value": "a\x00"}, "rules.value"),
    ({"attr": "attributes.tier", "op": "eq", "value": "gold\x00"}, "rules.value"),
    ({"events": {"type": "order\x00"}}, "rules.events.type"),
    ({"events": {"properties": {"k\x00": "v"}}}, "rules.events.properties"),
    ({"business_unit": "a\x00"}, "rules.business_unit"),
    ({"identity": "external_id", "namespace": "a\x00", "op": "exists"}, "rules.namespace"),
    ({"consent": {"channel": "a\x00", "purpose": "marketing"}, "is": "granted"}, "rules.consent.channel"),
    ({"journey": "a\x00", "state": "active"}, "rules.journey"),
    ({"events": {"since": "2026-13-45"}}, "rules.events.since"),
    ({"events": {"until": "9999-12-31"}}, None),
    ({"attr": "created_at", "op": "gt", "value": "9999-12-31"}, None),
    ({"events": {}, "count": {"op": "gte", "value": 1e30}}, "rules.count.value"),
    ({"events": {}, "sum": {"field": "value", "op": "gte", "value": 1e30}}, "rules.sum.value"),
    ({"attr": "attributes.score", "op": "gt", "value": 1e30}, "rules.value"),
    ({"attr": "created_at", "op": "within_last_days", "value": 1e30}, "rules.value"),
    ({"survey": {"kind": "nps", "within_days": 10**12}}, "rules.survey.within_days"),
    (_deep(LEAF, 900), None),
    (_deep(LEAF, 300, key="all"), None),
]


@pytest.mark.parametrize(("rules", "field"), BAD_RULES, ids=[str(i) for i in range(len(BAD_RULES))])
def test_bad_rules_are_a_400_on_preview_and_save(api, rules, field):
    _assert_error(api.post("/api/v1/segments/preview/", {"rules": rules}, format="json"), field=field)
    created = api.post(
        "/api/v1/segments/", {"slug": "bad", "name": "Bad", "rules": rules, "purpose": "other"}, format="json"
    )
    _assert_error(created, field=field)
    assert not Segment.objects.filter(slug="bad").exists()


def test_rules_at_a_sensible_depth_still_work(api):
    response = api.post("/api/v1/segments/preview/", {"rules": _deep(LEAF, 20)}, format="json")
    assert response.status_code == 200, response.content


def _deep_traits(levels):
    value = {"city": "Leeds"}
    for _ in range(levels):
        value = {"nested": value}
    return value


@pytest.mark.parametrize(
    ("traits", "field"),
    [
        ({"plan": "gold\x00"}, "traits.plan"),
        ({"pl\x00an": "gold"}, "traits"),
        ({"first_name": "Ann\x00"}, "traits.first_name"),
        (_deep_traits(900), None),
    ],
)
def test_bad_traits_on_resolve_are_a_400(api, traits, field):
    response = api.post(
        "/api/v1/customers/resolve/",
        {"identities": [{"kind": "email", "value": "ann@example.com"}], "traits": traits},
        format="json",
    )
    _assert_error(response, field=field)


def test_docs_with_a_bearer_token_and_another_method_never_500(api):
    assert api.get("/api/docs/").status_code == 200
    _assert_error(api.post("/api/docs/", {}, format="json"), status=405)
