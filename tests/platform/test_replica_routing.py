"""Read-replica routing rules that need no replica: the view registry, the pin, migrations."""

import time

import pytest
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, get_resolver

from cxhub import replicas
from tests.factories import CustomerFactory


def _url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace: str = "") -> None:
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner)
            elif pattern.name:
                names.add(namespace + pattern.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_replica_tolerant_view_names_a_real_url():
    missing = set(replicas.REPLICA_TOLERANT_VIEWS) - _url_names()
    if missing:
        raise NoReverseMatch(f"REPLICA_TOLERANT_VIEWS names unknown URLs: {sorted(missing)}")


def test_only_reads_are_marked_except_the_segment_preview():
    writes = {
        name: methods
        for name, methods in replicas.REPLICA_TOLERANT_VIEWS.items()
        if methods - {"GET", "HEAD"}
    }
    assert writes == {"segment-preview": frozenset({"POST"})}


def test_migrations_only_run_on_the_primary():
    router = replicas.ReplicaRouter()
    assert router.allow_migrate("default", "customers")
    assert not router.allow_migrate("replica_1", "customers")
    assert router.db_for_write(None) == "default"


def test_without_a_read_context_or_replicas_the_router_leaves_reads_to_the_primary():
    router = replicas.ReplicaRouter()
    assert router.db_for_read(None) is None
    with replicas.replica_reads():
        assert router.db_for_read(None) is None  # no replica configured


@override_settings(DATABASE_REPLICAS=["replica_1"], REPLICA_PIN_SECONDS=5.0)
def test_a_post_stamps_the_pin_and_a_get_does_not(agent_client):
    customer = CustomerFactory()
    page = agent_client.get(f"/customers/{customer.pk}/")  # a test's transaction: reads the primary
    assert page.status_code == 200 and replicas.PIN_COOKIE not in page.cookies
    logged = agent_client.post(
        f"/customers/{customer.pk}/interactions/",
        {
            "kind": "call_note",
            "direction": "inbound",
            "summary": "hi",
            "token": "3f1c5a3e-4b2a-4c77-9a0d-1111111111aa",
        },
    )
    cookie = logged.cookies[replicas.PIN_COOKIE]
    assert 4.0 < float(cookie.value) - time.time() <= 5.01 and cookie["max-age"] == 5 and cookie["httponly"]


@override_settings(REPLICA_PIN_SECONDS=5.0)
def test_the_pin_follows_the_cookie_or_the_callers_credential():
    factory = RequestFactory()
    post = factory.post("/api/v1/interactions/", HTTP_AUTHORIZATION="Bearer cxt_one")
    response = type("Response", (), {"set_cookie": lambda self, *a, **k: None})()
    replicas.pin_to_primary(post, response)
    assert replicas.is_pinned(factory.get("/x", HTTP_AUTHORIZATION="Bearer cxt_one"))
    assert not replicas.is_pinned(factory.get("/x", HTTP_AUTHORIZATION="Bearer cxt_two"))
    stamped = factory.get("/x")
    stamped.COOKIES[replicas.PIN_COOKIE] = f"{time.time() + 3:.3f}"
    assert replicas.is_pinned(stamped)
    stale = factory.get("/x")
    stale.COOKIES[replicas.PIN_COOKIE] = f"{time.time() - 1:.3f}"
    assert not replicas.is_pinned(stale)
    forged = factory.get("/x")
    forged.COOKIES[replicas.PIN_COOKIE] = "soon"
    assert not replicas.is_pinned(forged)


@pytest.mark.parametrize("url", ["/customers/", "/api/v1/customers/"])
def test_requests_work_unchanged_without_replicas(agent_client, url):
    assert agent_client.get(url).status_code == 200
