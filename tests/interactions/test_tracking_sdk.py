"""The real segment-analytics-python SDK against the live test server."""

import pytest
from django.db import connections
from segment.analytics import request as sdk_request
from segment.analytics.client import Client

from customers.models import Identity
from cxhub.services import create_api_client
from interactions.models import Interaction
from tests.interactions.conftest import transactional_marker

pytestmark = [transactional_marker(), pytest.mark.usefixtures("seeded_channels")]


@pytest.fixture
def sdk(live_server, monkeypatch):
    # Server threads must close their connections after each request, or teardown cannot drop the DB.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    issued = create_api_client(name="sdk-app", scopes=["ingest:write"], tracking_namespace="app")
    errors = []
    client = Client(
        write_key=issued.write_key,
        host=live_server.url,
        sync_mode=True,
        max_retries=0,
        on_error=lambda error, batch: errors.append(error),
    )
    yield client
    # The SDK keeps its HTTP connection alive: close it so the server thread ends with the test.
    sdk_request._session.close()
    assert errors == []


def send_events(sdk):
    sdk.track("u-1", "Product Viewed", {"sku": "A-1"}, message_id="msg-track-1")
    sdk.page("u-1", category="docs", name="Pricing", properties={"path": "/pricing"}, message_id="msg-page-1")
    sdk.screen("u-1", name="Basket", message_id="msg-screen-1")


def test_sdk_events_land_once_even_when_sent_twice_plain_and_gzipped(sdk):
    sdk.identify("u-1", {"email": "sdk.user@example.com", "firstName": "Sam"}, anonymous_id="anon-1")
    send_events(sdk)
    sdk.gzip = True
    send_events(sdk)
    sdk.alias("anon-1", "u-1")
    sdk.group("u-1", "acme", {"name": "Acme"})

    rows = Interaction.objects.order_by("type")
    assert [r.type for r in rows] == ["page_view", "product_viewed", "screen_view"]
    customer = Identity.objects.get(kind="external_id", namespace="app", value="u-1").customer
    assert {r.customer_id for r in rows} == {customer.pk}
    assert customer.first_name == "Sam"
    assert customer.attributes["group_id"] == "acme"
    assert Identity.objects.get(kind="email", value="sdk.user@example.com").customer_id == customer.pk
    assert Identity.objects.get(kind="anonymous_id", value="anon-1").customer_id == customer.pk
    assert rows[1].context["library"]["name"] == "analytics-python"
