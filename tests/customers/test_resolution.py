import pytest
from django.db import connection

from customers.errors import AlreadyMerged, MergeNotAllowed
from customers.identities import normalize_identity
from customers.merging import MergeRules, merge_customers, unmerge_customers
from customers.models import (
    BlockedIdentityValue,
    Customer,
    DirtyCustomer,
    Identity,
    IdentityRule,
    MergeEvent,
    MergeSettings,
    SurvivorStrategy,
)
from customers.resolution.lookup import blocked_values
from customers.selectors import business_unit_ids
from customers.services import resolve_customer, resolve_customers
from tests.factories import BusinessUnitFactory, CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db


def set_rule(kind, namespace="", **values):
    IdentityRule.objects.update_or_create(kind=kind, namespace=namespace, defaults=values)


def email(value):
    return normalize_identity("email", value)


def phone(value):
    return normalize_identity("phone", value)


def ext(value, namespace="crm"):
    return normalize_identity("external_id", value, namespace)


def test_unknown_identities_create_one_new_customer_with_them():
    result = resolve_customer(
        identities=[email(" Ann.Lee@Example.com"), phone("020 7946 0018")], source="shop"
    )
    assert result.created and result.merged_ids == []
    customer = result.customer
    assert customer.email == "ann.lee@example.com"
    assert customer.phone == "+442079460018"
    assert customer.source == "shop"
    assert set(customer.identities.values_list("kind", "value")) == {
        ("email", "ann.lee@example.com"),
        ("phone", "+442079460018"),
    }
    assert DirtyCustomer.objects.filter(customer=customer).exists()


def test_one_known_identity_attaches_the_new_ones():
    existing = IdentityFactory(kind="email", value="ann@example.org").customer
    result = resolve_customer(identities=[email("ann@example.org"), ext("R-1")])
    assert not result.created
    assert result.customer.pk == existing.pk
    assert Identity.objects.get(kind="external_id", value="R-1").customer_id == existing.pk


def test_raw_dict_identities_are_normalised_and_traits_applied():
    result = resolve_customer(
        identities=[{"kind": "email", "value": " Bob@Example.ORG "}],
        traits={"first_name": "Bob", "plan": "gold"},
    )
    result.customer.refresh_from_db()
    assert result.customer.first_name == "Bob"
    assert result.customer.attributes == {"plan": "gold"}
    assert result.customer.email == "bob@example.org"


def test_identities_of_two_customers_merge_into_the_oldest():
    older = IdentityFactory(kind="email", value="a@example.org").customer
    newer = IdentityFactory(kind="phone", value="+442079460018").customer
    result = resolve_customer(identities=[phone("+44 20 7946 0018"), email("a@example.org")])
    assert result.customer.pk == older.pk
    assert result.merged_ids == [newer.pk]
    newer.refresh_from_db()
    assert newer.merged_into_id == older.pk
    assert set(Identity.objects.values_list("customer_id", flat=True)) == {older.pk}
    event = MergeEvent.objects.get()
    assert (event.survivor_id, event.merged_id) == (older.pk, newer.pk)
    assert event.rule == "auto:email+phone"


def test_survivor_strategy_newest_is_honoured():
    MergeSettings.objects.update_or_create(pk=1, defaults={"survivor_strategy": SurvivorStrategy.NEWEST})
    older = IdentityFactory(kind="email", value="a@example.org").customer
    newer = IdentityFactory(kind="email", value="b@example.org").customer
    result = resolve_customer(identities=[email("a@example.org"), email("b@example.org")])
    assert result.customer.pk == newer.pk
    assert result.merged_ids == [older.pk]


def test_kind_without_auto_merge_attaches_to_most_trusted_match_instead():
    set_rule(kind="device_id", auto_merge=False, priority=60)
    set_rule(kind="email", priority=20)
    by_email = IdentityFactory(kind="email", value="a@example.org").customer
    IdentityFactory(kind="device_id", value="dev-1")
    result = resolve_customer(identities=[("device_id", "", "dev-1"), email("a@example.org")])
    assert result.customer.pk == by_email.pk
    assert result.merged_ids == []
    assert not MergeEvent.objects.exists()


def test_blocked_values_never_match():
    BlockedIdentityValue.objects.get_or_create(kind="email", value="test@example.com")
    BlockedIdentityValue.objects.create(value=r".*@mailinator\.com", is_pattern=True)
    owner = IdentityFactory(kind="email", value="x@example.org").customer
    result = resolve_customer(identities=[email("test@example.com"), email("x@example.org")])
    assert result.customer.pk == owner.pk
    assert not Identity.objects.filter(value="test@example.com").exists()
    spam = resolve_customer(identities=[email("someone@mailinator.com")])
    assert spam.created
    assert not Identity.objects.filter(value="someone@mailinator.com").exists()


def test_default_rules_block_placeholder_values_from_source_systems():
    first = resolve_customer(identities=[ext("unknown"), email("a@example.org")])
    second = resolve_customer(identities=[ext("UNKNOWN"), email("b@example.org")])
    assert first.customer.pk != second.customer.pk
    assert not Identity.objects.filter(kind="external_id").exists()


