"""A marketer builds segments in the admin with headless Chromium: nested ALL / ANY / NOT groups with
form controls (business unit and other-segment pickers included), a live preview count, saving."""

import json

import pytest

from cxhub.roles import MARKETER
from segments.models import Segment
from tests.browser.conftest import browser, wait_for  # noqa: F401 - the shared headless Chromium fixture
from tests.factories import BusinessUnitFactory, CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "s3cret-builder-pass"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _log_in(driver, live_server, path):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{live_server.url}/accounts/login/?next={path}")
    driver.find_element(By.ID, "id_username").send_keys("marketer-mo")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".segment-builder .sb-group"))


def _type(element, text):
    from selenium.webdriver.common.keys import Keys

    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(text)


def _in(element, css):
    """Elements matching ``css`` directly under ``element`` (not inside nested groups)."""
    from selenium.webdriver.common.by import By

    return element.find_elements(By.CSS_SELECTOR, f":scope > {css}")


def _root(driver):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, ".sb-tree > fieldset.sb-group")


def _preview_count(driver):
    from selenium.webdriver.common.by import By

    counts = driver.find_elements(By.CSS_SELECTOR, ".segment-preview .sp-count")
    return counts[0].text if counts else None


def _selected(element, css):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    return Select(element.find_element(By.CSS_SELECTOR, css)).first_selected_option.get_attribute("value")


def _rules(driver):
    from selenium.webdriver.common.by import By

    return json.loads(driver.find_element(By.ID, "id_rules").get_property("value"))


def test_marketer_composes_nested_all_any_not_groups_with_form_controls(browser, live_server, make_user):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_user(MARKETER, username="marketer-mo", password=PASSWORD)
    retail = BusinessUnitFactory(code="retail", name="Retail stores")
    telecom = BusinessUnitFactory(code="telecom", name="Telecom")
    CustomerFactory(attributes={"plan": "gold"}, lifecycle_stage="active").business_units.add(retail)
    CustomerFactory(attributes={"plan": "gold"}, lifecycle_stage="active").business_units.add(telecom)
    CustomerFactory(attributes={"plan": "gold"}, lifecycle_stage="lapsed")
    CustomerFactory(attributes={"plan": "gold"}, lifecycle_stage="active")
    CustomerFactory(attributes={"plan": "basic"}, lifecycle_stage="active")
    driver = browser
    _log_in(driver, live_server, "/admin/segments/segment/add/")
    driver.find_element(By.ID, "id_name").send_keys("Gold, not retail or lapsed")

    # plan = gold, in the top-level ALL group
    _in(_root(driver), ".sb-actions")[0].find_element(By.CSS_SELECTOR, ".sb-add-condition").click()
    condition = _in(_root(driver), ".sb-children > li.sb-cond")[0]
    _type(condition.find_element(By.CSS_SELECTOR, ".sb-attr"), "attributes.plan")
    Select(condition.find_element(By.CSS_SELECTOR, ".sb-op")).select_by_value("eq")
    _type(condition.find_element(By.CSS_SELECTOR, ".sb-value"), "gold")

    # NOT (ANY of: business unit retail, lifecycle stage lapsed)
    _in(_root(driver), ".sb-actions")[0].find_element(By.CSS_SELECTOR, ".sb-add-group").click()
    sub = driver.find_element(By.CSS_SELECTOR, ".sb-subgroup > fieldset.sb-group")
    assert (
        Select(sub.find_element(By.CSS_SELECTOR, ".sb-combinator")).first_selected_option.get_attribute(
            "value"
        )
        == "any"
    )
    sub.find_element(By.CSS_SELECTOR, ".sb-not").click()
    Select(sub.find_element(By.CSS_SELECTOR, ".sb-cond .sb-kind")).select_by_value("business_unit")
    sub = driver.find_element(By.CSS_SELECTOR, ".sb-subgroup > fieldset.sb-group")
    units = Select(sub.find_element(By.CSS_SELECTOR, ".sb-bu"))
    assert [o.text for o in units.options] == ["Retail stores (retail)", "Telecom (telecom)"]  # by name
    units.select_by_value("retail")
    _in(sub, ".sb-actions")[0].find_element(By.CSS_SELECTOR, ".sb-add-condition").click()
    sub = driver.find_element(By.CSS_SELECTOR, ".sb-subgroup > fieldset.sb-group")
    second = _in(sub, ".sb-children > li.sb-cond")[1]
    _type(second.find_element(By.CSS_SELECTOR, ".sb-attr"), "lifecycle_stage")
    _type(second.find_element(By.CSS_SELECTOR, ".sb-value"), "lapsed")

    expected = {
        "all": [
            {"attr": "attributes.plan", "op": "eq", "value": "gold"},
            {
                "not": {
                    "any": [
                        {"business_unit": "retail"},
                        {"attr": "lifecycle_stage", "op": "eq", "value": "lapsed"},
                    ]
                }
            },
        ]
    }
    wait_for(driver, lambda d: _rules(d) == expected)
    wait_for(driver, lambda d: _preview_count(d) == "2")

    Select(driver.find_element(By.ID, "id_refresh")).select_by_value("manual")
    driver.find_element(By.CSS_SELECTOR, "input[name=_continue]").click()
    wait_for(driver, lambda d: "/change/" in d.current_url)
    segment = Segment.objects.get(name="Gold, not retail or lapsed")
    assert segment.rules == expected

    # Reopened, the builder shows the same nesting from the stored JSON.
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".sb-subgroup .sb-bu"))
    sub = driver.find_element(By.CSS_SELECTOR, ".sb-subgroup > fieldset.sb-group")
    assert sub.find_element(By.CSS_SELECTOR, ".sb-not").is_selected()
    assert (
        Select(sub.find_element(By.CSS_SELECTOR, ".sb-bu")).first_selected_option.get_attribute("value")
        == "retail"
    )
    wait_for(driver, lambda d: _preview_count(d) == "2")


