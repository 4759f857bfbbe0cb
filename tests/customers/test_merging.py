from datetime import UTC, datetime, time

import pytest

from customers import merging
from customers.errors import CannotUnmerge
from customers.merging import merge_customers, register_customer_relation, unmerge_customers
from customers.models import Consent, Customer, DirtyCustomer, Identity, MergeSettings
from customers.selectors import survivor_id, survivor_ids
from interactions.models import Interaction
from tests.factories import BusinessUnitFactory, CustomerFactory, IdentityFactory, InteractionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def relations():
    saved = dict(merging._relations)
    yield merging._relations
    merging._relations.clear()
    merging._relations.update(saved)


def consent(customer, channel="email", purpose="marketing", granted=True, day=1):
    return Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        granted=granted,
        captured_at=datetime(2026, 1, day, tzinfo=UTC),
        evidence="form",
    )


def snapshot(*customers):
    ids = [c.pk for c in customers]
    return {
        "identities": sorted(
            Identity.objects.filter(customer_id__in=ids).values_list("pk", "customer_id", "value")
        ),
        "consents": sorted(
            Consent.objects.filter(customer_id__in=ids).values_list(
                "pk", "customer_id", "channel", "purpose", "granted", "captured_at", "evidence"
            )
        ),
        "interactions": sorted(
            Interaction.objects.filter(customer_id__in=ids).values_list("pk", "customer_id")
        ),
        "units": sorted(
            Customer.business_units.through.objects.filter(customer_id__in=ids).values_list(
                "customer_id", "businessunit_id"
            )
        ),
        "customers": sorted(
            Customer.objects.filter(pk__in=ids).values_list(
                "pk",
                "first_name",
                "last_name",
                "email",
                "phone",
                "language",
                "attributes",
                "merged_into_id",
                "quiet_hours_start",
                "last_seen_at",
            )
        ),
    }


def test_merge_moves_every_related_row_and_unmerge_restores_them_exactly(relations):
    register_customer_relation(Interaction)
    register_customer_relation(Consent, unique_with=("channel", "purpose"))  # pretend: one row per pair
    retail, telecom = BusinessUnitFactory(code="retail"), BusinessUnitFactory(code="telecom")
    survivor = CustomerFactory(first_name="Ann", last_name="", language="", attributes={"plan": "gold"})
    merged = CustomerFactory(
        first_name="Annie",
        last_name="Lee",
        language="fr",
        attributes={"plan": "basic", "pet": "cat"},
        quiet_hours_start=time(21),
        quiet_hours_end=time(8),
        last_seen_at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    survivor.business_units.add(retail)
    merged.business_units.add(retail, telecom)
    IdentityFactory(customer=survivor, kind="email", value="ann@example.org")
    IdentityFactory(customer=merged, kind="email", value="annie@example.org")
    IdentityFactory(customer=merged, kind="external_id", namespace="telecom", value="T-1")
    consent(survivor, channel="email")
    consent(merged, channel="email", granted=False, day=2)  # duplicate pair: removed, recorded
    consent(merged, channel="sms")
    InteractionFactory.create_batch(3, customer=merged)
    InteractionFactory(customer=survivor)
    before = snapshot(survivor, merged)

    event = merge_customers(survivor=survivor, merged=merged, reason="same person")

    assert Identity.objects.filter(customer=merged).count() == 0
    assert Interaction.objects.filter(customer=survivor).count() == 4
    assert Consent.objects.filter(customer=survivor).count() == 2
    assert set(survivor.business_units.values_list("code", flat=True)) == {"retail", "telecom"}
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert merged.merged_into_id == survivor.pk
    assert survivor.last_name == "Lee" and survivor.language == "fr"  # empty fields filled
    assert survivor.attributes == {"plan": "gold", "pet": "cat"}
    assert survivor.last_seen_at == datetime(2026, 5, 1, tzinfo=UTC)
    assert len(event.moved["interactions.Interaction.customer"]) == 3
    assert len(event.removed["customers.Consent.customer"]) == 1
    assert set(DirtyCustomer.objects.values_list("customer_id", flat=True)) >= {survivor.pk, merged.pk}

    restored = unmerge_customers(merge_event=event)

    assert restored.pk == merged.pk
    assert snapshot(survivor, merged) == before
    event.refresh_from_db()
    assert event.is_undone
    with pytest.raises(CannotUnmerge):
        unmerge_customers(merge_event=event)


def test_field_survivorship_by_source_priority():
    MergeSettings.objects.update_or_create(
        pk=1, defaults={"source_priority": "crm, shop", "field_policies": {"first_name": "source_priority"}}
    )
    survivor = CustomerFactory(first_name="Shop name", source="shop")
    merged = CustomerFactory(first_name="CRM name", source="crm")
    merge_customers(survivor=survivor, merged=merged)
    survivor.refresh_from_db()
    assert survivor.first_name == "CRM name"


def test_survivor_policy_keeps_survivor_values():
    MergeSettings.objects.update_or_create(pk=1, defaults={"default_field_policy": "survivor"})
    survivor = CustomerFactory(first_name="Old")
    merged = CustomerFactory(first_name="New")
    merge_customers(survivor=survivor, merged=merged)
    survivor.refresh_from_db()
    assert survivor.first_name == "Old"


def test_merged_ids_follow_to_the_survivor_through_chains():
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    merge_customers(survivor=b, merged=c)
    merge_customers(survivor=a, merged=b)
    c.refresh_from_db()
    assert c.merged_into_id == a.pk  # chains are flattened on merge
    assert survivor_id(c.pk) == a.pk
    assert survivor_id(a.pk) == a.pk
    assert survivor_id(999999) is None
    assert survivor_ids([a.pk, b.pk, c.pk, 999999]) == {a.pk: a.pk, b.pk: a.pk, c.pk: a.pk}


def test_unmerge_refused_while_survivor_is_merged_elsewhere_and_restores_chain():
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    first = merge_customers(survivor=b, merged=c)
    second = merge_customers(survivor=a, merged=b)
    with pytest.raises(CannotUnmerge):
        unmerge_customers(merge_event=first)
    unmerge_customers(merge_event=second)
    c.refresh_from_db()
    assert c.merged_into_id == b.pk
    unmerge_customers(merge_event=first)
    assert not Customer.objects.filter(merged_into__isnull=False).exists()