def test_value_merge_limit_flags_shared_identity_instead_of_collapsing_profiles():
    set_rule(kind="email", max_merges_per_value=2)
    family = IdentityFactory(kind="email", value="family@example.org").customer
    people = [IdentityFactory(kind="email", value=f"p{n}@example.org").customer for n in range(5)]
    merged = []
    for n in range(5):
        merged += resolve_customer(
            identities=[email("family@example.org"), email(f"p{n}@example.org")]
        ).merged_ids
    assert merged == [people[0].pk, people[1].pk]
    shared = Identity.objects.get(value="family@example.org")
    assert shared.is_flagged and shared.merge_count == 2
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1 + 3
    assert family.pk not in merged


def test_per_kind_limit_drops_merged_extras_and_unmerge_restores_them():
    set_rule(kind="external_id", max_per_customer=1)
    a = IdentityFactory(kind="external_id", namespace="crm", value="R-1").customer
    IdentityFactory(kind="email", value="a@example.org", customer=a)
    b = IdentityFactory(kind="external_id", namespace="crm", value="R-2").customer
    IdentityFactory(kind="email", value="b@example.org", customer=b)
    event = merge_customers(survivor=a, merged=b)
    assert not Identity.objects.filter(value="R-2").exists()
    assert Identity.objects.filter(customer=a).count() == 3
    unmerge_customers(merge_event=event)
    assert Identity.objects.get(value="R-2").customer_id == b.pk
    assert Identity.objects.get(value="b@example.org").customer_id == b.pk


def test_attach_respects_per_kind_limit():
    set_rule(kind="external_id", max_per_customer=1)
    a = IdentityFactory(kind="external_id", namespace="crm", value="R-1").customer
    IdentityFactory(kind="email", value="a@example.org", customer=a)
    resolve_customer(identities=[email("a@example.org"), ext("R-9")])
    assert not Identity.objects.filter(value="R-9").exists()
    resolve_customer(identities=[email("a@example.org"), ext("R-9", namespace="shop")])
    assert Identity.objects.get(value="R-9").customer_id == a.pk


def test_changing_rules_does_not_rewrite_existing_profiles():
    a = CustomerFactory()
    for n in range(4):
        IdentityFactory(kind="email", value=f"a{n}@example.org", customer=a)
    set_rule(kind="email", max_per_customer=2)
    b = IdentityFactory(kind="email", value="b@example.org").customer
    merge_customers(survivor=a, merged=b)
    # The survivor keeps its four emails; only the newcomer beyond the limit is dropped.
    assert set(Identity.objects.filter(customer=a).values_list("value", flat=True)) == {
        f"a{n}@example.org" for n in range(4)
    }


def test_batch_resolution_links_sets_within_the_batch():
    results = resolve_customers(
        identity_sets=[
            [email("x@example.org")],
            [email("x@example.org"), phone("+442079460018")],
            [phone("+442079460018")],
            [],
        ]
    )
    assert results[0].created and not results[1].created and not results[2].created
    assert results[0].customer.pk == results[1].customer.pk == results[2].customer.pk
    assert results[3].created and results[3].customer.pk != results[0].customer.pk
    assert Customer.objects.count() == 2


def test_batch_joins_business_unit_of_external_id_namespace():
    unit = BusinessUnitFactory(code="bu_retail")
    [result] = resolve_customers(identity_sets=[[ext("R-1", "bu_retail")]])
    assert list(result.customer.business_units.all()) == [unit]


def test_batch_of_1000_costs_constant_queries_when_all_known(django_assert_max_num_queries):
    customers = Customer.objects.bulk_create([Customer() for _ in range(1000)])
    Identity.objects.bulk_create(
        [Identity(customer=c, kind="email", value=f"c{n}@example.org") for n, c in enumerate(customers)]
    )
    small = [[email(f"c{n}@example.org"), ext(f"X-{n}")] for n in range(10)]
    large = [[email(f"c{n}@example.org"), ext(f"X-{n}")] for n in range(1000)]
    _keep_reference_tables()
    with django_assert_max_num_queries(20) as small_ctx:
        resolve_customers(identity_sets=small)
    with django_assert_max_num_queries(20) as large_ctx:
        results = resolve_customers(identity_sets=large[10:])
    assert len(results) == 990
    assert all(not r.created for r in results)
    assert Identity.objects.filter(kind="external_id").count() == 1000
    assert _statements(large_ctx) == _statements(small_ctx)


def _keep_reference_tables() -> None:
    """Load what a running server keeps after its first call (cxhub.refdata), so that the two
    measured calls compare like with like."""
    MergeRules.cached()
    blocked_values()
    business_unit_ids()


def _statements(ctx) -> list[str]:
    """Statement kinds run, one per query; SQLite splits bulk INSERTs into 999-parameter chunks."""
    kinds = [q["sql"].split()[0] for q in ctx.captured_queries]
    if connection.vendor == "sqlite":
        kinds = [k for n, k in enumerate(kinds) if not (k == "INSERT" and n and kinds[n - 1] == "INSERT")]
    return kinds


