import pytest

from interactions import services


@pytest.fixture(params=["orm", pytest.param("set_based", marks=pytest.mark.postgres)])
def ingest_path(request, monkeypatch):
    """Run a test through the ORM batch path and, on PostgreSQL, through the staging (COPY) path."""
    if request.param == "orm":
        monkeypatch.setattr(services, "set_based", lambda: False)
    return request.param


@pytest.fixture
def seeded_channels(transactional_db):
    """Transactional tests flush every table: put the migration-seeded channels back, before and after."""
    import importlib

    from django.apps import apps

    seed = importlib.import_module("interactions.migrations.0002_seed_channels").seed_channels
    seed(apps, None)
    yield
    seed(apps, None)
