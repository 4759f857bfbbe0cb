"""A marketer builds a segment in the admin with headless Chromium and sees the live preview count."""

import pytest

from cxhub.roles import MARKETER
from segments.models import Segment
from tests.browser.conftest import browser, wait_for  # noqa: F401 - the shared headless Chromium fixture
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "s3cret-builder-pass"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_marketer_builds_segment_and_sees_preview_count(browser, live_server, make_user):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_user(MARKETER, username="marketer-mo", password=PASSWORD)
    for _ in range(3):
        CustomerFactory(attributes={"plan": "gold"})
    CustomerFactory(attributes={"plan": "basic"})
    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/accounts/login/?next=/admin/segments/segment/add/")
    driver.find_element(By.ID, "id_username").send_keys("marketer-mo")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".segment-builder"))

    driver.find_element(By.ID, "id_name").send_keys("Gold plan")
    Select(driver.find_element(By.CSS_SELECTOR, ".sb-kind")).select_by_value("attr")
    driver.find_element(By.CSS_SELECTOR, ".sb-attr").send_keys("attributes.plan")
    Select(driver.find_element(By.CSS_SELECTOR, ".sb-op")).select_by_visible_text("eq")
    driver.find_element(By.CSS_SELECTOR, ".sb-value").send_keys("gold")
    driver.find_element(By.CSS_SELECTOR, ".sb-add").click()

    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".segment-preview .sp-count"))
    assert driver.find_element(By.CSS_SELECTOR, ".segment-preview .sp-count").text == "3"
    assert len(driver.find_elements(By.CSS_SELECTOR, ".segment-preview .sp-sample li")) == 3

    # A broken rule shows the validation error inline instead of a count.
    rules = driver.find_element(By.ID, "id_rules")
    rules.clear()
    rules.send_keys('{"attr": "attributes.plan", "op": "nope"}')
    wait_for(driver, lambda d: "rules.op" in d.find_element(By.CSS_SELECTOR, ".sp-status").text)

    rules.clear()
    rules.send_keys('{"attr": "attributes.plan", "op": "eq", "value": "gold"}')
    Select(driver.find_element(By.ID, "id_refresh")).select_by_value("manual")
    driver.find_element(By.CSS_SELECTOR, "input[name=_save]").click()
    wait_for(driver, lambda d: "/admin/segments/segment/" in d.current_url and "add" not in d.current_url)
    assert Segment.objects.get(slug="gold-plan").rules["value"] == "gold"
