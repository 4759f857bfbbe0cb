"""Walk the journey pages in headless Chromium: the agent queue and the analytics page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cxhub.roles import AGENT, MARKETER
from journeys.models import JourneyException
from journeys.services import detect_time_exceptions, load_journey_templates, process_interactions
from tests.browser.conftest import wait_for
from tests.factories import CustomerFactory, InteractionFactory, channel

from .conftest import seed_migration_data, transactional_db_marker

pytestmark = [pytest.mark.browser, transactional_db_marker()]

PASSWORD = "s3cret-browser-pass"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _log_in(driver, live_server, username):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/accounts/login/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: "/accounts/login/" not in d.current_url, timeout=10)


def _seed():
    seed_migration_data()
    load_journey_templates()
    start = timezone.now() - timedelta(days=3)
    steps = ("order_placed", "payment_received", "order_shipped", "order_delivered", "invoice_settled")
    ids = []
    for n in range(6):
        customer = CustomerFactory(first_name=f"Buyer{n}")
        for index, step in enumerate(steps[: 5 - n % 4]):
            ids.append(
                InteractionFactory(
                    customer=customer,
                    type=step,
                    channel=channel("web"),
                    direction="outbound" if step == "order_shipped" else "inbound",
                    occurred_at=start + timedelta(hours=index * (n + 1)),
                    properties={"order_id": f"B{n}"},
                ).pk
            )
    process_interactions(interaction_ids=ids)
    detect_time_exceptions()


def test_agent_resolves_an_exception_and_marketer_reads_the_funnel(
    browser, live_server, make_user, artifacts_dir
):
    from selenium.webdriver.common.by import By

    _seed()
    make_user(AGENT, username="agent-jo", password=PASSWORD)
    make_user(MARKETER, username="marketer-mo", password=PASSWORD)
    driver = browser

    _log_in(driver, live_server, "agent-jo")
    driver.get(f"{live_server.url}/journeys/exceptions/")
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[id^=exception-]")
    open_before = JourneyException.objects.filter(resolved_at__isnull=True).count()
    assert len(rows) == open_before > 0
    first = rows[0]
    first.find_element(By.NAME, "note").send_keys("Called the customer")
    first.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".messages li"), timeout=10)
    assert "resolved" in driver.find_element(By.CSS_SELECTOR, ".messages li").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "tr[id^=exception-]")) == open_before - 1
    driver.save_screenshot(str(artifacts_dir / "journeys-queue.png"))

    _log_in(driver, live_server, "marketer-mo")
    driver.get(f"{live_server.url}/journeys/order-to-cash/")
    labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".funnel > span:nth-child(3n+1)")]
    assert labels == ["Order placed", "Paid", "Shipped", "Delivered", "Invoice settled"]
    bars = driver.find_elements(By.CSS_SELECTOR, ".funnel .bar")
    widths = [b.size["width"] for b in bars]
    assert widths[0] >= widths[-1] > 0
    assert driver.find_element(By.CSS_SELECTOR, ".kpis dd").text == "6"
    driver.save_screenshot(str(artifacts_dir / "journeys-analytics.png"))
