import pytest

from interactions import services


@pytest.fixture(params=["orm", pytest.param("set_based", marks=pytest.mark.postgres)])
def ingest_path(request, monkeypatch):
    """Run a test through the ORM batch path and, on PostgreSQL, through the staging (COPY) path."""
    if request.param == "orm":
        monkeypatch.setattr(services, "set_based", lambda: False)
    return request.param


def transactional_marker():
    """``django_db`` for tests that need real commits (threads, a live server).

    ``available_apps`` makes Django re-run post-migrate (roles, permissions) at set-up and leave
    the database empty at tear-down, so transactional tests before or after never collide; the
    rows data migrations create (channels) come back with the ``seeded_channels`` fixture.
    """
    from django.conf import settings

    return pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS))


@pytest.fixture
def seeded_channels():
    import importlib

    from django.apps import apps

    importlib.import_module("interactions.migrations.0002_seed_channels").seed_channels(apps, None)
