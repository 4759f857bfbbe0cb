import pytest

from interactions import services, staging


@pytest.fixture(
    params=[
        "orm",
        pytest.param("copy", marks=pytest.mark.postgres),
        pytest.param("staging", marks=pytest.mark.postgres),
        pytest.param("copy, month-partitioned", marks=pytest.mark.postgres),
        pytest.param("staging, month-partitioned", marks=pytest.mark.postgres),
    ]
)
def ingest_path(request, monkeypatch):
    """Run a test through each batch path: the ORM one, and on PostgreSQL the direct COPY and
    the staging-table one (which the COPY falls back to when a concurrent batch stored a key),
    each also on the month-partitioned table (converted inside the test's transaction)."""
    if request.param.endswith("month-partitioned"):
        from interactions.partitioning import convert_to_partitioned

        request.getfixturevalue("db")
        convert_to_partitioned(log=lambda line: None)
    if request.param == "orm":
        monkeypatch.setattr(services, "set_based", lambda: False)
    elif request.param.startswith("staging"):
        monkeypatch.setattr(
            staging, "insert_rows_postgres", lambda rows: staging._insert_through_staging_now(rows)
        )
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
