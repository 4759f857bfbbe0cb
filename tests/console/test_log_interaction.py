"""Logging an interaction from the 360 page: every channel and the types agents need, notes
optional, a reference that links the event to its journey, and errors at the same address."""

import re
import uuid

import pytest

from console.forms import AGENT_TYPES, USUAL_TYPE
from interactions.models import Channel, Interaction
from journeys.models import JourneyInstance
from journeys.services import load_journey_templates
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _options(html: str, select_id: str) -> list[str]:
    block = re.search(rf'<select name="[^"]+"[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"', block)


def _post(client, url, **fields):
    data = {"direction": "inbound", "token": str(uuid.uuid4()), **fields}
    return client.post(url, data)


def test_form_offers_every_active_channel_and_the_agent_and_journey_types(agent_client):
    load_journey_templates()
    Channel.objects.filter(code="video").update(active=False)
    customer = CustomerFactory()
    html = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    channels = _options(html, "log_channel")
    assert set(channels) == set(Channel.objects.filter(active=True).values_list("code", flat=True))
    assert "video" not in channels and {"phone", "whatsapp", "letter", "social"} <= set(channels)
    types = _options(html, "log_type")
    assert types[0] == "" and types[-1] == "other"
    assert {code for _, group in AGENT_TYPES for code in group} <= set(types)
    # Stage types of the shipped journeys are offered, so an agent can move a journey on.
    assert {"complaint_acknowledged", "complaint_outcome_sent", "query_answered", "fix_confirmed"} <= set(
        types
    )


def test_the_form_follows_channel_and_journey_edits_between_requests(agent_client):
    # The unbound form's fields are rendered once per set of choices: an edit must still show.
    customer = CustomerFactory()
    url = f"/customers/{customer.pk}/"
    first = agent_client.get(url).content.decode()
    assert "video" in _options(first, "log_channel")
    assert "complaint_acknowledged" not in _options(first, "log_type")
    Channel.objects.filter(code="video").update(active=False)
    load_journey_templates()
    second = agent_client.get(url).content.decode()
    assert "video" not in _options(second, "log_channel")
    assert "complaint_acknowledged" in _options(second, "log_type")
    Channel.objects.filter(code="video").update(active=True)
    assert "video" in _options(agent_client.get(url).content.decode(), "log_channel")


def test_each_form_gets_its_own_token(agent_client):
    customer = CustomerFactory()
    tokens = [
        re.search(
            r'name="token" value="([^"]+)"', agent_client.get(f"/customers/{customer.pk}/").content.decode()
        ).group(1)
        for _ in range(2)
    ]
    assert tokens[0] != tokens[1]


@pytest.mark.parametrize(
    ("channel", "expected"),
    [("phone", "call"), ("whatsapp", "message"), ("store", "store_visit"), ("web", "note")],
)
def test_the_usual_type_of_the_channel_is_logged_when_none_is_picked(agent_client, channel, expected):
    customer = CustomerFactory()
    response = _post(agent_client, f"/customers/{customer.pk}/", channel=channel, type="")
    assert response.status_code == 302
    logged = Interaction.objects.get(source="cxhub_agent")
    assert (logged.channel.code, logged.type, logged.summary) == (channel, expected, "")  # notes optional
    assert expected == USUAL_TYPE[channel]


def test_a_picked_or_other_type_is_logged_as_given(agent_client):
    customer = CustomerFactory()
    _post(
        agent_client, f"/customers/{customer.pk}/", channel="email", type="complaint", summary="Late parcel"
    )
    _post(
        agent_client,
        f"/customers/{customer.pk}/",
        channel="letter",
        type="other",
        other_type="warranty_claim",
    )
    assert sorted(Interaction.objects.values_list("channel__code", "type")) == [
        ("email", "complaint"),
        ("letter", "warranty_claim"),
    ]


def test_other_type_must_be_named_as_a_type_code(agent_client):
    customer = CustomerFactory()
    missing = _post(agent_client, f"/customers/{customer.pk}/", channel="phone", type="other")
    assert missing.status_code == 400
    assert missing.context["log_form"].errors == {"other_type": ["Name the type, or pick one from the list."]}
    bad = _post(
        agent_client, f"/customers/{customer.pk}/", channel="phone", type="other", other_type="Bad Type!"
    )
    assert bad.status_code == 400 and list(bad.context["log_form"].errors) == ["other_type"]
    assert not Interaction.objects.exists()


def test_an_error_comes_back_at_the_same_address_with_the_filters(agent_client):
    customer = CustomerFactory()
    url = f"/customers/{customer.pk}/?channel=phone&direction=inbound"
    response = _post(agent_client, url, channel="nope")
    assert response.status_code == 400
    assert response.request["PATH_INFO"] == f"/customers/{customer.pk}/"
    assert response.request["QUERY_STRING"] == "channel=phone&direction=inbound"
    html = response.content.decode()
    # The form posts to this very page again, and the timeline filters stay applied.
    assert f'action="/customers/{customer.pk}/?channel=phone&amp;direction=inbound"' in html
    assert '<details class="card log-form" open>' in html
    assert not Interaction.objects.exists()


def test_a_logged_interaction_returns_to_the_same_address(agent_client):
    customer = CustomerFactory()
    url = f"/customers/{customer.pk}/?channel=phone"
    response = _post(agent_client, url, channel="phone", type="callback", summary="Call back on Friday")
    assert response.status_code == 302 and response["Location"] == url
    page = agent_client.get(response["Location"]).content.decode()
    assert "Callback on Phone logged." in page


def test_a_log_posted_on_a_merged_id_lands_on_the_survivor_page(agent_client):
    survivor = CustomerFactory()
    merged = CustomerFactory(merged_into=survivor)
    response = _post(agent_client, f"/customers/{merged.pk}/?channel=email", channel="email", type="email")
    assert response["Location"] == f"/customers/{survivor.pk}/?channel=email"
    assert Interaction.objects.get().customer_id == survivor.pk


def test_a_reference_links_the_event_to_its_journey(
    agent_client, django_capture_on_commit_callbacks, celery_eager
):
    load_journey_templates()
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _post(
            agent_client, f"/customers/{customer.pk}/", channel="phone", type="complaint", reference="C-1042"
        )
    logged = Interaction.objects.get()
    assert logged.properties == {"complaint_id": "C-1042"}
    instance = JourneyInstance.objects.get(customer=customer)
    assert (instance.journey.slug, instance.correlation_value) == ("complaint-to-resolution", "C-1042")
    _post(agent_client, f"/customers/{customer.pk}/", channel="email", type="note", reference="misc-7")
    assert Interaction.objects.get(type="note").properties == {"reference": "misc-7"}


def test_only_service_roles_may_post_to_the_360_page(client, marketer_user):
    customer = CustomerFactory()
    client.force_login(marketer_user)
    response = _post(client, f"/customers/{customer.pk}/", channel="phone")
    assert response.status_code == 403
    assert "This page is not open to your role" in response.content.decode()
    assert not Interaction.objects.exists()


def test_the_earlier_forms_kind_field_still_logs(agent_client):
    customer = CustomerFactory()
    response = agent_client.post(
        f"/customers/{customer.pk}/interactions/",
        {"kind": "call_note", "direction": "inbound", "summary": "Old form", "token": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    assert Interaction.objects.values_list("channel__code", "type").get() == ("phone", "call")
