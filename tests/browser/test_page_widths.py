"""Every page, for every role, at 1366 and 390 px wide: the page never scrolls sideways, and on a
phone every button is on screen (Resolve and Done included). Walks the URL configuration
(tests/browser/pages.py), so pages added later are covered; loads the demo data so the pages
carry realistic content (long names, long tables, charts)."""

import pytest
from django.core.management import call_command

from cxhub.roles import ADMIN, AGENT, MARKETER, TEAM_LEAD
from tests.browser.conftest import wait_for
from tests.browser.pages import admin_paths, page_paths, pages_needing_samples

PASSWORD = "s3cret-width-pass"
WIDTHS = (1366, 390)

OVERFLOW = """
const root = document.documentElement;
return [root.scrollWidth, root.clientWidth];
"""

# Buttons (and button-looking links) of the page's content that stick out of the screen, unless
# they sit inside a box that scrolls sideways by itself (then they are reachable by scrolling it).
BUTTONS_OFF_SCREEN = """
const width = document.documentElement.clientWidth;
const scrollsItself = (el) => {
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const s = getComputedStyle(p);
    if ((s.overflowX === 'auto' || s.overflowX === 'scroll') && p.scrollWidth > p.clientWidth) return true;
  }
  return false;
};
return Array.from(document.querySelectorAll('main button, main input[type=submit], main a.button'))
  .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
  .filter((el) => { const r = el.getBoundingClientRect(); return r.left < -0.5 || r.right > width + 0.5; })
  .filter((el) => !scrollsItself(el))
  .map((el) => el.outerHTML.slice(0, 120));
"""


def _samples():
    """How to fill each parametrised page's URL from the demo data."""
    from django.utils import timezone

    from customers.models import Customer
    from interactions.models import Interaction
    from journeys.models import Journey
    from metrics.models import FollowUpCase, SurveyInvitation
    from metrics.services.invitations import make_token
    from outreach import links
    from outreach.models import Message
    from segments.models import Segment

    def busiest_customer():
        row = Interaction.objects.values("customer_id").order_by("customer_id").first()
        return {"customer_id": row["customer_id"] if row else Customer.objects.order_by("pk").first().pk}

    def invitation():
        found = SurveyInvitation.objects.filter(responded_at__isnull=True).order_by("pk").first()
        return {"token": make_token(found)} if found else None

    def unsubscribe():
        message = Message.objects.order_by("pk").first()
        if message is None:  # the demo sends nothing: one marketing email to unsubscribe from
            now = timezone.now()
            message = Message.objects.create(
                customer_id=busiest_customer()["customer_id"],
                channel="email",
                purpose="marketing",
                subject="Spring offers",
                status="sent",
                created_at=now,
                updated_at=now,
            )
        return {"token": links.unsubscribe_token(message.pk)}

    return {
        "outreach:preferences": lambda: {"token": links.preferences_token(busiest_customer()["customer_id"])},
        "outreach:unsubscribe": unsubscribe,
        "customers:detail": busiest_customer,
        "customers:timeline": busiest_customer,
        "customers:export": lambda: None,  # a JSON download, not a page
        "segments:detail": lambda: {"pk": Segment.objects.order_by("-member_count", "pk").first().pk},
        "journeys:detail": lambda: {"slug": Journey.objects.order_by("pk").first().slug},
        "metrics:case": lambda: {"pk": FollowUpCase.objects.order_by("pk").first().pk},
        "metrics:hosted-survey": invitation,
        # A made-up link: the page that says it does not work (a real one needs an e-mail).
        "password_reset_confirm": lambda: {"uidb64": "MQ", "token": "not-a-token"},
        "scoring:explain": lambda: {"pk": busiest_customer()["customer_id"]},
    }


def test_every_page_with_parameters_has_a_sample():
    """A new page whose URL takes parameters needs a sample in _samples() to be walked."""
    assert pages_needing_samples(_samples()) == []


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _log_in(driver, live_server, username):
    from selenium.webdriver.common.by import By

    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/accounts/login/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: "/accounts/login/" not in d.current_url, timeout=10)


def _set_width(driver, width: int):
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": width,
            "height": 844 if width < 700 else 900,
            "deviceScaleFactor": 1,
            "mobile": width < 700,
        },
    )


def _walk(driver, live_server, paths, *, label, artifacts_dir, check_buttons=True) -> list[str]:
    problems = []
    for width in WIDTHS:
        _set_width(driver, width)
        for path in paths:
            driver.get(live_server.url + path)
            wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")
            scroll_width, client_width = driver.execute_script(OVERFLOW)
            if scroll_width > client_width:
                problems.append(
                    f"{label} {width}px {path}: page is {scroll_width}px wide for {client_width}px"
                )
                driver.save_screenshot(
                    str(artifacts_dir / f"overflow-{label}-{width}-{path.strip('/').replace('/', '_')}.png")
                )
            if check_buttons and width < 700:
                off = driver.execute_script(BUTTONS_OFF_SCREEN)
                if off:
                    problems.append(f"{label} {width}px {path}: buttons off screen: {off}")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return problems


@pytest.fixture
def demo_data(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 - quiet


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_no_page_scrolls_sideways_for_any_role_at_desktop_and_phone_width(
    browser, live_server, make_user, demo_data, artifacts_dir
):
    paths = page_paths(_samples())
    assert {"/", "/journeys/exceptions/", "/metrics/cases/", "/segments/", "/metrics/"} <= set(paths)
    problems = []
    for role in (AGENT, TEAM_LEAD, MARKETER, ADMIN):
        make_user(role, username=f"walk-{role.lower()}", password=PASSWORD)
        _log_in(browser, live_server, f"walk-{role.lower()}")
        problems += _walk(browser, live_server, paths, label=role, artifacts_dir=artifacts_dir)
    assert problems == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_no_admin_page_scrolls_sideways_at_desktop_and_phone_width(
    browser, live_server, make_user, demo_data, artifacts_dir
):
    make_user(ADMIN, username="walk-admin", password=PASSWORD)
    _log_in(browser, live_server, "walk-admin")
    paths = admin_paths()
    assert "/admin/segments/segment/add/" in paths
    # The admin's own list tables scroll inside their box; its buttons are Django's.
    problems = _walk(
        browser, live_server, paths, label="admin", artifacts_dir=artifacts_dir, check_buttons=False
    )
    assert problems == []
