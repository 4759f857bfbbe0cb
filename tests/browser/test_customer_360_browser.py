"""Walk the agent pages in headless Chromium: login, search, 360, filter, load more, log a call, merges."""

from datetime import UTC, datetime, timedelta

import pytest

from console.selectors import TIMELINE_PAGE_SIZE as PAGE
from customers.models import IdentityKind
from cxhub.roles import AGENT
from interactions.models import Direction, Interaction
from tests.browser.conftest import wait_for
from tests.factories import BusinessUnitFactory, CustomerFactory, IdentityFactory, channel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "s3cret-browser-pass"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are made per test; the production hasher would dominate the run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _seed():
    ann = CustomerFactory(
        first_name="Annika", last_name="Lindqvist", lifecycle_stage="active", preferred_channel="phone"
    )
    ann.business_units.add(BusinessUnitFactory(code="retail", name="Retail stores"))
    IdentityFactory(customer=ann, kind=IdentityKind.EMAIL, value="annika.l@example.com", source="shop")
    IdentityFactory(customer=ann, kind=IdentityKind.EXTERNAL_ID, namespace="bu_retail", value="R-4417")
    start = datetime.now(UTC) - timedelta(hours=2)
    web, phone = channel("web"), channel("phone")
    Interaction.objects.bulk_create(
        Interaction(
            customer=ann,
            channel=phone if i % 4 == 0 else web,
            direction=Direction.INBOUND,
            type="call" if i % 4 == 0 else "page_view",
            occurred_at=start - timedelta(hours=i),
            source="browser-test",
            external_id=f"b-{i}",
            summary=f"Older touch number {i}",
            outcome="resolved" if i % 4 == 0 else "",
        )
        for i in range(70)
    )
    old_profile = CustomerFactory(first_name="Annika", last_name="L.", merged_into=ann)
    return ann, old_profile


def _timeline_items(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#timeline li.tl-item")


def _log_in(driver, live_server, username):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/")
    wait_for(driver, lambda d: "/accounts/login/" in d.current_url, timeout=10)
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "recent-title"), timeout=10)


def test_agent_walks_search_360_filters_paging_and_merge_redirect(
    browser, live_server, make_user, artifacts_dir
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_user(AGENT, username="agent-ann", password=PASSWORD)
    ann, old_profile = _seed()
    driver = browser
    _log_in(driver, live_server, "agent-ann")  # anonymous users land on the login page first

    # Search by a partial external id from the home page, open the result.
    box = driver.find_element(By.ID, "id_q")
    box.send_keys("4417")
    box.submit()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".result-name"), timeout=10)
    results = driver.find_elements(By.CSS_SELECTOR, ".result-name")
    assert [r.text for r in results] == ["Annika Lindqvist"]
    assert "Retail stores" in driver.page_source
    results[0].click()
    wait_for(driver, lambda d: d.current_url.endswith(f"/customers/{ann.pk}/"), timeout=10)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Annika Lindqvist"
    assert len(_timeline_items(driver)) == PAGE
    driver.save_screenshot(str(artifacts_dir / "customer-360.png"))

    # "Load more" fetches the next page in place through htmx (no navigation).
    wait_for(driver, lambda d: d.execute_script("return typeof window.htmx === 'object'"), timeout=10)
    url_before = driver.current_url
    for shown in (2 * PAGE, 70):
        driver.find_element(By.CSS_SELECTOR, "#timeline-more a").click()
        wait_for(driver, lambda d, shown=shown: len(_timeline_items(d)) == shown, timeout=10)
    assert driver.current_url == url_before
    assert not driver.find_elements(By.ID, "timeline-more")

    # Filter the timeline by channel.
    Select(driver.find_element(By.ID, "id_channel")).select_by_value("phone")
    driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait_for(driver, lambda d: "channel=phone" in d.current_url, timeout=10)
    items = _timeline_items(driver)
    assert len(items) == 18
    assert all(item.find_element(By.CSS_SELECTOR, ".ch").get_attribute("title") == "Phone" for item in items)

    # A merged profile's old URL lands on the survivor with a notice.
    driver.get(f"{live_server.url}/customers/{old_profile.pk}/")
    wait_for(driver, lambda d: d.current_url.endswith(f"/customers/{ann.pk}/"), timeout=10)
    notice = driver.find_element(By.CSS_SELECTOR, ".messages li").text
    assert f"Customer {old_profile.pk} was merged into customer {ann.pk}" in notice

    # The phone layout keeps everything in one readable column.
    driver.set_window_size(390, 844)
    driver.get(f"{live_server.url}/customers/{ann.pk}/")
    wait_for(driver, lambda d: d.find_elements(By.ID, "timeline"), timeout=10)
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390 + 1
    driver.save_screenshot(str(artifacts_dir / "customer-360-phone.png"))
    driver.set_window_size(1280, 1000)


def test_agent_logs_a_call_note_and_sees_it_at_the_top(browser, live_server, make_user):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_user(AGENT, username="agent-ann", password=PASSWORD)
    ann, _ = _seed()
    driver = browser
    _log_in(driver, live_server, "agent-ann")
    # Log a call note; it appears at the top of the timeline.
    driver.get(f"{live_server.url}/customers/{ann.pk}/")
    driver.find_element(By.CSS_SELECTOR, "details.log-form summary").click()
    Select(driver.find_element(By.ID, "log_channel")).select_by_value("phone")
    driver.find_element(By.ID, "log_summary").send_keys("Customer asked to move the delivery to Friday")
    driver.find_element(By.ID, "log_outcome").send_keys("resolved")
    driver.find_element(By.CSS_SELECTOR, "details.log-form button[type=submit]").click()
    wait_for(driver, lambda d: "Call on Phone logged." in d.page_source, timeout=10)
    first = _timeline_items(driver)[0]
    assert "Customer asked to move the delivery to Friday" in first.text
    assert "agent-ann" in first.text
