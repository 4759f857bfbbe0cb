import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from customers import pipeline
from metrics import selectors
from metrics.models import ResponseRollup, RollupRebuild, SurveyResponse
from metrics.services import rollups
from tests.factories import BusinessUnitFactory, CustomerFactory
from tests.metrics.helpers import add_response, make_survey

pytestmark = pytest.mark.django_db

GROUPINGS = (
    None,
    "channel",
    "touchpoint",
    "business_unit",
    "survey",
    "day",
    "week",
    "month",
    "segment",
)  # all but journey


@pytest.fixture
def mixed_responses():
    from segments.models import Segment, SegmentMembership

    rng = random.Random(7)
    surveys = {"nps": make_survey("nps"), "ces": make_survey("ces"), "csat": make_survey("csat")}
    units = [BusinessUnitFactory(code="retail"), BusinessUnitFactory(code="energy"), None]
    customers = [CustomerFactory() for _ in range(12)]
    segment = Segment.objects.create(slug="half", name="Half")
    for customer in customers[::2]:
        SegmentMembership.objects.create(segment=segment, customer=customer, since=timezone.now())
    start = datetime(2026, 8, 30, 23, 30, tzinfo=UTC)
    for _ in range(120):
        survey = surveys[rng.choice(list(surveys))]
        add_response(
            survey,
            rng.randint(survey.scale_min, survey.scale_max),
            customer=rng.choice(customers),
            when=start + timedelta(hours=rng.randint(0, 24 * 70)),
            channel_code=rng.choice(["web", "email", None]),
            touchpoint=rng.choice(["", "checkout", "support"]),
            business_unit=rng.choice(units),
        )
    return surveys


def _both(kind, **kwargs):
    return (
        selectors.summary(kind=kind, source="live", **kwargs),
        selectors.summary(kind=kind, source="rollup", **kwargs),
    )


def test_rollups_equal_the_on_demand_computation_for_every_grouping(mixed_responses):
    rollups.rebuild_all()
    since = selectors.parse_bound("2026-09-10", field="since")
    until = selectors.parse_bound("2026-10-20", field="until", end=True)
    for kind in ("nps", "ces", "csat"):
        for group_by in GROUPINGS:
            live, rolled = _both(kind, group_by=group_by)
            assert live == rolled, (kind, group_by)
            live, rolled = _both(kind, group_by=group_by, since=since, until=until)
            assert live == rolled, (kind, group_by, "window")
            assert live["overall"]["n"] > 0


def test_dirty_customers_keep_rollups_current(mixed_responses, celery_eager):
    rollups.rebuild_all()
    customer = CustomerFactory()
    survey = mixed_responses["nps"]
    add_response(survey, 0, customer=customer, channel_code="chat", when=datetime(2026, 9, 15, 8, tzinfo=UTC))
    assert _both("nps", group_by="channel")[0] != _both("nps", group_by="channel")[1]
    pipeline.mark_dirty([customer.pk], schedule=False)
    pipeline.process_dirty_customers()
    live, rolled = _both("nps", group_by="channel")
    assert live == rolled
    assert {"group": "chat"}.items() <= next(g for g in rolled["groups"] if g["group"] == "chat").items()


def test_rebuild_is_idempotent(mixed_responses):
    first = rollups.rebuild_rollups()
    assert rollups.rebuild_rollups() == first
    assert ResponseRollup.objects.count() == first
    assert sum(ResponseRollup.objects.values_list("count", flat=True)) == 120


def test_nightly_rebuild_task_runs(mixed_responses, celery_eager):
    from metrics.tasks import rebuild_rollups

    result = rebuild_rollups.delay().get()
    assert result["cells"] == ResponseRollup.objects.count() > 0
    assert result["segment_cells"] > 0


def test_dirty_customers_keep_segment_rollups_current(mixed_responses, celery_eager):
    from segments.models import Segment, SegmentMembership

    rollups.rebuild_all()
    joiner = CustomerFactory()
    add_response(mixed_responses["nps"], 2, customer=joiner, when=datetime(2026, 9, 20, 8, tzinfo=UTC))
    add_response(mixed_responses["nps"], 10, customer=joiner, when=datetime(2026, 10, 2, 8, tzinfo=UTC))
    SegmentMembership.objects.create(
        segment=Segment.objects.get(slug="half"), customer=joiner, since=timezone.now()
    )
    live, rolled = _both("nps", group_by="segment")
    assert live != rolled
    pipeline.mark_dirty([joiner.pk], schedule=False)
    pipeline.process_dirty_customers()
    assert SegmentMembership.objects.filter(customer=joiner).exists()
    live, rolled = _both("nps", group_by="segment")
    assert live == rolled
    assert _both("nps", group_by="channel")[0] == _both("nps", group_by="channel")[1]


def _received_earlier(response, hours: int = 2) -> None:
    type(response).objects.filter(pk=response.pk).update(received_at=timezone.now() - timedelta(hours=hours))


