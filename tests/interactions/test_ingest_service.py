from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer, DirtyCustomer
from interactions.models import Interaction
from interactions.services import ingest_interaction, ingest_interactions
from interactions.signals import interactions_created
from tests.factories import CustomerFactory, channel

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ingest_path")]

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)


def item(who, n=0, **overrides):
    base = {
        "source": "shop",
        "external_id": f"ord-{n}",
        "channel": "web",
        "direction": "inbound",
        "type": "order_placed",
        "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
        "customer_id": who.pk,
        "subject": f"Order #{n}",
        "value": "42.50",
        "currency": "eur",
        "properties": {"order_id": str(n)},
    }
    base.update(overrides)
    return base


def test_batch_creates_rows_and_reports_each_item_in_order():
    ann = CustomerFactory()
    result = ingest_interactions(items=[item(ann, 1), item(ann, 2, external_id=None)])
    assert (result.created, result.duplicates, result.errors) == (2, 0, 0)
    assert [r["index"] for r in result.results] == [0, 1]
    assert all(r["status"] == "created" for r in result.results)
    row = Interaction.objects.get(pk=result.results[0]["id"])
    assert row.customer_id == ann.pk
    assert row.channel == channel("web")
    assert row.occurred_at == T0 + timedelta(minutes=1)
    assert row.value == Decimal("42.50") and row.currency == "EUR"
    assert row.properties == {"order_id": "1"}
    assert row.received_at is not None


def test_resend_of_batch_creates_nothing_and_returns_the_existing_ids():
    ann = CustomerFactory()
    items = [item(ann, n) for n in range(3)]
    first = ingest_interactions(items=items)
    again = ingest_interactions(items=items)
    assert again.created == 0 and again.duplicates == 3
    assert [r["id"] for r in again.results] == [r["id"] for r in first.results]
    assert {r["status"] for r in again.results} == {"duplicate"}
    assert Interaction.objects.count() == 3


def test_same_external_id_twice_in_one_batch_is_one_row():
    ann = CustomerFactory()
    result = ingest_interactions(items=[item(ann, 1), item(ann, 1, subject="again")])
    assert [r["status"] for r in result.results] == ["created", "duplicate"]
    assert result.results[0]["id"] == result.results[1]["id"]
    assert Interaction.objects.get().subject == "Order #1"


def test_same_external_id_from_another_source_is_a_new_row():
    ann = CustomerFactory()
    ingest_interactions(items=[item(ann, 1)])
    result = ingest_interactions(items=[item(ann, 1, source="crm")])
    assert result.created == 1


