import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from segments import services
from segments.models import Purpose, Refresh, Segment, SegmentKind
from tests.factories import CustomerFactory


def _panel_queries(client, customer) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/customers/{customer.pk}/")
    assert response.status_code == 200
    return sum(
        "segments_segmentmembership" in q["sql"] for q in ctx.captured_queries
    ), response.content.decode()


@pytest.mark.django_db
def test_360_page_lists_the_customers_segments_with_purpose_in_constant_queries(agent_client):
    ann = CustomerFactory()
    lists = [
        Segment.objects.create(
            slug=f"list-{n}",
            name=f"List {n}",
            kind=SegmentKind.STATIC,
            refresh=Refresh.MANUAL,
            purpose=purpose,
        )
        for n, purpose in enumerate([Purpose.RETENTION, Purpose.UP_SELL])
    ]
    services.add_members(segment=lists[0], customer_ids=[ann.pk])
    queries_one, html = _panel_queries(agent_client, ann)
    assert "List 0" in html and "Retention" in html and "List 1" not in html

    services.add_members(segment=lists[1], customer_ids=[ann.pk])
    queries_two, html = _panel_queries(agent_client, ann)
    assert "List 1" in html and "Up-sell" in html
    # The segments panel reads memberships once; the next-best-channel panel once for both its
    # purposes (campaign results of the customer's segments): constant whatever the memberships.
    assert queries_one == queries_two == 2


@pytest.mark.django_db
def test_merge_moves_static_memberships_to_the_survivor_without_duplicates():
    from customers.merging import merge_customers

    survivor, merged = CustomerFactory(), CustomerFactory()
    both = Segment.objects.create(slug="both", name="Both", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL)
    only_merged = Segment.objects.create(
        slug="only", name="Only", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL
    )
    services.add_members(segment=both, customer_ids=[survivor.pk, merged.pk])
    services.add_members(segment=only_merged, customer_ids=[merged.pk])

    merge_customers(survivor=survivor, merged=merged)

    assert set(both.memberships.values_list("customer_id", flat=True)) == {survivor.pk}
    assert set(only_merged.memberships.values_list("customer_id", flat=True)) == {survivor.pk}


@pytest.mark.django_db
def test_marketer_adds_and_removes_a_customer_from_a_static_list_on_the_360_page(marketer_client):
    ann = CustomerFactory()
    pilot = Segment.objects.create(
        slug="pilot", name="Pilot", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL
    )
    page = marketer_client.get(f"/customers/{ann.pk}/").content.decode()
    assert "Add to list" in page and "Pilot" in page

    response = marketer_client.post(f"/segments/lists/add/{ann.pk}/", {"segment": pilot.pk})
    assert response.status_code == 302 and response["Location"] == f"/customers/{ann.pk}/"
    assert pilot.memberships.filter(customer=ann).exists()

    response = marketer_client.post(
        f"/segments/{pilot.pk}/remove/{ann.pk}/", {"next": f"/customers/{ann.pk}/"}
    )
    assert response.status_code == 302
    assert not pilot.memberships.exists()


@pytest.mark.django_db
def test_agent_sees_segment_pages_but_cannot_edit_lists(agent_client):
    ann = CustomerFactory()
    pilot = Segment.objects.create(
        slug="pilot", name="Pilot", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL
    )
    services.add_members(segment=pilot, customer_ids=[ann.pk])
    assert "Add to list" not in agent_client.get(f"/customers/{ann.pk}/").content.decode()
    assert "Pilot" in agent_client.get("/segments/").content.decode()
    detail = agent_client.get(f"/segments/{pilot.pk}/").content.decode()
    assert str(ann) in detail and "Edit in the builder" not in detail
    assert agent_client.post(f"/segments/{pilot.pk}/remove/{ann.pk}/").status_code == 403
    assert pilot.memberships.count() == 1