def test_json_edits_redraw_the_controls_and_errors_show_inline(browser, live_server, make_user):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_user(MARKETER, username="marketer-mo", password=PASSWORD)
    for _ in range(3):
        CustomerFactory(attributes={"plan": "gold"})
    CustomerFactory(attributes={"plan": "basic"})
    Segment.objects.create(
        slug="zz-basic", name="Basic plan", rules={"attr": "attributes.plan", "op": "eq", "value": "basic"}
    )
    Segment.objects.create(slug="aa-vip", name="VIP list", rules={})
    driver = browser
    _log_in(driver, live_server, "/admin/segments/segment/add/")
    driver.find_element(By.ID, "id_name").send_keys("Gold plan")

    rules = driver.find_element(By.ID, "id_rules")
    gold = {"attr": "attributes.plan", "op": "eq", "value": "gold"}
    _type(rules, json.dumps({"any": [gold, {"not": {"segment": "aa-vip", "is": "member"}}]}))
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".sb-subgroup .sb-segment"))
    assert (
        Select(
            _root(driver).find_element(By.CSS_SELECTOR, ".sb-combinator")
        ).first_selected_option.get_attribute("value")
        == "any"
    )
    picker = Select(driver.find_element(By.CSS_SELECTOR, ".sb-subgroup .sb-segment"))
    assert [o.text for o in picker.options] == ["Basic plan", "VIP list"]  # listed by name, not slug
    assert picker.first_selected_option.get_attribute("value") == "aa-vip"

    # A broken rule shows the validation error inline instead of a count; bad JSON greys the controls.
    _type(rules, '{"attr": "attributes.plan", "op": "nope"}')
    wait_for(driver, lambda d: "rules.op" in d.find_element(By.CSS_SELECTOR, ".sp-status").text)
    _type(rules, '{"attr": ')
    wait_for(
        driver,
        lambda d: "sb-disabled" in d.find_element(By.CSS_SELECTOR, ".segment-builder").get_attribute("class"),
    )

    _type(rules, '{"attr": "attributes.plan", "op": "eq", "value": "gold"}')
    wait_for(driver, lambda d: _preview_count(d) == "3")
    Select(driver.find_element(By.ID, "id_refresh")).select_by_value("manual")
    driver.find_element(By.CSS_SELECTOR, "input[name=_save]").click()
    wait_for(driver, lambda d: "/admin/segments/segment/" in d.current_url and "add" not in d.current_url)
    assert Segment.objects.get(slug="gold-plan").rules["value"] == "gold"
