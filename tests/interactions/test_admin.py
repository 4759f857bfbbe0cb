import pytest

from tests.factories import InteractionFactory

pytestmark = pytest.mark.django_db


def test_admin_lists_and_opens_interactions_and_idempotency_keys(admin_web_client):
    row = InteractionFactory()
    assert admin_web_client.get("/admin/interactions/interaction/").status_code == 200
    assert admin_web_client.get(f"/admin/interactions/interaction/{row.pk}/change/").status_code == 200
    assert admin_web_client.get("/admin/interactions/idempotencykey/").status_code == 200
    assert admin_web_client.get("/admin/interactions/idempotencykey/add/").status_code == 403
    assert admin_web_client.get("/admin/interactions/channel/").status_code == 200