def test_items_without_external_id_are_always_created():
    ann = CustomerFactory()
    items = [item(ann, 1, external_id=None), item(ann, 1, external_id="")]
    assert ingest_interactions(items=items).created == 2
    assert ingest_interactions(items=items).created == 2


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"channel": "pigeon"}, "channel", "invalid"),
        ({"channel": None}, "channel", "required"),
        ({"direction": "sideways"}, "direction", "invalid"),
        ({"type": ""}, "type", "required"),
        ({"type": 12}, "type", "invalid"),
        ({"occurred_at": "yesterday"}, "occurred_at", "invalid"),
        ({"occurred_at": None}, "occurred_at", "required"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at", "future_timestamp"),
        ({"value": "12.345"}, "value", "invalid"),
        ({"value": "NaN"}, "value", "invalid"),
        ({"value": [1]}, "value", "invalid"),
        ({"value": "1e20"}, "value", "invalid"),
        ({"currency": "euro"}, "currency", "invalid"),
        ({"duration_seconds": -1}, "duration_seconds", "invalid"),
        ({"properties": [1, 2]}, "properties", "invalid"),
        ({"properties": {"a": "nul\x00"}}, "properties", "invalid"),
        ({"subject": "x" * 256}, "subject", "invalid"),
        ({"summary": "x" * 4001}, "summary", "invalid"),
        ({"external_id": {"a": 1}}, "external_id", "invalid"),
        ({"business_unit": "nope"}, "business_unit", "invalid"),
        ({"customer_id": None}, "customer", "required"),
        ({"customer_id": "abc"}, "customer_id", "invalid"),
        ({"customer_id": 2**70}, "customer_id", "invalid"),
        ({"customer_id": 987654}, "customer_id", "not_found"),
        ({"customer": {"email": "a@example.com"}}, "customer", "invalid"),
        ({"customer_id": None, "customer": {"anonymous_id": "a\x00b"}}, "customer.anonymous_id", "invalid"),
        (
            {"customer_id": None, "customer": {"external_id": "x", "namespace": "n" * 51}},
            "customer.namespace",
            "invalid",
        ),
        ({"customer_id": "\u00b2"}, "customer_id", "invalid"),
    ],
)
def test_bad_item_gets_a_field_error_and_does_not_sink_the_good_ones(overrides, field, code):
    ann = CustomerFactory()
    result = ingest_interactions(items=[item(ann, 1), item(ann, 2, **overrides), item(ann, 3)])
    assert [r["status"] for r in result.results] == ["created", "error", "created"]
    error = result.results[1]["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert error["message"]
    assert Interaction.objects.count() == 2


def test_unknown_channel_error_lists_the_valid_codes():
    ann = CustomerFactory()
    error = ingest_interactions(items=[item(ann, channel="pigeon")]).results[0]["error"]
    assert "email" in error["message"] and "whatsapp" in error["message"]


def test_item_that_is_not_an_object_is_an_error():
    result = ingest_interactions(items=["nope", 3, None])
    assert result.errors == 3


def test_unknown_fields_are_ignored():
    ann = CustomerFactory()
    assert ingest_interactions(items=[item(ann, 1, colour="blue")]).created == 1


def test_naive_time_is_taken_as_utc():
    ann = CustomerFactory()
    pk = ingest_interactions(items=[item(ann, occurred_at="2026-10-01T10:00:00")]).results[0]["id"]
    assert Interaction.objects.get(pk=pk).occurred_at == T0


def test_merged_customer_id_lands_on_the_survivor():
    survivor = CustomerFactory()
    merged = CustomerFactory(merged_into=survivor)
    pk = ingest_interactions(items=[item(merged, 1)]).results[0]["id"]
    assert Interaction.objects.get(pk=pk).customer_id == survivor.pk


def test_last_seen_moves_forward_only_and_only_for_inbound_items():
    ann, bob = CustomerFactory(), CustomerFactory()
    later = T0 + timedelta(days=3)
    Customer.objects.filter(pk=bob.pk).update(last_seen_at=later)
    ingest_interactions(
        items=[
            item(ann, 1),
            item(
                ann,
                2,
                direction="outbound",
                type="email_sent",
                occurred_at=(T0 + timedelta(days=9)).isoformat(),
            ),
            item(bob, 3),
        ]
    )
    ann.refresh_from_db()
    bob.refresh_from_db()
    assert ann.last_seen_at == T0 + timedelta(minutes=1)
    assert bob.last_seen_at == later


def test_new_rows_mark_their_customers_dirty_but_duplicates_do_not():
    ann = CustomerFactory()
    ingest_interactions(items=[item(ann, 1)])
    assert DirtyCustomer.objects.filter(customer=ann, reason="interaction").exists()
    DirtyCustomer.objects.all().delete()
    ingest_interactions(items=[item(ann, 1)])
    assert not DirtyCustomer.objects.exists()


def test_signal_is_sent_on_commit_with_new_ids(django_capture_on_commit_callbacks):
    ann = CustomerFactory()
    received = []

    def receiver(sender, interaction_ids, customer_ids, **kwargs):
        received.append((interaction_ids, customer_ids))

    interactions_created.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = ingest_interactions(items=[item(ann, 1), item(ann, 2)])
            assert received == []
        with django_capture_on_commit_callbacks(execute=True):
            ingest_interactions(items=[item(ann, 1)])
    finally:
        interactions_created.disconnect(receiver)
    assert received == [([r["id"] for r in result.results], [ann.pk])]


def test_batch_queries_do_not_grow_with_the_batch(django_assert_max_num_queries):
    # 40 items stay under SQLite's 999-parameter INSERT chunk; PostgreSQL COPYs any size.
    customers = CustomerFactory.create_batch(3)
    small = [item(customers[n % 3], n) for n in range(3)]
    big = [item(customers[n % 3], n) for n in range(100, 140)]

    with CaptureQueriesContext(connection) as ctx:
        ingest_interactions(items=small)
    with django_assert_max_num_queries(len(ctx.captured_queries)):
        ingest_interactions(items=big)


def test_single_ingest_returns_the_row_and_whether_it_was_new():
    ann = CustomerFactory()
    row, created = ingest_interaction(item=item(ann, 1))
    assert created and row.customer_id == ann.pk
    again, created = ingest_interaction(item=item(ann, 1))
    assert not created and again.pk == row.pk


def test_single_ingest_of_a_bad_item_raises_a_domain_error():
    from cxhub.errors import DomainError

    with pytest.raises(DomainError) as info:
        ingest_interaction(item={"channel": "web"})
    assert info.value.field


def test_batch_over_the_limit_is_refused_whole():
    from cxhub.errors import DomainError

    with pytest.raises(DomainError):
        ingest_interactions(items=[{}] * 1001)


def test_occurred_at_with_offset_is_stored_in_utc():
    ann = CustomerFactory()
    pk = ingest_interactions(items=[item(ann, occurred_at="2026-10-01T12:00:00+02:00")]).results[0]["id"]
    assert Interaction.objects.get(pk=pk).occurred_at == T0
    assert timezone.is_aware(Interaction.objects.get(pk=pk).occurred_at)


# --- customers named by identities -------------------------------------------------


def by_identity(n, who: dict, **overrides):
    data = {
        "source": "shop",
        "external_id": f"id-{n}",
        "channel": "email",
        "type": "email_opened",
        "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
        "customer": who,
    }
    data.update(overrides)
    return data


def test_identities_resolve_to_one_customer_per_person_and_create_new_ones():
    from customers.models import Identity

    known = CustomerFactory()
    Identity.objects.create(customer=known, kind="email", value="ann@example.com")
    result = ingest_interactions(
        items=[
            by_identity(1, {"email": " Ann@Example.com"}),
            by_identity(2, {"external_id": "R-1", "namespace": "bu_retail"}),
            by_identity(3, {"phone": "+44 20 7946 0018", "external_id": "R-1", "namespace": "bu_retail"}),
            by_identity(4, {"anonymous_id": "anon-1"}),
        ]
    )
    assert result.created == 4
    rows = {r.external_id: r.customer_id for r in Interaction.objects.all()}
    assert rows["id-1"] == known.pk
    assert rows["id-2"] == rows["id-3"] != known.pk
    assert rows["id-4"] not in (known.pk, rows["id-2"])
    assert Identity.objects.get(kind="phone", value="+442079460018").customer_id == rows["id-2"]


def test_invalid_identity_is_an_item_error_naming_it():
    result = ingest_interactions(
        items=[
            by_identity(1, {"email": "not-an-email"}),
            by_identity(2, {"external_id": "R-1"}),
            by_identity(3, {"email": "ok@example.com"}),
        ]
    )
    assert [r["status"] for r in result.results] == ["error", "error", "created"]
    assert result.results[0]["error"]["field"] == "customer.email"
    assert result.results[1]["error"]["field"] == "customer.namespace"


def test_identity_resolution_queries_do_not_grow_with_the_batch(django_assert_max_num_queries):
    small = [by_identity(n, {"email": f"p{n}@example.com"}) for n in range(3)]
    big = [by_identity(n, {"email": f"p{n}@example.com"}) for n in range(100, 140)]
    with CaptureQueriesContext(connection) as ctx:
        ingest_interactions(items=small)
    with django_assert_max_num_queries(len(ctx.captured_queries)):
        ingest_interactions(items=big)


def test_merge_moves_interactions_to_the_survivor():
    from customers.merging import merge_customers

    ann, dup = CustomerFactory(), CustomerFactory()
    pk = ingest_interactions(items=[item(dup, 1)]).results[0]["id"]
    merge_customers(survivor=ann, merged=dup)
    assert Interaction.objects.get(pk=pk).customer_id == ann.pk


def test_resent_items_are_duplicates_without_resolving_customers_again():
    first = ingest_interactions(items=[by_identity(1, {"email": "first@example.com"})])
    changed = by_identity(1, {"email": "someone.else@example.com"})
    again = ingest_interactions(items=[changed])
    assert again.results[0] == {"index": 0, "status": "duplicate", "id": first.results[0]["id"]}
    assert not Customer.objects.filter(identities__value="someone.else@example.com").exists()


def test_a_mixed_batch_gets_the_same_answers_as_its_items_one_by_one():
    """The batch's shortcuts (collector paused, normalisation cache, profiles copied from one
    blank) change nothing: each item's answer, customer and new profile are what ingesting the
    items one at a time gives, in a twin database state built the same way."""
    from customers.models import Identity

    PHONES = {"t1": "+44 20 7946 0018", "t2": "+44 20 7946 0019"}  # noqa: N806

    def world(tag):
        known = CustomerFactory()
        Identity.objects.create(customer=known, kind="email", value=f"{tag}.known@example.com")
        return known

    def items(tag, known):
        return [
            by_identity(1, {"email": f" {tag}.Known@Example.com"}, source=tag),
            by_identity(2, {"email": f"{tag}.new@example.com"}, source=tag),
            by_identity(3, {"email": f"{tag}.NEW@example.com "}, source=tag),  # the same new person
            by_identity(4, {"phone": PHONES[tag]}, source=tag, external_id=None),
            by_identity(5, {"external_id": f"{tag}-R-9", "namespace": "bu_retail"}, source=tag),
            by_identity(6, {"email": "nope"}, source=tag),
            by_identity(7, {"email": f"{tag}.x@example.com"}, source=tag, channel="pigeon"),
            by_identity(2, {"email": f"{tag}.new@example.com"}, source=tag),  # repeats item 2's key
            item(known, 8, source=tag, external_id=f"{tag}-ord-8"),
            by_identity(9, {}, source=tag),
        ]

    def answers(result, known):
        """Results with ids replaced by what they stand for, customers by who they are."""
        rows = {r.pk: r for r in Interaction.objects.filter(pk__in=[r.get("id") for r in result])}
        out = []
        for r in result:
            answer = {k: v for k, v in r.items() if k != "id"}
            if "id" in r:
                customer = Customer.objects.get(pk=rows[r["id"]].customer_id)
                answer["customer"] = (
                    "known"
                    if customer.pk == known.pk
                    else (customer.email.split(".", 1)[-1], bool(customer.phone), customer.source)
                )
                answer["stored"] = rows[r["id"]].external_id
            if "error" in r:
                answer["error"] = {**r["error"], "message": r["error"]["message"].replace("t1", "T")}
            out.append(answer)
        return out

    known = world("t1")
    batch = ingest_interactions(items=items("t1", known)).results
    twin = world("t2")
    one_by_one = [ingest_interactions(items=[i]).results[0] for i in items("t2", twin)]
    for n, r in enumerate(one_by_one):
        r["index"] = n
    expected = answers(one_by_one, twin)
    for answer in expected:
        if "error" in answer:
            answer["error"]["message"] = answer["error"]["message"].replace("t2", "T")
        if "stored" in answer and answer["stored"]:
            answer["stored"] = answer["stored"].replace("t2", "t1")
    got = answers(batch, known)
    assert [a["status"] for a in got] == [
        "created",
        "created",
        "created",
        "created",
        "created",
        "error",
        "error",
        "duplicate",
        "created",
        "error",
    ]
    assert got == expected
    fresh = Customer.objects.filter(identities__value="t1.new@example.com").get()
    assert (fresh.lifecycle_stage, fresh.attributes, fresh.merged_into_id) == ("lead", {}, None)
    assert fresh.created_at and fresh.updated_at