def test_rebuild_is_recorded(mixed_responses):
    outcome = rollups.rebuild_all()
    rebuild = RollupRebuild.objects.get()
    assert (rebuild.cells, rebuild.segment_cells) == (outcome["cells"], outcome["segment_cells"])
    assert rebuild.started_at <= rebuild.finished_at


def test_after_a_rebuild_a_dirty_customer_recounts_only_the_cells_of_new_answers(mixed_responses):
    survey = mixed_responses["nps"]
    customer = CustomerFactory()
    old_days = [datetime(2026, 9, day, 9, tzinfo=UTC) for day in (1, 3, 5, 7, 9)]
    for when in old_days:
        _received_earlier(add_response(survey, 9, customer=customer, when=when))
    rollups.rebuild_all()
    new_day = datetime(2026, 11, 20, 9, tzinfo=UTC)
    add_response(survey, 3, customer=customer, when=new_day)

    written = rollups.refresh_rollups_for_customers([customer.pk])

    # one (survey, day) cell group recounted, not the five days answered before the rebuild
    assert written == ResponseRollup.objects.filter(survey=survey, day=new_day.date()).count() == 1
    live, rolled = _both("nps", group_by="day")
    assert live == rolled


def test_without_a_rebuild_every_cell_of_a_dirty_customer_is_recounted(mixed_responses):
    survey = mixed_responses["nps"]
    customer = CustomerFactory()
    days = [datetime(2026, 11, day, 9, tzinfo=UTC) for day in (20, 22, 24)]  # nobody else answered
    for when in days:
        _received_earlier(add_response(survey, 9, customer=customer, when=when))

    written = rollups.refresh_rollups_for_customers([customer.pk])

    assert written == 3  # no rebuild on record: nothing is known to be counted already
    cells = ResponseRollup.objects.filter(survey=survey).values_list("day", "score", "count")
    assert sorted(cells) == [(when.date(), 9, 1) for when in days]


def test_a_refresh_of_every_customer_writes_the_cells_a_rebuild_writes(mixed_responses):
    """Cells split by channel, touchpoint and unit (None and "" among them) around UTC midnight."""
    columns = ("survey_id", "kind", "day", "channel_id", "touchpoint", "business_unit_id", "score", "count")
    rollups.rebuild_rollups()
    rebuilt = sorted(ResponseRollup.objects.values_list(*columns), key=str)
    ResponseRollup.objects.update(count=999)  # every cell stale: only a recount puts it right
    authors = list(SurveyResponse.objects.values_list("customer_id", flat=True).distinct())

    written = rollups.refresh_rollups_for_customers(authors)

    assert written == len(rebuilt) > 100
    assert sorted(ResponseRollup.objects.values_list(*columns), key=str) == rebuilt


def test_segments_whose_members_moved_since_the_rebuild_are_rebuilt_on_their_own(mixed_responses):
    from segments.models import MovementKind, Segment, SegmentMembership, SegmentMovement

    segment = Segment.objects.get(slug="half")
    untouched = Segment.objects.create(slug="untouched", name="Untouched")
    mover = CustomerFactory()
    for day in (2, 12, 22):
        response = add_response(
            mixed_responses["nps"], 1, customer=mover, when=datetime(2026, 9, day, 9, tzinfo=UTC)
        )
        _received_earlier(response)
    rollups.rebuild_all()
    assert rollups.refresh_moved_segments() == []

    def move(kind):
        SegmentMovement.objects.create(segment=segment, customer=mover, kind=kind, at=timezone.now())

    SegmentMembership.objects.create(segment=segment, customer=mover, since=timezone.now())
    move(MovementKind.ENTERED)
    # a dirty refresh alone does not bring in answers received before the rebuild …
    rollups.refresh_segment_rollups_for_customers([mover.pk])
    assert _both("nps", group_by="segment")[0] != _both("nps", group_by="segment")[1]
    # … the moved segment's own rebuild does; the other segment is left alone
    assert rollups.refresh_moved_segments() == [segment.pk]
    assert _both("nps", group_by="segment")[0] == _both("nps", group_by="segment")[1]
    assert untouched.pk not in RollupRebuild.objects.values_list("segment_id", flat=True)

    SegmentMembership.objects.filter(segment=segment, customer=mover).delete()
    move(MovementKind.EXITED)
    assert rollups.refresh_moved_segments() == [segment.pk]
    assert _both("nps", group_by="segment")[0] == _both("nps", group_by="segment")[1]


def test_moved_segment_rollups_task_is_routed_to_the_models_queue(settings):
    assert settings.CELERY_TASK_ROUTES["metrics.refresh_moved_segment_rollups"] == {"queue": "models"}
    entry = settings.CELERY_BEAT_SCHEDULE["metrics-refresh-moved-segment-rollups"]
    assert entry["task"] == "metrics.refresh_moved_segment_rollups"
