"""First fills and incremental refresh by dependency level: the member sets, movements and
counts they leave, and what they cost in statements."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from segments import services
from segments.models import MovementKind, Refresh, Segment, SegmentMembership, SegmentMovement
from tests.factories import CustomerFactory

GOLD = {"attr": "attributes.plan", "op": "eq", "value": "gold"}


def members(segment) -> set[int]:
    return set(SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True))


def moved(segment, kind) -> list[int]:
    rows = SegmentMovement.objects.filter(segment=segment, kind=kind).order_by("customer_id")
    return list(rows.values_list("customer_id", flat=True))


@pytest.mark.django_db
def test_first_fill_writes_every_member_its_entry_the_count_and_the_run(make_segment):
    gold = sorted(CustomerFactory(attributes={"plan": "gold"}).pk for _ in range(3))
    CustomerFactory(attributes={"plan": "basic"})
    CustomerFactory(attributes={"plan": "gold"}, merged_into=CustomerFactory(attributes={"plan": "basic"}))
    segment = make_segment("gold", GOLD)

    with CaptureQueriesContext(connection) as queries:
        run = services.recompute_segment(segment=segment, trigger="test")

    assert members(segment) == set(gold)
    assert moved(segment, MovementKind.ENTERED) == gold
    assert (run.added, run.removed, run.member_count) == (3, 0, 3)
    segment.refresh_from_db()
    assert segment.member_count == 3 and segment.last_computed_at == run.started_at
    if connection.vendor == "postgresql":  # one INSERT … SELECT, no diff against the members
        writes = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"]]
        assert len(writes) == 1 and writes[0].startswith("WITH empty AS")
    again = services.recompute_segment(segment=segment, trigger="test")
    assert (again.added, again.removed, again.member_count) == (0, 0, 3)
    assert SegmentMovement.objects.filter(segment=segment).count() == 3


@pytest.mark.django_db
def test_a_member_count_of_zero_on_a_segment_with_members_still_diffs_exactly(make_segment):
    ann = CustomerFactory(attributes={"plan": "gold"})
    ben = CustomerFactory(attributes={"plan": "gold"})
    cat = CustomerFactory(attributes={"plan": "basic"})
    segment = make_segment("gold", GOLD)
    services.recompute_segment(segment=segment, trigger="test")
    Segment.objects.filter(pk=segment.pk).update(member_count=0)  # a stale count, not the truth
    ann.attributes, cat.attributes = {"plan": "basic"}, {"plan": "gold"}
    ann.save()
    cat.save()

    run = services.recompute_segment(segment=Segment.objects.get(pk=segment.pk), trigger="test")

    assert members(segment) == {ben.pk, cat.pk}
    assert (run.added, run.removed, run.member_count) == (1, 1, 2)
    assert moved(segment, MovementKind.EXITED) == [ann.pk]
    assert moved(segment, MovementKind.ENTERED) == sorted([ann.pk, ben.pk, cat.pk])
    segment.refresh_from_db()
    assert segment.member_count == 2


@pytest.mark.django_db
def test_refresh_reads_referenced_and_parent_segments_after_their_own_change(make_segment):
    make_segment("gold-rt", GOLD, refresh=Refresh.REALTIME)
    in_gold = make_segment("in-gold-rt", {"segment": "gold-rt", "is": "member"}, refresh=Refresh.REALTIME)
    gold = Segment.objects.get(slug="gold-rt")
    micro = make_segment(
        "gold-en", {"attr": "language", "op": "eq", "value": "en"}, parent=gold, refresh=Refresh.REALTIME
    )
    ann = CustomerFactory(attributes={"plan": "basic"}, language="en")
    ben = CustomerFactory(attributes={"plan": "gold"}, language="en")
    for segment in (gold, in_gold, micro):
        services.recompute_segment(segment=segment, trigger="test")
    assert members(gold) == members(in_gold) == members(micro) == {ben.pk}

    ann.attributes, ben.attributes = {"plan": "gold"}, {"plan": "basic"}
    ann.save()
    ben.save()
    changes = services.refresh_customers(customer_ids=[ann.pk, ben.pk])

    assert members(gold) == members(in_gold) == members(micro) == {ann.pk}
    # ben left the micro-segment with its parent (pruned), before its own diff ran
    assert changes == {gold.pk: (1, 1), in_gold.pk: (1, 1), micro.pk: (1, 0)}
    for segment in (gold, in_gold, micro):
        segment.refresh_from_db()
        assert segment.member_count == 1
        assert moved(segment, MovementKind.EXITED) == [ben.pk]


@pytest.mark.postgres
@pytest.mark.django_db
def test_refresh_statements_do_not_grow_with_independent_segments(make_segment):
    people = [CustomerFactory(attributes={"plan": "gold"}).pk for _ in range(3)]

    def refresh_with(n: int) -> int:
        for i in range(n):
            make_segment(f"gold-{n}-{i}", GOLD, refresh=Refresh.REALTIME)
        services.refresh_customers(customer_ids=people)  # rules compiled once per process
        SegmentMembership.objects.all().delete()
        with CaptureQueriesContext(connection) as queries:
            changes = services.refresh_customers(customer_ids=people)
        assert len(changes) == Segment.objects.count()
        assert all(change == (3, 0) for change in changes.values())
        return len(queries.captured_queries)

    assert refresh_with(2) == refresh_with(5)


def test_dependency_levels_put_a_segment_after_what_it_reads():
    def seg(pk, slug, rules=None, parent_id=None):
        return Segment(pk=pk, slug=slug, rules=rules or {}, parent_id=parent_id)

    a, b = seg(1, "a"), seg(2, "b")
    c = seg(3, "c", {"any": [{"segment": "a", "is": "member"}, {"segment": "elsewhere", "is": "member"}]})
    d = seg(4, "d", parent_id=3)
    e = seg(5, "e", parent_id=99)  # a parent outside the refresh reads nothing refreshed here

    levels = services.dependency_levels([(s, None) for s in (a, b, c, d, e)])

    assert [[s.slug for s, _ in level] for level in levels] == [["a", "b", "e"], ["c"], ["d"]]


@pytest.mark.django_db
def test_refresh_of_every_customer_gives_each_rule_its_full_query_set(make_segment):
    from datetime import timedelta

    from django.utils import timezone

    from customers.models import Consent
    from segments.compiler import segment_queryset
    from tests.factories import BusinessUnitFactory, IdentityFactory, InteractionFactory

    now = timezone.now()
    telecom = BusinessUnitFactory(code="telecom")
    people = [CustomerFactory(attributes={"plan": "gold" if i % 2 else "basic"}) for i in range(8)]
    for i, person in enumerate(people):
        if i % 3 == 0:
            person.business_units.add(telecom)
        if i % 4 == 1:
            IdentityFactory(customer=person, kind="phone", value=f"+4479460000{i:02d}")
        for days, granted in ((40, True), (5, i % 2 == 0)):
            Consent.objects.create(
                customer=person,
                channel="email",
                purpose="marketing",
                granted=granted,
                captured_at=now - timedelta(days=days),
            )
        for n in range(i % 4):
            InteractionFactory(customer=person, type="order_placed", occurred_at=now - timedelta(days=n + 1))
    CustomerFactory(attributes={"plan": "gold"}, merged_into=people[0])
    rules = {
        "gold-rt": GOLD,
        "unit-or-phone-rt": {"any": [{"business_unit": "telecom"}, {"identity": "phone", "op": "exists"}]},
        "consent-rt": {"consent": {"channel": "email", "purpose": "marketing"}, "is": "granted"},
        "orders-rt": {
            "events": {"type": "order_placed", "within_days": 30},
            "count": {"op": "gte", "value": 2},
        },
        "quiet-gold-rt": {
            "all": [{"segment": "gold-rt", "is": "member"}, {"not": {"events": {"type": "order_placed"}}}]
        },
        "not-consent-rt": {"not": {"consent": {"channel": "email", "purpose": "marketing"}, "is": "granted"}},
    }
    segments = {slug: make_segment(slug, rule, refresh=Refresh.REALTIME) for slug, rule in rules.items()}
    micro = make_segment(
        "gold-orders-rt",
        {"events": {"type": "order_placed"}},
        parent=segments["gold-rt"],
        refresh=Refresh.REALTIME,
    )

    services.refresh_customers(customer_ids=[p.pk for p in people], now=now)

    for slug, segment in {**segments, "gold-orders-rt": micro}.items():
        parent = segment.parent_id
        expected = set(segment_queryset(segment.rules, parent=parent, now=now).values_list("pk", flat=True))
        assert members(segment) == expected, slug
        segment.refresh_from_db()
        assert segment.member_count == len(expected), slug
    assert members(segments["gold-rt"]) == {p.pk for p in people[1::2]}
    assert members(micro) == {p.pk for p in people[1::2] if people.index(p) % 4}
