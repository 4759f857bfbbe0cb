"""Channel efficacy: known answers on hand-computed data (run on SQLite and on PostgreSQL)."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from metrics.channel_efficacy import channel_efficacy
from segments.models import Segment, SegmentMembership
from tests.factories import CustomerFactory, InteractionFactory, channel
from tests.metrics.helpers import add_response, make_survey

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 10, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def contact(customer, code, when, *, direction="inbound", outcome="", duration=None, type="support_call"):
    return InteractionFactory(
        customer=customer,
        channel=channel(code),
        direction=direction,
        type=type,
        occurred_at=when,
        outcome=outcome,
        duration_seconds=duration,
    )


@pytest.fixture
def story():
    """Three customers in October 2026 (see each line); one contact in September outside the window.

    phone inbound: a1 b1 b2 b3 c1 c2 (6), with an outcome: a1 b1 b2 c2 (4), resolved a1 b1 c2 (3)
      FCR: a1 came back on chat 2 days later; b1's next contact is 11 days later (b3 is a survey
      answer, not a contact); c2's next is 14 days later → b1, c2 → 2 of 4.
      durations 300 100 200 400 → median 250. Switched within 7 days: a1 only → 1 of 6.
    chat inbound: a2 (resolved, 600 s, no later contact), c4 (escalated) → resolution 1/2, FCR 1/2.
    email: one outbound message.
    """
    ann, bob, cid = CustomerFactory(), CustomerFactory(), CustomerFactory()
    contact(ann, "phone", at(1), outcome="resolved", duration=300)  # a1
    contact(ann, "chat", at(3), outcome="resolved", duration=600)  # a2
    contact(ann, "email", at(4), direction="outbound", type="message")  # a3
    contact(bob, "phone", at(1), outcome="resolved", duration=100)  # b1
    contact(bob, "phone", at(12), outcome="escalated", duration=200)  # b2
    contact(bob, "phone", at(13), type="survey_response")  # b3
    contact(cid, "phone", at(5), duration=400)  # c1
    contact(cid, "phone", at(6), outcome="resolved")  # c2
    contact(cid, "phone", at(20, month=9), outcome="resolved", duration=9000)  # c3, September
    contact(cid, "chat", at(20), outcome="escalated")  # c4
    csat, nps = make_survey("csat"), make_survey("nps")
    for score in (5, 4, 2):
        add_response(csat, score, channel_code="phone", when=at(7), customer=bob)
    for score in (10, 9, 6, 3):
        add_response(nps, score, channel_code="chat", when=at(8), customer=cid)
    add_response(nps, 0, channel_code="chat", when=at(8, month=9), customer=cid)  # outside
    return {"ann": ann, "bob": bob, "cid": cid}


def rows_by_channel(rows):
    return {row["channel"]: row for row in rows}


OCTOBER = {"since": at(1, 0), "until": datetime(2026, 11, 1, tzinfo=UTC)}


def test_phone_figures_match_the_hand_computed_answers(story):
    phone = rows_by_channel(channel_efficacy(**OCTOBER))["phone"]
    assert phone == {
        "channel": "phone",
        "name": "Phone",
        "interactions": 6,
        "inbound": 6,
        "outbound": 0,
        "cost": 27.0,  # 6 × 4.50
        "resolution_rate": 75.0,
        "first_contact_resolution": 50.0,
        "median_handle_seconds": 250.0,
        "csat": 66.7,  # 2 of 3 answered 4–5
        "csat_n": 3,
        "nps": None,
        "nps_n": 0,
        "switch_rate": 16.7,
    }


def test_chat_and_email_figures(story):
    rows = rows_by_channel(channel_efficacy(**OCTOBER))
    chat, email = rows["chat"], rows["email"]
    assert (chat["interactions"], chat["inbound"], chat["cost"]) == (2, 2, 2.4)
    assert (chat["resolution_rate"], chat["first_contact_resolution"]) == (50.0, 50.0)
    assert (chat["median_handle_seconds"], chat["switch_rate"]) == (600.0, 0.0)
    assert (chat["nps"], chat["nps_n"]) == (0.0, 4)  # 2 promoters, 2 detractors; September excluded
    assert (email["interactions"], email["outbound"], email["cost"]) == (1, 1, 0.35)
    assert email["resolution_rate"] is None and email["median_handle_seconds"] is None
    assert email["switch_rate"] is None and email["csat"] is None


def test_without_a_window_everything_counts(story):
    phone = rows_by_channel(channel_efficacy())["phone"]
    assert phone["interactions"] == 7
    # c3 (September, resolved) is followed by c1 15 days later: a first-contact resolution.
    assert phone["first_contact_resolution"] == 60.0
    assert phone["median_handle_seconds"] == 300.0  # 100 200 300 400 9000


def test_segment_filter_keeps_its_members_only(story):
    segment = Segment.objects.create(slug="callers", name="Callers", kind="static")
    SegmentMembership.objects.create(segment=segment, customer=story["ann"], since=timezone.now())
    rows = rows_by_channel(channel_efficacy(segment="callers", **OCTOBER))
    phone, chat = rows["phone"], rows["chat"]
    assert (phone["interactions"], phone["cost"], phone["resolution_rate"]) == (1, 4.5, 100.0)
    assert (phone["first_contact_resolution"], phone["switch_rate"]) == (0.0, 100.0)
    assert (chat["first_contact_resolution"], chat["median_handle_seconds"]) == (100.0, 600.0)
    assert phone["csat"] is None
    assert rows_by_channel(channel_efficacy(segment=str(segment.pk), **OCTOBER))["phone"] == phone


def test_query_count_does_not_grow_with_the_data(story, django_assert_num_queries):
    # channels, volume, median, follow-ups, survey answers
    with django_assert_num_queries(5):
        channel_efficacy(**OCTOBER)
    for _ in range(5):
        customer = CustomerFactory()
        contact(customer, "phone", at(2), outcome="resolved", duration=50)
        contact(customer, "whatsapp", at(3), outcome="resolved", duration=70)
    with django_assert_num_queries(5):
        rows = rows_by_channel(channel_efficacy(**OCTOBER))
    assert rows["whatsapp"]["interactions"] == 5 and rows["phone"]["interactions"] == 11
    Segment.objects.create(slug="nobody-yet", name="Nobody")
    with django_assert_num_queries(6):  # + the segment lookup
        channel_efficacy(segment="nobody-yet", **OCTOBER)


def test_api_returns_the_contract_shape(api_client_with, story):
    api = api_client_with("metrics:read")
    body = api.get("/api/v1/metrics/channels/?since=2026-10-01&until=2026-10-31").json()
    phone = rows_by_channel(body["channels"])["phone"]
    for field in (
        "channel",
        "interactions",
        "inbound",
        "outbound",
        "cost",
        "resolution_rate",
        "first_contact_resolution",
        "median_handle_seconds",
        "csat",
        "nps",
        "switch_rate",
    ):
        assert field in phone
    assert phone["first_contact_resolution"] == 50.0


@pytest.mark.parametrize(
    "query, field",
    [
        ("since=yesterday", "since"),
        ("segment=missing", "segment"),
        ("since=2026-10-05&until=2026-10-01", "since"),
    ],
)
def test_api_bad_input_is_a_clear_400(api_client_with, query, field):
    response = api_client_with("metrics:read").get(f"/api/v1/metrics/channels/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_api_needs_the_metrics_read_scope(api_client_with):
    assert api_client_with("customers:read").get("/api/v1/metrics/channels/").status_code == 403


def test_dashboard_section_shows_charts_and_filters_by_segment(marketer_client, story):
    segment = Segment.objects.create(slug="callers", name="Callers", kind="static")
    SegmentMembership.objects.create(segment=segment, customer=story["ann"], since=timezone.now())
    page = marketer_client.get("/metrics/?since=2026-10-01&until=2026-10-31")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Channel efficacy" in html and 'aria-label="First-contact resolution per channel"' in html
    assert "First-contact resolution (% of inbound with an outcome)" in html  # axis title
    phone = rows_by_channel(page.context["channel_rows"])["phone"]
    assert phone["interactions"] == 6
    filtered = marketer_client.get("/metrics/?since=2026-10-01&until=2026-10-31&segment=callers")
    assert rows_by_channel(filtered.context["channel_rows"])["phone"]["interactions"] == 1
    assert '<option value="callers" selected>' in filtered.content.decode()
    # an unknown segment is a form error on the page, with a 400 (as the API answers)
    unknown = marketer_client.get("/metrics/?segment=nope")
    assert unknown.status_code == 400
    html = unknown.content.decode()
    assert 'id="channel-segment-error"' in html and "There is no segment &#x27;nope&#x27;" in html
    assert 'aria-invalid="true"' in html and unknown.context["channel_rows"] == []
    assert "Voice of the customer" in html or "NPS" in html  # the rest of the dashboard still shows
