"""Customer search, the Customer 360 page, its timeline fragment and the agent home."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import record_audit
from console.selectors import TIMELINE_PAGE_SIZE as PAGE
from console.views import FIGURES
from customers.models import Consent, IdentityKind
from customers.panels import Panel, register_panel
from cxhub.roles import AGENT
from interactions.models import Direction, Interaction
from tests.factories import BusinessUnitFactory, CustomerFactory, IdentityFactory, InteractionFactory, channel

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are made per test; the production hasher would dominate the run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def add_interactions(customer, n, *, start=T0, **fields):
    """bulk_create ``n`` interactions one minute apart, newest at ``start``."""
    web = channel(fields.pop("channel_code", "web"))
    rows = [
        Interaction(
            customer=customer,
            channel=web,
            direction=fields.get("direction", Direction.INBOUND),
            type=fields.get("type", "page_view"),
            occurred_at=start - timedelta(minutes=i),
            source="bulk",
            external_id=f"{customer.pk}-{fields.get('type', 'pv')}-{start:%s}-{i}",
            summary=fields.get("summary", f"row {i}"),
        )
        for i in range(n)
    ]
    Interaction.objects.bulk_create(rows, batch_size=2000)


def interaction_ids(response):
    return [int(x) for x in re.findall(r'data-interaction="(\d+)"', response.content.decode())]


# ----------------------------------------------------------------------------- access


def test_anonymous_user_is_sent_to_login(client):
    customer = CustomerFactory()
    for url in ("/customers/", f"/customers/{customer.pk}/", f"/customers/{customer.pk}/timeline/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_user_without_role_is_forbidden(client, make_user):
    customer = CustomerFactory()
    client.force_login(make_user(None))
    assert client.get("/customers/?q=ann").status_code == 403
    assert client.get(f"/customers/{customer.pk}/").status_code == 403
    assert client.get(f"/customers/{customer.pk}/timeline/").status_code == 403
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("role", ["Agent", "Marketer", "Admin"])
def test_every_role_may_view_the_360_page(client, make_user, role):
    customer = CustomerFactory(first_name="Ann", last_name="Lee")
    client.force_login(make_user(role))
    response = client.get(f"/customers/{customer.pk}/")
    assert response.status_code == 200
    assert b"Ann Lee" in response.content


def test_unknown_customer_is_404(agent_client):
    assert agent_client.get("/customers/999999/").status_code == 404
    assert agent_client.get("/customers/999999/timeline/").status_code == 404


# ----------------------------------------------------------------------------- search


def test_search_finds_by_partial_name_email_phone_and_external_id(agent_client):
    ann = CustomerFactory(first_name="Annabel", last_name="Leeson", email="ann.leeson@example.com")
    ann.business_units.add(BusinessUnitFactory(code="retail", name="Retail stores"))
    IdentityFactory(customer=ann, kind=IdentityKind.PHONE, value="+447700900123")
    IdentityFactory(customer=ann, kind=IdentityKind.EXTERNAL_ID, namespace="bu_retail", value="R-558812")
    other = CustomerFactory(first_name="Bob", last_name="Stone", email="bob@example.org")

    for query in ("annab", "LEESON", "Annabel Lee", "ann.leeson@exa", "07700 900123", "900123", "558812"):
        response = agent_client.get("/customers/", {"q": query})
        assert response.status_code == 200
        found = [c.pk for c in response.context["results"]]
        assert found == [ann.pk], query
    page = agent_client.get("/customers/", {"q": "558812"}).content.decode()
    assert "Retail stores" in page and "R-558812" in page
    assert [c.pk for c in agent_client.get("/customers/", {"q": "stone"}).context["results"]] == [other.pk]


def test_search_shows_last_activity_and_leaves_out_merged_profiles(agent_client):
    survivor = CustomerFactory(first_name="Zoe", last_name="Quill")
    merged = CustomerFactory(first_name="Zoe", last_name="Quill", merged_into=survivor)
    add_interactions(survivor, 3)
    response = agent_client.get("/customers/", {"q": "quill"})
    results = response.context["results"]
    assert [c.pk for c in results] == [survivor.pk]
    assert results[0].last_activity == T0
    assert merged.pk not in [c.pk for c in results]


def test_search_ignores_one_letter_and_caps_results(agent_client):
    CustomerFactory.create_batch(30, last_name="Mossman")
    short = agent_client.get("/customers/", {"q": "mo"})
    assert short.context["results"] == [] and "at least three characters" in short.content.decode()
    response = agent_client.get("/customers/", {"q": "mossm"})
    assert len(response.context["results"]) == 25
    assert response.context["has_more"] is True


def test_search_query_count_does_not_grow_with_results(agent_client, django_assert_max_num_queries):
    for i in range(20):
        c = CustomerFactory(last_name="Farrow")
        IdentityFactory(customer=c, value=f"farrow{i}@example.org")
        c.business_units.add(BusinessUnitFactory(code="retail"))
    with django_assert_max_num_queries(8):
        agent_client.get("/customers/", {"q": "farrow"})


# ----------------------------------------------------------------------------- the 360 page


def test_360_header_shows_identities_units_lifecycle_channel_and_uncomputed_figures(agent_client):
    customer = CustomerFactory(
        first_name="Ann", last_name="Lee", lifecycle_stage="at_risk", preferred_channel="whatsapp"
    )
    customer.business_units.add(BusinessUnitFactory(code="telecom", name="Telecom"))
    IdentityFactory(customer=customer, kind=IdentityKind.EMAIL, value="ann.lee@example.com", source="shop")
    IdentityFactory(customer=customer, kind=IdentityKind.EXTERNAL_ID, namespace="bu_telecom", value="T-77")
    page = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    for text in (
        "Ann Lee",
        "At risk",
        "WhatsApp",
        "Telecom",
        "ann.lee@example.com",
        "(shop)",
        "T-77",
        "bu_telecom",
        "Lifetime value",
        "Profitability",
        "Cost to serve",
    ):
        assert text in page, text
    assert page.count("not computed yet") == len(FIGURES)  # no model has scored anyone yet


def test_360_shows_current_consent_per_channel_and_purpose_with_when_and_where(agent_client):
    customer = CustomerFactory()
    Consent.objects.create(
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=True,
        source="web-form",
        captured_at=T0 - timedelta(days=10),
    )
    Consent.objects.create(
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=False,
        source="unsubscribe-link",
        captured_at=T0,
    )
    Consent.objects.create(
        customer=customer, channel="sms", purpose="service", granted=True, source="store", captured_at=T0
    )
    response = agent_client.get(f"/customers/{customer.pk}/")
    consents = response.context["c360"].consents
    assert [(c.channel, c.purpose, c.granted, c.source) for c in consents] == [
        ("email", "marketing", False, "unsubscribe-link"),
        ("sms", "service", True, "store"),
    ]
    page = response.content.decode()
    assert "via unsubscribe link" in page and "Withdrawn" in page and "1 Mar 2026" in page


def test_timeline_is_newest_first_with_details(agent_client, agent_user):
    customer = CustomerFactory()
    InteractionFactory(customer=customer, occurred_at=T0 - timedelta(days=1), type="page_view")
    InteractionFactory(
        customer=customer,
        occurred_at=T0,
        type="order_placed",
        channel=channel("store"),
        value="42.50",
        currency="EUR",
        outcome="resolved",
        summary="Bought a kettle",
        agent=agent_user,
    )
    response = agent_client.get(f"/customers/{customer.pk}/")
    rows = response.context["c360"].timeline.interactions
    assert [r.type for r in rows] == ["order_placed", "page_view"]
    page = response.content.decode()
    assert '<option value="order_placed"><option value="page_view">' in page  # type suggestions
    for text in (
        "Order placed",
        "Store",
        "Inbound",
        "Bought a kettle",
        "42.50 EUR",
        "resolved",
        agent_user.username,
    ):
        assert text in page, text


def test_every_view_is_recorded_and_shows_on_the_agent_home(agent_client, agent_user):
    first, second = CustomerFactory(first_name="First"), CustomerFactory(first_name="Second")
    agent_client.get(f"/customers/{first.pk}/")
    agent_client.get(f"/customers/{second.pk}/")
    agent_client.get(f"/customers/{first.pk}/")
    page_views = AuditEvent.objects.filter(action="customer.view").order_by("id")
    views = list(page_views.values_list("actor_user_id", "customer_id", "source"))
    assert views == [
        (agent_user.pk, first.pk, "page"),
        (agent_user.pk, second.pk, "page"),
        (agent_user.pk, first.pk, "page"),
    ]
    assert page_views.first().at is not None
    agent_client.get(f"/customers/{first.pk}/timeline/")  # a fragment is not a page view...
    assert page_views.count() == 3
    # ...but it is a read of the timeline, recorded as one.
    timeline_reads = AuditEvent.objects.filter(action="customer.timeline")
    assert list(timeline_reads.values_list("customer_id", flat=True)) == [first.pk]
    home = agent_client.get("/")
    assert [c.pk for c, _ in home.context["recent"]] == [first.pk, second.pk]
    assert "Your roles: Agent" in home.content.decode()


def test_recently_viewed_is_per_user(client, make_user):
    customer = CustomerFactory()
    ann, bob = make_user(AGENT), make_user(AGENT)
    client.force_login(ann)
    client.get(f"/customers/{customer.pk}/")
    client.force_login(bob)
    assert client.get("/").context["recent"] == []


def test_recently_viewed_leaves_out_views_older_than_the_window(agent_client, agent_user):
    old, fresh = CustomerFactory(), CustomerFactory()
    long_ago = datetime.now(UTC) - timedelta(days=91)
    record_audit(action="customer.view", actor=agent_user, customer_id=old.pk, at=long_ago)
    record_audit(action="customer.view", actor=agent_user, customer_id=fresh.pk)
    assert [c.pk for c, _ in agent_client.get("/").context["recent"]] == [fresh.pk]


def test_merged_id_redirects_to_the_survivor_with_a_notice(agent_client):
    survivor = CustomerFactory(first_name="Survivor")
    middle = CustomerFactory(merged_into=survivor)
    oldest = CustomerFactory(merged_into=middle)
    response = agent_client.get(f"/customers/{oldest.pk}/?channel=web")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{survivor.pk}/?channel=web"
    page = agent_client.get(response["Location"]).content.decode()
    assert f"Customer {oldest.pk} was merged into customer {survivor.pk}" in page
    fragment = agent_client.get(f"/customers/{oldest.pk}/timeline/")
    assert fragment.status_code == 302 and fragment["Location"] == f"/customers/{survivor.pk}/timeline/"


def test_360_lists_merge_history(agent_client, agent_user):
    from customers.models import MergeEvent

    survivor = CustomerFactory()
    merged = CustomerFactory(merged_into=survivor)
    MergeEvent.objects.create(survivor=survivor, merged=merged, rule="same_email", actor=agent_user)
    page = agent_client.get(f"/customers/{survivor.pk}/").content.decode()
    assert f'Absorbed <a href="/customers/{merged.pk}/">customer #{merged.pk}</a>' in page
    assert "same_email" in page


def test_panels_render_in_order_and_may_provide_header_figures(agent_client, monkeypatch, settings, tmp_path):
    monkeypatch.setattr("customers.panels._panels", {})
    (tmp_path / "customers").mkdir()
    (tmp_path / "customers" / "_test_panel.html").write_text("<p>{{ text }}</p>")
    templates = [dict(settings.TEMPLATES[0])]
    templates[0]["DIRS"] = [*templates[0]["DIRS"], tmp_path]
    settings.TEMPLATES = templates
    register_panel(
        Panel(
            name="b",
            title="Second panel",
            template="customers/_test_panel.html",
            context=lambda request, customer: {"text": f"B for {customer.pk}"},
            order=20,
        )
    )
    register_panel(
        Panel(
            name="a",
            title="First panel",
            template="customers/_test_panel.html",
            context=lambda request, customer: {"text": "A", "figures": {"cost_to_serve": "€12.40"}},
            order=10,
        )
    )
    register_panel(
        Panel(
            name="h",
            title="Home panel",
            template="customers/_test_panel.html",
            context=lambda request, customer: {"text": "H"},
            placement="home",
        )
    )
    register_panel(
        Panel(
            name="x",
            title="Admins only",
            template="customers/_test_panel.html",
            context=lambda request, customer: {"text": "X"},
            roles=("Admin",),
        )
    )
    customer = CustomerFactory()
    page = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert page.index("First panel") < page.index("Second panel")
    assert f"B for {customer.pk}" in page and "€12.40" in page and "Admins only" not in page
    assert page.count("not computed yet") == len(FIGURES) - 1
    assert "Home panel" in agent_client.get("/").content.decode()


def test_a_failing_panel_is_reported_in_place_and_the_page_still_renders(agent_client, monkeypatch, caplog):
    monkeypatch.setattr("customers.panels._panels", {})

    def broken(request, customer):
        raise RuntimeError("scores service down")

    register_panel(Panel(name="broken", title="Broken panel", template="missing.html", context=broken))
    customer = CustomerFactory(first_name="Still", last_name="Here")
    response = agent_client.get(f"/customers/{customer.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Still Here" in page and "This panel could not be loaded." in page
    assert "Panel customer:broken failed" in caplog.text


# ----------------------------------------------------------------------------- timeline filters and paging


def test_timeline_filters_by_channel_type_direction_and_dates(agent_client):
    customer = CustomerFactory()
    a = InteractionFactory(
        customer=customer,
        channel=channel("email"),
        type="email_sent",
        direction=Direction.OUTBOUND,
        occurred_at=T0,
    )
    b = InteractionFactory(
        customer=customer, channel=channel("phone"), type="call", occurred_at=T0 - timedelta(days=2)
    )
    c = InteractionFactory(
        customer=customer, channel=channel("phone"), type="complaint", occurred_at=T0 - timedelta(days=5)
    )
    url = f"/customers/{customer.pk}/"
    assert interaction_ids(agent_client.get(url)) == [a.pk, b.pk, c.pk]
    assert interaction_ids(agent_client.get(url, {"channel": "phone"})) == [b.pk, c.pk]
    assert interaction_ids(agent_client.get(url, {"type": "complaint"})) == [c.pk]
    assert interaction_ids(agent_client.get(url, {"direction": "outbound"})) == [a.pk]
    assert interaction_ids(agent_client.get(url, {"since": "2026-02-24", "until": "2026-02-27"})) == [
        b.pk,
        c.pk,
    ]
    assert interaction_ids(agent_client.get(url, {"since": "2026-02-27"})) == [a.pk, b.pk]
    assert interaction_ids(agent_client.get(url, {"until": "2026-02-27"})) == [b.pk, c.pk]
    response = agent_client.get(url, {"channel": "letter"})
    assert (
        interaction_ids(response) == [] and "No interactions match these filters" in response.content.decode()
    )
    bad = agent_client.get(url, {"since": "2026-03-02", "until": "2026-03-01"})
    assert "The end date is before the start date." in bad.content.decode()


def test_load_more_walks_every_row_once_in_order_even_with_equal_times(agent_client):
    customer = CustomerFactory()
    add_interactions(customer, 60)
    add_interactions(customer, 60, type="email_open")  # same timestamps: ties broken by id
    expected = list(
        Interaction.objects.filter(customer=customer)
        .order_by("-occurred_at", "-id")
        .values_list("pk", flat=True)
    )
    response = agent_client.get(f"/customers/{customer.pk}/")
    seen = interaction_ids(response)
    assert len(seen) == PAGE
    html = response.content.decode()
    while 'id="timeline-more"' in html:
        next_url = re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
        assert next_url.startswith(f"/customers/{customer.pk}/timeline/?")
        html = agent_client.get(next_url).content.decode()
        seen += [int(x) for x in re.findall(r'data-interaction="(\d+)"', html)]
    assert seen == expected


def test_load_more_keeps_the_filters(agent_client):
    customer = CustomerFactory()
    add_interactions(customer, PAGE + 5, channel_code="phone", type="call")
    add_interactions(customer, 70, channel_code="web", type="page_view")
    response = agent_client.get(f"/customers/{customer.pk}/", {"channel": "phone"})
    html = response.content.decode()
    next_url = re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "channel=phone" in next_url
    more = agent_client.get(next_url)
    ids = [int(x) for x in re.findall(r'data-interaction="(\d+)"', more.content.decode())]
    assert len(ids) == 5
    assert set(Interaction.objects.filter(pk__in=ids).values_list("type", flat=True)) == {"call"}
    assert 'id="timeline-more"' not in more.content.decode()


def test_a_malformed_cursor_starts_from_the_top(agent_client):
    customer = CustomerFactory()
    add_interactions(customer, 3)
    response = agent_client.get(f"/customers/{customer.pk}/timeline/", {"before": "garbage~x"})
    assert response.status_code == 200 and len(interaction_ids(response)) == 3


# ----------------------------------------------------------------------------- speed


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def test_360_page_and_fragment_cost_the_same_queries_for_1_and_10000_interactions(
    agent_client, django_assert_num_queries
):
    small, big = CustomerFactory(), CustomerFactory()
    for customer in (small, big):
        IdentityFactory(customer=customer)
        customer.business_units.add(BusinessUnitFactory(code="retail"))
        Consent.objects.create(
            customer=customer, channel="email", purpose="marketing", granted=True, captured_at=T0
        )
    add_interactions(small, 1)
    add_interactions(big, 10_000)
    agent_client.get(f"/customers/{small.pk}/")  # warm the session and role caches alike for both

    small_page, sqls = _count_queries(agent_client, f"/customers/{small.pk}/")
    # Nothing counts the history; counting inside a bounded sample (the next-best line's latest
    # 500 interactions) is not counting the timeline.
    assert not [s for s in sqls if "COUNT(" in s.upper() and "interaction" in s and "LIMIT" not in s.upper()]
    with django_assert_num_queries(small_page):
        response = agent_client.get(f"/customers/{big.pk}/")
    assert len(response.context["c360"].timeline.interactions) == PAGE

    first = Interaction.objects.filter(customer=big).order_by("-occurred_at", "-id")[PAGE - 1]
    cursor = f"{first.occurred_at.isoformat()}~{first.pk}"
    small_fragment, _ = _count_queries(agent_client, f"/customers/{small.pk}/timeline/?before={cursor}")
    with django_assert_num_queries(small_fragment):
        agent_client.get(reverse("customers:timeline", args=[big.pk]), {"before": cursor})


# ----------------------------------------------------------------------------- logging an interaction


def test_agent_logs_a_call_note_and_sees_it_at_the_top(agent_client, agent_user):
    customer = CustomerFactory()
    add_interactions(customer, 5, start=datetime.now(UTC) - timedelta(hours=1))
    form = agent_client.get(f"/customers/{customer.pk}/").context["log_form"]
    token = form["token"].value()
    response = agent_client.post(
        f"/customers/{customer.pk}/interactions/",
        {
            "channel": "phone",
            "type": "",
            "direction": "inbound",
            "summary": "Asked about the invoice",
            "outcome": "resolved",
            "token": token,
        },
    )
    assert response.status_code == 302 and response["Location"] == f"/customers/{customer.pk}/"
    logged = Interaction.objects.get(source="cxhub_agent")
    assert (logged.customer_id, logged.channel.code, logged.type, logged.agent_id) == (
        customer.pk,
        "phone",
        "call",
        agent_user.pk,
    )
    page = agent_client.get(response["Location"])
    assert interaction_ids(page)[0] == logged.pk
    assert "Call on Phone logged." in page.content.decode()
    again = agent_client.post(
        f"/customers/{customer.pk}/interactions/",
        {"channel": "phone", "direction": "inbound", "summary": "Asked about the invoice", "token": token},
        follow=True,
    )
    assert Interaction.objects.filter(source="cxhub_agent").count() == 1
    assert "already logged" in again.content.decode()


def test_a_note_logged_on_a_merged_id_lands_on_the_survivor(agent_client):
    survivor = CustomerFactory()
    merged = CustomerFactory(merged_into=survivor)
    data = {
        "channel": "email",
        "direction": "outbound",
        "summary": "Sent the quote",
        "token": str(uuid.uuid4()),
    }
    response = agent_client.post(f"/customers/{merged.pk}/interactions/", data)
    assert response["Location"] == f"/customers/{survivor.pk}/"
    logged = Interaction.objects.get(source="cxhub_agent")
    assert (logged.customer_id, logged.channel.code, logged.direction) == (survivor.pk, "email", "outbound")


def test_logging_needs_a_known_channel_and_type(agent_client):
    customer = CustomerFactory()
    response = agent_client.post(
        f"/customers/{customer.pk}/interactions/",
        {"channel": "telepathy", "type": "séance", "direction": "inbound", "summary": "", "token": "x"},
    )
    assert response.status_code == 400
    assert response.context["log_form"].errors.keys() == {"channel", "type", "token"}
    assert not Interaction.objects.exists()


def test_logging_is_for_agents_and_admins_with_csrf(client, marketer_user, agent_user):
    from django.test import Client

    customer = CustomerFactory()
    client.force_login(marketer_user)
    assert client.get(f"/customers/{customer.pk}/").context["log_form"] is None
    data = {
        "channel": "store",
        "direction": "inbound",
        "summary": "hi",
        "token": "3f1c5a3e-4b2a-4c77-9a0d-111111111111",
    }
    assert client.post(f"/customers/{customer.pk}/interactions/", data).status_code == 403
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(agent_user)
    assert csrf_client.post(f"/customers/{customer.pk}/interactions/", data).status_code == 403
    assert "csrfmiddlewaretoken" in csrf_client.get(f"/customers/{customer.pk}/").content.decode()
    assert not Interaction.objects.exists()


def test_360_page_reads_the_customers_segment_memberships_twice_at_most(agent_client):
    """The segments panel reads them once; the next-best-channel line once for both its purposes."""
    from segments.models import Segment, SegmentMembership

    customer = CustomerFactory()
    for slug in ("loyal", "high-value"):
        segment = Segment.objects.create(slug=slug, name=slug, kind="static", rules={})
        SegmentMembership.objects.create(segment=segment, customer=customer, since=T0)
    agent_client.get(f"/customers/{customer.pk}/")  # warm the session and role caches
    _, sqls = _count_queries(agent_client, f"/customers/{customer.pk}/")
    table = SegmentMembership._meta.db_table
    reads = [s for s in sqls if f'FROM "{table}"' in s]
    assert len(reads) == 2, reads
