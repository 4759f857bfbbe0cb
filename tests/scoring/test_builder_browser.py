"""A marketer adds a score condition with the builder's controls and sees the live preview count."""

import json
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
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    make_user(MARKETER, username="marketer-val", password=PASSWORD)
    for risk in (0.9, 0.8, 0.2):
        customer = CustomerFactory()
        CustomerScore.objects.create(
            customer=customer,
            as_of=NOW,
            scored_at=NOW,
            churn_risk=risk,
            p_alive=1 - risk,
            rfm_label="at_risk",
        )
    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/accounts/login/?next=/admin/segments/segment/add/")
    driver.find_element(By.ID, "id_username").send_keys("marketer-val")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".segment-builder .sb-group"))

    driver.find_element(By.CSS_SELECTOR, ".sb-add-condition").click()
    Select(driver.find_element(By.CSS_SELECTOR, ".sb-cond .sb-kind")).select_by_value("score")
    Select(driver.find_element(By.CSS_SELECTOR, ".sb-score")).select_by_value("churn_risk")
    Select(driver.find_element(By.CSS_SELECTOR, ".sb-score-op")).select_by_value("gte")
    value = driver.find_element(By.CSS_SELECTOR, ".sb-score-value")
    value.send_keys(Keys.CONTROL, "a")
    value.send_keys("0.5")

    wait_for(
        driver,
        lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".segment-preview .sp-count")] == ["2"],
    )
    rules = json.loads(driver.find_element(By.ID, "id_rules").get_property("value"))
    assert rules == {"all": [{"score": "churn_risk", "op": "gte", "value": 0.5}]}

    # An RFM condition takes named cells; the comparison list follows the score.
    Select(driver.find_element(By.CSS_SELECTOR, ".sb-score")).select_by_value("rfm")
    value = driver.find_element(By.CSS_SELECTOR, ".sb-score-value")
    value.send_keys(Keys.CONTROL, "a")
    value.send_keys("at_risk, champion")
    wait_for(
        driver,
        lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".segment-preview .sp-count")] == ["3"],
    )
    rules = json.loads(driver.find_element(By.ID, "id_rules").get_property("value"))
    assert rules == {"all": [{"score": "rfm", "op": "in", "value": ["at_risk", "champion"]}]}
