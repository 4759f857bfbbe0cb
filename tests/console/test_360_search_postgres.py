"""On PostgreSQL the customer search reads trigram GIN indexes (migration customer_search_trgm)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.selectors import search_customers
from tests.factories import CustomerFactory, IdentityFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TRIGRAM_INDEXES = {
    "customer_first_name_trgm",
    "customer_last_name_trgm",
    "customer_email_trgm",
    "customer_phone_trgm",
    "identity_value_trgm",
}


def test_migration_created_the_trigram_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%%_trgm'")
        found = dict(cursor.fetchall())
    assert set(found) == TRIGRAM_INDEXES
    assert all("gin_trgm_ops" in definition and "upper(" in definition for definition in found.values())


def test_search_queries_use_the_trigram_indexes():
    customer = CustomerFactory(first_name="Wilhelmina", last_name="Oyelaran", email="w.oyelaran@example.net")
    IdentityFactory(customer=customer, kind="external_id", namespace="crm", value="CRM-889123")
    with CaptureQueriesContext(connection) as ctx:
        rows, _ = search_customers(query="oyelar")
    assert [c.pk for c in rows] == [customer.pk]
    plans = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL enable_seqscan = off"
        )  # tiny tables: make the planner show its index choice
        for query in ctx.captured_queries[:2]:  # the identity and the customer candidate queries
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert "identity_value_trgm" in plans[0]
    assert "customer_last_name_trgm" in plans[1] and "customer_email_trgm" in plans[1]
