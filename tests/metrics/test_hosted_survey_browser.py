"""A customer answers a hosted survey on a phone-sized screen in headless Chromium, without logging in."""

import pytest

from metrics.models import SurveyResponse
from metrics.services import invitations
from tests.browser.conftest import artifacts_dir, browser, wait_for  # noqa: F401 - shared fixtures
from tests.factories import CustomerFactory
from tests.metrics.helpers import grant, make_survey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_customer_answers_on_a_phone(browser, live_server, artifacts_dir):  # noqa: F811
    from selenium.webdriver.common.by import By

    customer = CustomerFactory(preferred_channel="sms", phone="+447700900123")  # the gateway needs a number
    grant(customer, "sms")
    invitation = invitations.invite_customer(survey=make_survey("nps"), customer=customer)
    driver = browser
    driver.delete_all_cookies()
    driver.set_window_size(390, 844)
    try:
        driver.get(f"{live_server.url}{invitations.survey_path(invitation)}")
        assert not driver.find_elements(By.ID, "id_password")
        overflow = driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, "the survey must fit a phone screen without sideways scrolling"
        driver.find_element(By.XPATH, "//fieldset[@class='scale']//span[text()='9']").click()
        driver.find_element(By.ID, "comment").send_keys("Quick and friendly")
        driver.save_screenshot(str(artifacts_dir / "hosted_survey_phone.png"))
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(driver, lambda d: "Thank you" in d.find_element(By.TAG_NAME, "h1").text)
    finally:
        driver.get("about:blank")  # no request may still be running when the live server stops
        driver.set_window_size(1280, 1000)
    response = SurveyResponse.objects.get()
    assert (response.customer_id, response.score, response.comment) == (customer.pk, 9, "Quick and friendly")
