"""Idempotency-Key under concurrency: of several requests with one key exactly one runs."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from cxhub.services import create_api_client
from interactions.models import IdempotencyKey, Interaction
from tests.factories import CustomerFactory
from tests.interactions.conftest import transactional_marker
from tests.interactions.test_api import SINGLE, item


@pytest.mark.postgres
@transactional_marker()
def test_six_concurrent_posts_with_one_key_and_different_bodies_create_one_row(seeded_channels):
    customer = CustomerFactory()
    token = create_api_client(name="racer", scopes=["ingest:write"]).token
    barrier = threading.Barrier(6)
    statuses: list[int] = []
    codes: list[str] = []
    lock = threading.Lock()

    def post(n: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            barrier.wait()
            response = client.post(SINGLE, item(customer, n), format="json", HTTP_IDEMPOTENCY_KEY="race-1")
            with lock:
                statuses.append(response.status_code)
                if response.status_code == 409:
                    codes.append(response.json()["error"]["code"])
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [201, 409, 409, 409, 409, 409], statuses
    assert set(codes) <= {"idempotency_key_reused", "idempotency_key_in_progress"}
    assert Interaction.objects.count() == 1
    stored = IdempotencyKey.objects.get()
    assert stored.status_code == 201
    assert stored.response_body["id"] == Interaction.objects.get().pk


@pytest.mark.django_db
def test_a_failed_request_releases_its_key(api_client_with):
    client = api_client_with("ingest:write")
    customer = CustomerFactory()
    bad = client.post(SINGLE, item(customer, 1, channel="owl"), format="json", HTTP_IDEMPOTENCY_KEY="k-9")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.exists()
    good = client.post(SINGLE, item(customer, 1), format="json", HTTP_IDEMPOTENCY_KEY="k-9")
    assert good.status_code == 201


@pytest.mark.django_db
def test_an_abandoned_claim_is_taken_over(api_client_with):
    from datetime import timedelta

    from django.utils import timezone

    client = api_client_with("ingest:write")
    owner = f"client:{client.api_client.pk}"
    IdempotencyKey.objects.create(
        owner=owner,
        key="k-10",
        request_hash="x",
        status_code=0,
        response_body={},
        created_at=timezone.now() - timedelta(minutes=10),
    )
    response = client.post(SINGLE, item(CustomerFactory(), 1), format="json", HTTP_IDEMPOTENCY_KEY="k-10")
    assert response.status_code == 201
    assert IdempotencyKey.objects.get().status_code == 201
