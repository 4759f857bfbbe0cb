"""Headless Chromium: a customer changes their choices in the preference centre on a phone; a marketer
creates and sends a campaign in the admin and reads its results."""

import pytest

from customers.models import Consent
from customers.services import record_consent
from cxhub.roles import MARKETER
from outreach.links import preferences_token
from outreach.models import Campaign, CampaignRecipient, Message
from segments.models import Segment, SegmentKind
from segments.services import add_members
from tests.browser.conftest import artifacts_dir, browser, wait_for  # noqa: F401 - shared fixtures
from tests.factories import CustomerFactory, InteractionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "s3cret-campaign-pass"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_customer_changes_choices_in_the_preference_centre_on_a_phone(browser, live_server, artifacts_dir):  # noqa: F811
    from selenium.webdriver.common.by import By

    customer = CustomerFactory(first_name="Ada", phone="+447700900123")
    record_consent(customer=customer, channel="email", purpose="marketing", granted=True, source="web_form")
    InteractionFactory(customer=customer)
    driver = browser
    driver.delete_all_cookies()
    driver.set_window_size(390, 844)
    try:
        driver.get(f"{live_server.url}/preferences/{preferences_token(customer.pk)}/")
        assert "Your choices, Ada" in driver.find_element(By.TAG_NAME, "h1").text
        assert not driver.find_elements(By.TAG_NAME, "script"), "no scripts on the customer's pages"
        overflow = driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, "the preference centre must fit a phone screen"
        email_offers = driver.find_element(By.CSS_SELECTOR, "input[value='email:marketing']")
        sms_surveys = driver.find_element(By.CSS_SELECTOR, "input[value='sms:surveys']")
        assert email_offers.is_selected() and not sms_surveys.is_selected()
        # Every box has a visible label (accessible name) inside its fieldset's legend group.
        assert email_offers.find_element(By.XPATH, "./ancestor::label").text == "Offers and news"
        assert "Contacts with us" in driver.find_element(By.TAG_NAME, "dl").text
        email_offers.click()
        sms_surveys.click()
        driver.save_screenshot(str(artifacts_dir / "preference_centre_phone.png"))
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(
            driver, lambda d: "2 changes recorded" in d.find_element(By.CSS_SELECTOR, "[role=status]").text
        )
        assert not driver.find_element(By.CSS_SELECTOR, "input[value='email:marketing']").is_selected()
    finally:
        driver.get("about:blank")
        driver.set_window_size(1280, 1000)
    changes = Consent.objects.filter(customer=customer, source="preference_center")
    assert sorted(changes.values_list("channel", "purpose", "granted")) == [
        ("email", "marketing", False),
        ("sms", "surveys", True),
    ]


def test_marketer_creates_sends_and_reads_a_campaign(browser, live_server, make_user):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_user(MARKETER, username="marketer-may", password=PASSWORD)
    customers = [CustomerFactory() for _ in range(6)]
    for customer in customers[:5]:
        record_consent(customer=customer, channel="email", purpose="marketing", granted=True, source="test")
    segment = Segment.objects.create(slug="lapsed", name="Lapsed buyers", kind=SegmentKind.STATIC, rules={})
    add_members(segment=segment, customer_ids=[c.pk for c in customers])
    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/accounts/login/?next=/admin/outreach/campaign/add/")
    driver.find_element(By.ID, "id_username").send_keys("marketer-may")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "id_name"))

    driver.find_element(By.ID, "id_name").send_keys("Come back")
    Select(driver.find_element(By.ID, "id_segment")).select_by_visible_text("Lapsed buyers")
    driver.find_element(By.ID, "id_channel").send_keys("email")
    driver.find_element(By.ID, "id_subject").send_keys("We miss you, {first_name}")
    driver.find_element(By.ID, "id_body_text").send_keys("Here is 10% off your next order.")
    holdout = driver.find_element(By.ID, "id_holdout_percent")
    holdout.clear()
    holdout.send_keys("20")
    events = driver.find_element(By.ID, "id_conversion_events")
    events.clear()
    events.send_keys('{"type": "order"}')
    driver.find_element(By.CSS_SELECTOR, "input[name=_continue]").click()
    wait_for(
        driver,
        lambda d: (
            d.find_elements(By.ID, "campaign-results-link") or d.find_elements(By.CSS_SELECTOR, ".errorlist")
        ),
    )
    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".errorlist")]
    assert not errors, errors
    driver.find_element(By.ID, "campaign-results-link").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "campaign-send"))
    assert driver.find_element(By.ID, "result-audience").text == "0"  # nothing decided before sending
    driver.find_element(By.ID, "campaign-send").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    campaign = Campaign.objects.get(name="Come back")
    assert campaign.status == "sent"
    assert driver.find_element(By.ID, "result-audience").text == "6"
    treated = CampaignRecipient.objects.filter(campaign=campaign, group="treated").count()
    holdout_n = CampaignRecipient.objects.filter(campaign=campaign, group="holdout").count()
    assert driver.find_element(By.ID, "result-treated").text == str(treated)
    assert driver.find_element(By.ID, "result-holdout").text == str(holdout_n)
    assert treated + holdout_n == 5 and Message.objects.filter(campaign=campaign).count() == treated
    assert "Blocked: No consent" in driver.find_element(By.ID, "campaign-results").text
    assert "two-proportion z-test" in driver.find_element(By.ID, "result-lift").text
