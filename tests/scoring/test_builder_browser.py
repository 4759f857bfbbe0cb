"""A marketer adds a score condition with the builder's controls and sees the live preview count."""

from datetime import UTC, datetime

import pytest

from cxhub.roles import MARKETER
from scoring.models import CustomerScore
from tests.browser.conftest import browser, wait_for  # noqa: F401 - the shared headless Chromium fixture
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "s3cret-score-builder"
NOW = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_marketer_builds_a_churn_risk_segment(browser, live_server, make_user):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_user(MARKETER, username="marketer-val", password=PASSWORD)
    for risk in (0.9, 0.8, 0.2):
        customer = CustomerFactory()
        CustomerScore.objects.create(
            customer=customer, as_of=NOW, scored_at=NOW, churn_risk=risk, p_alive=1 - risk
        )
    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/accounts/login/?next=/admin/segments/segment/add/")
    driver.find_element(By.ID, "id_username").send_keys("marketer-val")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".segment-builder"))

    Select(driver.find_element(By.CSS_SELECTOR, ".sb-kind")).select_by_value("score")
    Select(driver.find_element(By.CSS_SELECTOR, ".sb-score")).select_by_value("churn_risk")
    Select(driver.find_element(By.CSS_SELECTOR, ".sb-score-op")).select_by_visible_text("gte")
    driver.find_element(By.CSS_SELECTOR, ".sb-score-value").send_keys("0.5")
    driver.find_element(By.CSS_SELECTOR, ".sb-add").click()

    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".segment-preview .sp-count"))
    assert driver.find_element(By.CSS_SELECTOR, ".segment-preview .sp-count").text == "2"
    assert '"score": "churn_risk"' in driver.find_element(By.ID, "id_rules").get_attribute("value")