@pytest.mark.django_db
def test_batch_of_1000_new_customers_costs_constant_queries(django_assert_max_num_queries):
    small = [[email(f"n{n}@example.org"), phone(f"+44203{n + 500000:07d}")] for n in range(10)]
    large = [[email(f"m{n}@example.org"), phone(f"+44203{n:07d}")] for n in range(1000)]
    _keep_reference_tables()
    with django_assert_max_num_queries(20) as small_ctx:
        resolve_customers(identity_sets=small, source="shop")
    with django_assert_max_num_queries(60) as large_ctx:
        results = resolve_customers(identity_sets=large, source="shop")
    assert all(r.created for r in results)
    assert Customer.objects.count() == 1010 and Identity.objects.count() == 2020
    assert _statements(large_ctx) == _statements(small_ctx)
    if connection.vendor == "postgresql":
        assert len(large_ctx.captured_queries) == len(small_ctx.captured_queries)


def test_merge_with_self_and_merged_profiles_is_refused():
    a, b = CustomerFactory(), CustomerFactory()
    with pytest.raises(MergeNotAllowed):
        merge_customers(survivor=a, merged=a)
    merge_customers(survivor=a, merged=b)
    with pytest.raises(AlreadyMerged):
        merge_customers(survivor=a, merged=b)


def test_batch_traits_apply_in_order_to_new_and_existing_profiles():
    existing = IdentityFactory(kind="email", value="old@example.org").customer
    results = resolve_customers(
        identity_sets=[[email("old@example.org")], [email("new@example.org")], [email("new@example.org")]],
        traits=[{"last_name": "Old", "tier": "gold"}, {"first_name": "First"}, {"first_name": "Second"}],
    )
    existing.refresh_from_db()
    assert existing.last_name == "Old" and existing.attributes["tier"] == "gold"
    new = Customer.objects.get(pk=results[1].customer.pk)
    assert new.first_name == "Second"
    with pytest.raises(ValueError):
        resolve_customers(identity_sets=[[email("x@example.org")]], traits=[])


def test_profile_created_concurrently_for_the_same_identity_is_folded_into_the_first(monkeypatch):
    from customers.resolution.policy import BatchResolver

    winner = CustomerFactory()
    original_load = BatchResolver.load

    def load_then_lose_the_race(self, keys, sets):
        original_load(self, keys, sets)
        # Another transaction inserts the same new identity after our lookup and commits first.
        Identity.objects.create(customer=winner, kind="email", value="race@example.org")

    monkeypatch.setattr(BatchResolver, "load", load_then_lose_the_race)
    [result] = resolve_customers(identity_sets=[[email("race@example.org"), phone("+442079460018")]])
    assert result.customer.pk == winner.pk and not result.created
    assert set(Identity.objects.filter(customer=winner).values_list("kind", flat=True)) == {"email", "phone"}
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1
    assert MergeEvent.objects.get().rule == "auto:concurrent"


def test_auto_merge_switched_off_attaches_to_the_most_trusted_match():
    MergeSettings.objects.update_or_create(pk=1, defaults={"auto_merge_enabled": False})
    by_phone = IdentityFactory(kind="phone", value="+442079460018").customer
    by_ext = IdentityFactory(kind="external_id", namespace="crm", value="C-1").customer
    result = resolve_customer(identities=[phone("+442079460018"), ext("C-1"), email("new@example.org")])
    assert result.customer.pk == by_ext.pk and result.merged_ids == []  # external ids rank first
    assert Identity.objects.get(value="new@example.org").customer_id == by_ext.pk
    by_phone.refresh_from_db()
    assert by_phone.merged_into_id is None


def test_namespace_rule_overrides_the_kind_default():
    set_rule("external_id", namespace="shop", max_per_customer=2)
    owner = IdentityFactory(kind="external_id", namespace="shop", value="S-1").customer
    IdentityFactory(kind="email", value="o@example.org", customer=owner)
    resolve_customer(identities=[email("o@example.org"), ext("S-2", "shop")])
    resolve_customer(identities=[email("o@example.org"), ext("S-3", "shop")])
    assert set(owner.identities.filter(kind="external_id").values_list("value", flat=True)) == {"S-1", "S-2"}


def test_new_profiles_are_stored_with_every_field_and_their_ids():
    from datetime import time

    from customers.resolution import create_customers

    made = create_customers(
        [
            Customer(first_name="Zoë", attributes={"tier": "gold", "n": 1}, quiet_hours_start=time(22)),
            Customer(email="b@example.org", source="shop"),
        ]
    )
    assert all(c.pk and not c._state.adding for c in made)
    first, second = Customer.objects.filter(pk__in=[c.pk for c in made]).order_by("pk")
    assert (first.first_name, first.attributes, first.quiet_hours_start) == (
        "Zoë",
        {"tier": "gold", "n": 1},
        time(22),
    )
    assert (second.email, second.source, second.attributes, second.merged_into_id) == (
        "b@example.org",
        "shop",
        {},
        None,
    )
    assert first.created_at and first.updated_at and first.lifecycle_stage == "lead"
