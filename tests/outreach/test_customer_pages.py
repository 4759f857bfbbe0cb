"""The customer's side without a login: one-click unsubscribe (RFC 8058) and the preference centre."""

import pytest

from customers.models import Consent
from outreach.links import preferences_token, unsubscribe_token
from outreach.services import send_message
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def marketing_message(consenting):
    customer = consenting(CustomerFactory(), "email")
    return send_message(customer=customer, channel="email", purpose="marketing", subject="Sale", body="x")


def test_one_click_post_withdraws_the_consent_with_the_message_as_evidence(client, consenting):
    message = marketing_message(consenting)
    url = f"/unsubscribe/{unsubscribe_token(message.pk)}/"
    assert client.get(url).status_code == 200  # a GET shows a button and changes nothing
    assert not Consent.objects.filter(customer=message.customer, granted=False).exists()
    answer = client.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200 and b"You are unsubscribed" in answer.content
    withdrawal = Consent.objects.get(customer=message.customer, granted=False)
    assert (withdrawal.channel, withdrawal.purpose, withdrawal.source) == (
        "email",
        "marketing",
        "one_click_unsubscribe",
    )
    assert f"message {message.pk}" in withdrawal.evidence
    client.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert Consent.objects.filter(customer=message.customer, granted=False).count() == 1  # once
    again = send_message(customer=message.customer, channel="email", purpose="marketing", body="y")
    assert again.reason == "consent"


def test_forged_links_are_refused_without_a_500(client):
    assert client.post("/unsubscribe/not-a-token/").status_code == 404
    assert client.get("/preferences/eyJjIjoxfQ:forged/").status_code == 404


def test_preference_centre_shows_choices_and_appends_changes(client, consenting):
    customer = consenting(CustomerFactory(first_name="Ada"), "email")
    url = f"/preferences/{preferences_token(customer.pk)}/"
    page = client.get(url).content.decode()
    assert "Your choices, Ada" in page and 'value="email:marketing" checked' in page
    assert "<script" not in page and "What we hold about you" in page
    answer = client.post(
        url, {"granted": ["email:service", "sms:service", "whatsapp:service", "phone:service"]}
    )
    assert "1 change recorded" in answer.content.decode()
    change = Consent.objects.get(customer=customer, source="preference_center")
    assert (change.channel, change.purpose, change.granted) == ("email", "marketing", False)
