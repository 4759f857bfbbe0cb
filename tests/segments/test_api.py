import csv
import io

import pytest

from segments import services
from segments.models import Refresh, Segment, SegmentKind
from tests.factories import CustomerFactory, IdentityFactory

GOLD = {"attr": "attributes.plan", "op": "eq", "value": "gold"}


@pytest.fixture
def reader(api_client_with):
    return api_client_with("segments:read")


@pytest.fixture
def writer(api_client_with):
    return api_client_with("segments:read", "segments:write")


@pytest.mark.django_db
def test_schema_is_served_and_lists_builtin_conditions(reader):
    response = reader.get("/api/v1/segments/schema/")
    assert response.status_code == 200
    defs = response.json()["$defs"]
    refs = {alt["$ref"] for alt in defs["condition"]["oneOf"]}
    assert {"#/$defs/condition_attr", "#/$defs/condition_events", "#/$defs/condition_segment"} <= refs


@pytest.mark.django_db
def test_preview_counts_and_samples_an_unsaved_rule(reader):
    gold = [CustomerFactory(attributes={"plan": "gold"}) for _ in range(3)]
    CustomerFactory(attributes={"plan": "basic"})
    response = reader.post("/api/v1/segments/preview/", {"rules": GOLD}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    assert {c["id"] for c in body["sample"]} == {c.pk for c in gold}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"all": [{"attr": "lifecycle_stage", "op": "equals", "value": "x"}]}, "rules.all[0].op"),
        ({"any": [{"not": {"identity": "fax", "op": "exists"}}]}, "rules.any[0].not.identity"),
        ({"events": {"type": "order"}, "count": {"op": "gte"}}, "rules.count"),
        ({"segment": "nope", "is": "member"}, "rules.segment"),
        ({"bogus": 1}, "rules"),
    ],
)
def test_invalid_rule_is_a_400_naming_the_json_path(reader, rules, field):
    response = reader.post("/api/v1/segments/preview/", {"rules": rules}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


@pytest.mark.django_db
def test_read_scope_cannot_write(reader):
    response = reader.post("/api/v1/segments/", {"slug": "x", "name": "X", "rules": GOLD}, format="json")
    assert response.status_code == 403


@pytest.mark.django_db
def test_no_scope_cannot_read(api_client_with):
    assert api_client_with("customers:read").get("/api/v1/segments/").status_code == 403


@pytest.mark.django_db
def test_create_recompute_and_list_members(writer, celery_eager, django_capture_on_commit_callbacks):
    gold = CustomerFactory(attributes={"plan": "gold"})
    IdentityFactory(customer=gold, value="gold@example.org")
    CustomerFactory(attributes={"plan": "basic"})
    with django_capture_on_commit_callbacks(execute=True):
        response = writer.post(
            "/api/v1/segments/",
            {"slug": "gold", "name": "Gold", "purpose": "up_sell", "rules": GOLD, "refresh": "manual"},
            format="json",
        )
    assert response.status_code == 201, response.content
    segment = response.json()
    assert segment["purpose"] == "up_sell" and segment["kind"] == "dynamic"

    with django_capture_on_commit_callbacks(execute=True):
        response = writer.post(f"/api/v1/segments/{segment['id']}/recompute/")
    assert response.status_code == 202
    run_id = response.json()["run_id"]

    runs = writer.get(f"/api/v1/segments/{segment['id']}/runs/").json()["results"]
    assert runs[0]["id"] == run_id and runs[0]["status"] == "succeeded" and runs[0]["added"] == 1

    members = writer.get(f"/api/v1/segments/{segment['id']}/members/").json()
    assert [m["id"] for m in members["results"]] == [gold.pk] and members["next"] is None

    response = writer.get(f"/api/v1/segments/{segment['id']}/members.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["customer_id"]) for r in rows] == [gold.pk]
    assert "email:gold@example.org" in rows[0]["identities"]

    movements = writer.get(f"/api/v1/segments/{segment['id']}/movements/").json()["results"]
    assert [(m["customer"], m["kind"]) for m in movements] == [(gold.pk, "entered")]
    kpis = writer.get(f"/api/v1/segments/{segment['id']}/kpis/").json()
    assert kpis["size"] == 1 and kpis["entered"] == 1


@pytest.mark.django_db
def test_members_are_cursor_paginated(reader):
    segment = Segment.objects.create(
        slug="list", name="List", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL
    )
    customers = [CustomerFactory() for _ in range(5)]
    services.add_members(segment=segment, customer_ids=[c.pk for c in customers])
    page = reader.get(f"/api/v1/segments/{segment.pk}/members/?page_size=2").json()
    seen = [m["id"] for m in page["results"]]
    while page["next"]:
        page = reader.get(page["next"]).json()
        seen += [m["id"] for m in page["results"]]
    assert sorted(seen) == sorted(c.pk for c in customers) and len(seen) == 5


@pytest.mark.django_db
def test_cycle_is_rejected_on_update(writer):
    Segment.objects.create(slug="a", name="A", rules=GOLD)
    b = Segment.objects.create(slug="b", name="B", rules={"segment": "a", "is": "member"})
    a = Segment.objects.get(slug="a")
    response = writer.patch(
        f"/api/v1/segments/{a.pk}/", {"rules": {"segment": "b", "is": "member"}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "segment_cycle"
    assert response.json()["error"]["field"] == "rules.segment"
    assert b.pk


@pytest.mark.django_db
def test_static_list_add_remove_import_and_freeze(writer):
    CustomerFactory(email="ann@example.org")
    ben = CustomerFactory()
    static = Segment.objects.create(slug="list", name="List", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL)
    url = f"/api/v1/segments/{static.pk}"
    assert writer.post(f"{url}/members/", {"customer_ids": [ben.pk]}, format="json").json()["added"] == 1
    body = writer.post(f"{url}/import/", {"csv": "ann@example.org\nzz@example.org\n"}, format="json").json()
    assert body["added"] == 1 and body["unmatched"] == ["zz@example.org"]
    assert writer.delete(f"{url}/members/{ben.pk}/").status_code == 204
    assert writer.delete(f"{url}/members/{ben.pk}/").status_code == 404
    response = writer.post(f"{url}/freeze/", {"slug": "list-copy", "name": "Copy"}, format="json")
    assert response.status_code == 201 and response.json()["member_count"] == 1
    assert writer.post(f"{url}/recompute/").status_code == 409


@pytest.mark.django_db
def test_segment_in_use_cannot_be_deleted(writer):
    a = Segment.objects.create(slug="a", name="A", rules=GOLD)
    Segment.objects.create(slug="b", name="B", rules={"segment": "a", "is": "member"})
    assert writer.delete(f"/api/v1/segments/{a.pk}/").status_code == 409


@pytest.mark.django_db
def test_members_and_movements_pages_use_constant_queries(reader):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    segment = Segment.objects.create(
        slug="list", name="List", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL
    )

    def counts():
        found = []
        for url in ("members/", "movements/", "runs/"):
            with CaptureQueriesContext(connection) as ctx:
                assert reader.get(f"/api/v1/segments/{segment.pk}/{url}").status_code == 200
            found.append(len(ctx.captured_queries))
        return found

    services.add_members(segment=segment, customer_ids=[CustomerFactory().pk for _ in range(2)])
    counts()  # the first request of a token also records its last use
    few = counts()
    services.add_members(segment=segment, customer_ids=[CustomerFactory().pk for _ in range(12)])
    assert counts() == few


@pytest.mark.django_db
def test_customer_list_filters_by_segment_slug_or_id(api_client_with):
    client = api_client_with("customers:read")
    segment = Segment.objects.create(slug="vip", name="VIP", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL)
    members = [CustomerFactory(), CustomerFactory()]
    CustomerFactory()  # not a member
    services.add_members(segment=segment, customer_ids=[c.pk for c in members])
    for value in ("vip", str(segment.pk)):
        response = client.get(f"/api/v1/customers/?segment={value}")
        assert response.status_code == 200
        assert sorted(c["id"] for c in response.json()["results"]) == sorted(c.pk for c in members)
    response = client.get("/api/v1/customers/?segment=nope")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "segment"
