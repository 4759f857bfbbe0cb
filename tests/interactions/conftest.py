import pytest

from interactions import services


@pytest.fixture(params=["orm", pytest.param("set_based", marks=pytest.mark.postgres)])
def ingest_path(request, monkeypatch):
    """Run a test through the ORM batch path and, on PostgreSQL, through the staging (COPY) path."""
    if request.param == "orm":
        monkeypatch.setattr(services, "set_based", lambda: False)
    return request.param
