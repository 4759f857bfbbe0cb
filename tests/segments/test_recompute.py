from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from segments import services
from segments.errors import InvalidRule, RecomputeNotAllowed, SegmentCycle
from segments.models import MovementKind, Refresh, RunStatus, SegmentKind, SegmentMembership, SegmentMovement
from tests.factories import CustomerFactory, InteractionFactory

GOLD = {"attr": "attributes.plan", "op": "eq", "value": "gold"}


def members(segment) -> set[int]:
    return set(SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True))


@pytest.mark.django_db
def test_recompute_adds_and_removes_members_and_records_movements(make_segment):
    ann = CustomerFactory(attributes={"plan": "gold"})
    ben = CustomerFactory(attributes={"plan": "gold"})
    CustomerFactory(attributes={"plan": "basic"})
    segment = make_segment("gold", GOLD)

    run = services.recompute_segment(segment=segment, trigger="test")

    assert (run.status, run.added, run.removed, run.member_count) == (RunStatus.SUCCEEDED, 2, 0, 2)
    assert members(segment) == {ann.pk, ben.pk}
    segment.refresh_from_db()
    assert segment.member_count == 2 and segment.last_computed_at is not None

    Customer.objects.filter(pk=ben.pk).update(attributes={"plan": "basic"})
    run = services.recompute_segment(segment=segment, trigger="test")

    assert (run.added, run.removed, run.member_count) == (0, 1, 1)
    assert members(segment) == {ann.pk}
    moves = list(
        SegmentMovement.objects.filter(segment=segment).order_by("id").values_list("customer_id", "kind")
    )
    assert sorted(moves[:2]) == sorted([(ann.pk, MovementKind.ENTERED), (ben.pk, MovementKind.ENTERED)])
    assert moves[2:] == [(ben.pk, MovementKind.EXITED)]


@pytest.mark.django_db
def test_second_recompute_without_changes_moves_nobody(make_segment):
    CustomerFactory(attributes={"plan": "gold"})
    segment = make_segment("gold", GOLD)
    services.recompute_segment(segment=segment, trigger="test")
    run = services.recompute_segment(segment=segment, trigger="test")
    assert (run.added, run.removed) == (0, 0)
    assert SegmentMovement.objects.filter(segment=segment).count() == 1


@pytest.mark.django_db
def test_merged_profiles_are_never_members(make_segment):
    survivor = CustomerFactory(attributes={"plan": "gold"})
    CustomerFactory(attributes={"plan": "gold"}, merged_into=survivor)
    segment = make_segment("gold", GOLD)
    services.recompute_segment(segment=segment, trigger="test")
    assert members(segment) == {survivor.pk}


@pytest.mark.django_db
def test_micro_segment_is_subset_of_parent_even_after_parent_shrinks(make_segment):
    ann = CustomerFactory(attributes={"plan": "gold"}, lifecycle_stage="active")
    ben = CustomerFactory(attributes={"plan": "gold"}, lifecycle_stage="active")
    CustomerFactory(attributes={"plan": "basic"}, lifecycle_stage="active")
    macro = make_segment("gold", GOLD)
    micro = make_segment(
        "gold-active", {"attr": "lifecycle_stage", "op": "eq", "value": "active"}, parent=macro
    )
    services.recompute_segment(segment=macro, trigger="test")
    services.recompute_segment(segment=micro, trigger="test")
    assert members(micro) == {ann.pk, ben.pk}

    Customer.objects.filter(pk=ben.pk).update(attributes={})
    services.recompute_segment(segment=macro, trigger="test")

    assert members(micro) == {ann.pk}
    assert SegmentMovement.objects.filter(segment=micro, customer=ben, kind=MovementKind.EXITED).exists()
    micro.refresh_from_db()
    assert micro.member_count == 1


@pytest.mark.django_db
def test_failed_recompute_leaves_membership_and_records_error(make_segment, monkeypatch):
    CustomerFactory(attributes={"plan": "gold"})
    segment = make_segment("gold", GOLD)
    services.recompute_segment(segment=segment, trigger="test")
    before = members(segment)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "prune_descendants", boom)
    CustomerFactory(attributes={"plan": "gold"})
    segment.rules = {"attr": "attributes.plan", "op": "eq", "value": "none"}
    segment.save()
    with pytest.raises(RuntimeError):
        services.recompute_segment(segment=segment, trigger="test")

    assert members(segment) == before
    run = segment.runs.first()
    assert run.status == RunStatus.FAILED and "disk full" in run.error


@pytest.mark.django_db
def test_incremental_refresh_touches_only_given_customers_of_realtime_segments(make_segment):
    ann = CustomerFactory(attributes={"plan": "gold"})
    ben = CustomerFactory(attributes={"plan": "gold"})
    realtime = make_segment("gold-rt", GOLD, refresh=Refresh.REALTIME)
    daily = make_segment("gold-daily", GOLD, refresh=Refresh.DAILY)

    changes = services.refresh_customers(customer_ids=[ann.pk])

    assert changes == {realtime.pk: (1, 0)}
    assert members(realtime) == {ann.pk}  # ben was not dirty
    assert members(daily) == set()

    Customer.objects.filter(pk=ann.pk).update(attributes={"plan": "basic"})
    changes = services.refresh_customers(customer_ids=[ann.pk, ben.pk])
    assert changes == {realtime.pk: (1, 1)}
    assert members(realtime) == {ben.pk}
    realtime.refresh_from_db()
    assert realtime.member_count == 1


@pytest.mark.django_db
def test_incremental_refresh_follows_segment_dependencies(make_segment):
    ann = CustomerFactory(attributes={"plan": "gold"})
    # Created first, so only dependency order (not id order) computes "gold" before it.
    heavy = make_segment("gold-heavy", {"segment": "placeholder", "is": "member"}, refresh=Refresh.REALTIME)
    gold = make_segment("gold", GOLD, refresh=Refresh.REALTIME)
    heavy.rules = {"segment": "gold", "is": "member"}
    heavy.save()

    services.refresh_customers(customer_ids=[ann.pk])

    assert members(gold) == {ann.pk}
    assert members(heavy) == {ann.pk}


@pytest.mark.django_db
def test_dirty_pipeline_handler_refreshes_realtime_segments(make_segment):
    from customers.pipeline import dirty_handlers, mark_dirty, process_dirty_customers

    assert "segments" in dirty_handlers()
    ann = CustomerFactory()
    segment = make_segment("orders", {"events": {"type": "order_placed"}}, refresh=Refresh.REALTIME)
    InteractionFactory(customer=ann, type="order_placed", occurred_at=timezone.now())
    mark_dirty([ann.pk], reason="test", schedule=False)
    process_dirty_customers()
    assert members(segment) == {ann.pk}


@pytest.mark.django_db
def test_static_segments_are_not_recomputed_and_keep_their_list(make_segment):
    ann, ben = CustomerFactory(), CustomerFactory()
    static = make_segment("list", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL)
    with pytest.raises(RecomputeNotAllowed):
        services.recompute_segment(segment=static, trigger="test")
    assert services.add_members(segment=static, customer_ids=[ann.pk, ben.pk, ann.pk]) == 2
    assert services.add_members(segment=static, customer_ids=[ann.pk]) == 0
    assert services.remove_members(segment=static, customer_ids=[ben.pk]) == 1
    assert members(static) == {ann.pk}
    static.refresh_from_db()
    assert static.member_count == 1


@pytest.mark.django_db
def test_csv_import_matches_ids_and_emails(make_segment):
    from tests.factories import IdentityFactory

    ann = CustomerFactory(email="ann@example.org")
    ben = CustomerFactory()
    IdentityFactory(customer=ben, value="ben@example.org")
    static = make_segment("list", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL)
    result = services.import_members_csv(
        segment=static, text=f"email\nANN@example.org\n ben@example.org\nnobody@example.org\n{ann.pk}\n"
    )
    assert result["added"] == 2 and result["unmatched"] == ["nobody@example.org"]
    assert members(static) == {ann.pk, ben.pk}


@pytest.mark.django_db
def test_freeze_snapshots_current_members(make_segment):
    ann = CustomerFactory(attributes={"plan": "gold"})
    gold = make_segment("gold", GOLD)
    services.recompute_segment(segment=gold, trigger="test")
    frozen = services.freeze_segment(segment=gold, slug="gold-2026", name="Gold 2026")
    Customer.objects.filter(pk=ann.pk).update(attributes={})
    services.recompute_segment(segment=gold, trigger="test")
    assert frozen.kind == SegmentKind.STATIC and frozen.member_count == 1
    assert members(frozen) == {ann.pk} and members(gold) == set()


@pytest.mark.django_db
def test_segment_reference_cycles_are_rejected(make_segment):
    a = make_segment("a", {"attr": "language", "op": "eq", "value": "en"})
    b = make_segment("b", {"segment": "a", "is": "member"})
    a.rules = {"any": [{"segment": "b", "is": "not_member"}]}
    with pytest.raises(SegmentCycle) as exc:
        services.save_segment(segment=a)
    assert exc.value.field == "rules.any[0].segment"
    b.rules = {"segment": "b", "is": "member"}
    with pytest.raises(SegmentCycle):
        services.save_segment(segment=b)


@pytest.mark.django_db
def test_unknown_references_are_invalid_with_their_path(make_segment):
    segment = make_segment("x")
    segment.rules = {"all": [{"events": {"channel": "pigeon"}}]}
    with pytest.raises(InvalidRule) as exc:
        services.save_segment(segment=segment)
    assert exc.value.field == "rules.all[0].events.channel"


@pytest.mark.django_db
def test_due_segments_follow_refresh_policy(make_segment):
    now = timezone.now()
    hourly = make_segment("h", GOLD, refresh=Refresh.HOURLY, last_computed_at=now - timedelta(minutes=90))
    make_segment("h-fresh", GOLD, refresh=Refresh.HOURLY, last_computed_at=now - timedelta(minutes=10))
    daily = make_segment("d", GOLD, refresh=Refresh.DAILY, last_computed_at=now - timedelta(hours=25))
    make_segment("d-fresh", GOLD, refresh=Refresh.DAILY, last_computed_at=now - timedelta(hours=3))
    never = make_segment("n", GOLD, refresh=Refresh.DAILY)
    make_segment("m", GOLD, refresh=Refresh.MANUAL)
    make_segment("s", kind=SegmentKind.STATIC, refresh=Refresh.DAILY)
    assert {s.pk for s in services.due_segments(now=now)} == {hourly.pk, daily.pk, never.pk}


@pytest.mark.django_db
def test_recompute_due_task_runs_due_segments(make_segment, celery_eager, django_capture_on_commit_callbacks):
    from segments.tasks import recompute_due_task

    CustomerFactory(attributes={"plan": "gold"})
    segment = make_segment("gold", GOLD, refresh=Refresh.HOURLY)
    with django_capture_on_commit_callbacks(execute=True):
        assert recompute_due_task() == 1
    segment.refresh_from_db()
    assert segment.member_count == 1
    assert segment.runs.get().status == RunStatus.SUCCEEDED


@pytest.mark.django_db
def test_incremental_exit_from_realtime_parent_prunes_daily_micro_segment(make_segment):
    ann = CustomerFactory(attributes={"plan": "gold"}, lifecycle_stage="active")
    macro = make_segment("gold", GOLD, refresh=Refresh.REALTIME)
    micro = make_segment(
        "gold-active",
        {"attr": "lifecycle_stage", "op": "eq", "value": "active"},
        parent=macro,
        refresh=Refresh.DAILY,
    )
    services.recompute_segment(segment=macro, trigger="test")
    services.recompute_segment(segment=micro, trigger="test")
    assert members(micro) == {ann.pk}

    Customer.objects.filter(pk=ann.pk).update(attributes={})
    services.refresh_customers(customer_ids=[ann.pk])

    assert members(macro) == set() and members(micro) == set()


RUN_FIELDS = (
    "segment_id",
    "trigger",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "added",
    "removed",
    "member_count",
    "error",
)


@pytest.mark.django_db
@pytest.mark.parametrize("queued", [False, True])
def test_recompute_returns_the_run_as_stored(make_segment, queued):
    from segments.models import SegmentRun

    CustomerFactory(attributes={"plan": "gold"})
    segment = make_segment("gold", GOLD)
    given = SegmentRun.objects.create(segment=segment, trigger="api") if queued else None

    run = services.recompute_segment(segment=segment, trigger="test", run=given)

    stored = SegmentRun.objects.get(pk=run.pk)
    assert [getattr(run, name) for name in RUN_FIELDS] == [getattr(stored, name) for name in RUN_FIELDS]
    assert stored.status == RunStatus.SUCCEEDED and stored.member_count == 1
    assert stored.started_at <= stored.finished_at
    assert segment.runs.count() == 1


@pytest.mark.django_db
def test_recompute_of_a_segment_deleted_meanwhile_raises_and_records_no_run(make_segment):
    from segments.models import Segment, SegmentRun

    segment = make_segment("gold", GOLD)
    Segment.objects.filter(pk=segment.pk).delete()

    with pytest.raises(Segment.DoesNotExist):
        services.recompute_segment(segment=segment, trigger="test")
    assert not SegmentRun.objects.exists()
