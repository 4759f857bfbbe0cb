"""Segment KPIs: known answers for size over time, movement per period, value, cost and NPS,
in a constant number of queries whatever the segment's size."""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cxhub.errors import DomainError
from interactions.models import Channel
from metrics import scores
from metrics import selectors as metric_selectors
from segments import registry
from segments.models import MovementKind, Refresh, Segment, SegmentKind, SegmentMembership, SegmentMovement
from segments.selectors import kpi_window, segment_kpis
from tests.factories import CustomerFactory, InteractionFactory
from tests.metrics.helpers import add_response, make_survey

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # window of 10 days: 2026-03-01 (a Sunday) … 2026-03-10


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@dataclass
class History:
    segment: Segment
    ann: object
    bob: object
    cat: object
    dan: object
    eve: object


def _move(segment, customer, kind, when) -> None:
    SegmentMovement.objects.create(segment=segment, customer=customer, kind=kind, at=when)


@pytest.fixture
def history(db) -> History:
    """Three members today (Ann, Bob, Cat) and two who left (Dan, Eve), with known movements.

    Ann  entered 02-20 and stayed.
    Bob  entered 02-25, exited 03-03, re-entered 03-05 (member since 03-05).
    Cat  entered 03-02.
    Dan  entered 02-10, exited 03-08.
    Eve  entered and exited on 03-04.
    """
    segment = Segment.objects.create(
        slug="known", name="Known", kind=SegmentKind.STATIC, refresh=Refresh.MANUAL, member_count=3
    )
    ann, bob, cat, dan, eve = (CustomerFactory(first_name=n) for n in ("Ann", "Bob", "Cat", "Dan", "Eve"))
    entered, exited = MovementKind.ENTERED, MovementKind.EXITED
    _move(segment, ann, entered, at("2026-02-20"))
    _move(segment, bob, entered, at("2026-02-25"))
    _move(segment, bob, exited, at("2026-03-03", 10))
    _move(segment, bob, entered, at("2026-03-05", 9))
    _move(segment, cat, entered, at("2026-03-02"))
    _move(segment, dan, entered, at("2026-02-10"))
    _move(segment, dan, exited, at("2026-03-08"))
    _move(segment, eve, entered, at("2026-03-04", 8))
    _move(segment, eve, exited, at("2026-03-04", 17))
    for customer, since in ((ann, "2026-02-20"), (bob, "2026-03-05"), (cat, "2026-03-02")):
        SegmentMembership.objects.create(segment=segment, customer=customer, since=at(since, 9))
    return History(segment, ann, bob, cat, dan, eve)


@pytest.fixture
def priced_channels(db) -> dict[str, Channel]:
    return {
        "phone": Channel.objects.create(code="kpi-phone", name="Phone", cost_per_interaction=Decimal("4.5")),
        "email": Channel.objects.create(
            code="kpi-email", name="Email", cost_per_interaction=Decimal("0.0125")
        ),
        "web": Channel.objects.create(code="kpi-web", name="Web", cost_per_interaction=Decimal("0")),
    }


def _touch(customer, channel, when, value=None, currency="EUR"):
    return InteractionFactory(
        customer=customer,
        channel=channel,
        occurred_at=when,
        type="order_placed" if value is not None else "contact",
        value=Decimal(value) if value is not None else None,
        currency=currency if value is not None else "",
    )


# --- window ---------------------------------------------------------------------------------------


def test_window_is_whole_utc_days_ending_now():
    since, until = kpi_window(days=10, now=NOW)
    assert since == datetime(2026, 3, 1, tzinfo=UTC)
    assert until == NOW
    assert kpi_window(days=1, now=NOW)[0] == datetime(2026, 3, 10, tzinfo=UTC)


# --- size over time and movement ------------------------------------------------------------------


def test_size_over_time_matches_the_hand_computed_history(history):
    kpis = segment_kpis(segment=history.segment, days=10, now=NOW)

    sizes = {row["day"].isoformat(): row["size"] for row in kpis["per_day"]}
    assert sizes == {
        "2026-03-01": 3,  # Ann, Bob, Dan
        "2026-03-02": 4,  # + Cat
        "2026-03-03": 3,  # − Bob
        "2026-03-04": 3,  # Eve in and out the same day
        "2026-03-05": 4,  # + Bob again
        "2026-03-06": 4,
        "2026-03-07": 4,
        "2026-03-08": 3,  # − Dan
        "2026-03-09": 3,
        "2026-03-10": 3,
    }
    moves = {row["day"].isoformat(): (row["entered"], row["exited"]) for row in kpis["per_day"]}
    assert moves["2026-03-04"] == (1, 1) and moves["2026-03-06"] == (0, 0)
    assert (kpis["size"], kpis["size_at_start"], kpis["net_change"]) == (3, 3, 0)
    assert (kpis["entered"], kpis["exited"]) == (3, 3)
    # Of Ann, Bob and Dan at the start only Ann stayed throughout (Bob left and came back).
    assert (kpis["retained"], kpis["retention_rate"]) == (1, 33.3)
    assert kpis["since"] == datetime(2026, 3, 1, tzinfo=UTC) and kpis["until"] == NOW


def test_weeks_are_iso_weeks_clipped_to_the_window(history):
    kpis = segment_kpis(segment=history.segment, days=10, period="week", now=NOW)
    assert kpis["per_period"] == [
        {
            "period": "2026-02-23",
            "start": date(2026, 3, 1),
            "end": date(2026, 3, 1),
            "entered": 0,
            "exited": 0,
            "size_at_end": 3,
        },
        {
            "period": "2026-03-02",
            "start": date(2026, 3, 2),
            "end": date(2026, 3, 8),
            "entered": 3,
            "exited": 3,
            "size_at_end": 3,
        },
        {
            "period": "2026-03-09",
            "start": date(2026, 3, 9),
            "end": date(2026, 3, 10),
            "entered": 0,
            "exited": 0,
            "size_at_end": 3,
        },
    ]


def test_months_across_a_month_boundary(history):
    kpis = segment_kpis(segment=history.segment, days=15, period="month", now=NOW)  # from 02-24
    assert [(r["period"], r["start"], r["end"], r["entered"], r["exited"], r["size_at_end"]) for r in
            kpis["per_period"]] == [
        ("2026-02", date(2026, 2, 24), date(2026, 2, 28), 1, 0, 3),  # Bob joins Ann and Dan
        ("2026-03", date(2026, 3, 1), date(2026, 3, 10), 3, 3, 3),
    ]  # fmt: skip
    # Ann and Dan at the start; Ann stayed.
    assert (kpis["size_at_start"], kpis["retained"], kpis["retention_rate"]) == (2, 1, 50.0)


def test_day_periods_mirror_the_daily_series(history):
    kpis = segment_kpis(segment=history.segment, days=10, period="day", now=NOW)
    assert [(r["period"], r["entered"], r["exited"], r["size_at_end"]) for r in kpis["per_period"]] == [
        (r["day"].isoformat(), r["entered"], r["exited"], r["size"]) for r in kpis["per_day"]
    ]


def test_movements_before_the_window_only_set_the_starting_size(history):
    kpis = segment_kpis(segment=history.segment, days=1, now=NOW)
    assert [(r["day"], r["size"]) for r in kpis["per_day"]] == [(date(2026, 3, 10), 3)]
    assert (kpis["entered"], kpis["exited"], kpis["size_at_start"]) == (0, 0, 3)


def test_movement_stamped_after_now_is_undone_before_the_window(history):
    """A movement from a worker whose clock runs ahead must not shift every earlier day."""
    late = CustomerFactory()
    _move(history.segment, late, MovementKind.ENTERED, NOW + timedelta(days=1))
    SegmentMembership.objects.create(segment=history.segment, customer=late, since=NOW + timedelta(days=1))
    kpis = segment_kpis(segment=history.segment, days=10, now=NOW)
    assert kpis["size"] == 4
    assert [r["size"] for r in kpis["per_day"]][:2] == [3, 4]
    assert kpis["per_day"][-1]["size"] == 3


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reconstruction_equals_a_replay_of_random_histories(db, seed):
    """Random enter/exit histories: the size at the end of every day equals a replay of the movements."""
    rng = random.Random(seed)
    segment = Segment.objects.create(slug=f"random-{seed}", name="Random", kind=SegmentKind.STATIC)
    customers = [CustomerFactory() for _ in range(8)]
    inside: dict[int, datetime] = {}
    events = []
    for offset in range(38):  # 2026-02-01 … 2026-03-10
        for customer in rng.sample(customers, 3):
            when = datetime(2026, 2, 1, rng.randrange(24), tzinfo=UTC) + timedelta(days=offset)
            if when > NOW:
                continue
            kind = MovementKind.EXITED if customer.pk in inside else MovementKind.ENTERED
            if kind == MovementKind.ENTERED:
                inside[customer.pk] = when
            else:
                del inside[customer.pk]
            events.append((when, kind))
            _move(segment, customer, kind, when)
    for customer_id, since in inside.items():
        SegmentMembership.objects.create(segment=segment, customer_id=customer_id, since=since)

    kpis = segment_kpis(segment=segment, days=20, now=NOW)

    for row in kpis["per_day"]:
        end_of_day = datetime.combine(row["day"] + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        replayed = sum(1 if k == MovementKind.ENTERED else -1 for when, k in events if when < end_of_day)
        assert row["size"] == replayed, row["day"]
    assert kpis["size"] == len(inside)
    assert kpis["retained"] == sum(since < kpis["since"] for since in inside.values())


# --- value, cost to serve, NPS ---------------------------------------------------------------------


@pytest.fixture
def touches(history, priced_channels):
    phone, email, web = priced_channels["phone"], priced_channels["email"], priced_channels["web"]
    h = history
    _touch(h.ann, phone, at("2026-02-28", 23))  # before the window: no cost
    _touch(h.ann, phone, at("2026-03-02"))  # 4.50
    _touch(h.ann, email, at("2026-03-03"))  # 0.0125
    _touch(h.ann, web, at("2026-03-04"), "100.00")  # revenue 100.00
    _touch(h.ann, web, at("2026-01-15"), "250.00")  # value to date only
    _touch(h.bob, phone, at("2026-03-06"))  # 4.50
    _touch(h.bob, phone, at("2026-03-07"))  # 4.50
    _touch(h.bob, web, at("2026-03-09"), "40.50")  # revenue 40.50
    for hour in (9, 10, 11):
        _touch(h.cat, email, at("2026-03-05", hour))  # 3 × 0.0125
    _touch(h.cat, web, at("2026-03-11"), "999.00")  # after now: nothing
    _touch(h.dan, phone, at("2026-03-02"), "70.00")  # not a member any more
    return history


def test_cost_to_serve_revenue_and_historical_value_are_exact(touches):
    economics = segment_kpis(segment=touches.segment, days=10, now=NOW)["economics"]
    assert economics == {
        "interactions": 9,
        # 4.50 + 0.0125 + 0 (Ann) + 9.00 + 0 (Bob) + 0.0375 (Cat)
        "cost_to_serve": Decimal("13.55"),
        "cost_to_serve_per_member": Decimal("4.52"),  # 13.55 / 3 = 4.5166…
        "revenue": Decimal("140.50"),  # 100.00 + 40.50
        "profitability": Decimal("126.95"),  # 140.50 − 13.55
        "historical_value_to_date": Decimal("390.50"),  # 250.00 + 100.00 + 40.50
        "average_historical_value_to_date": Decimal("130.17"),  # 390.50 / 3 = 130.166…
        "currency": "EUR",
        "mixed_currencies": False,
    }


def test_mixed_currencies_are_flagged_not_converted(touches, priced_channels):
    _touch(touches.cat, priced_channels["web"], at("2026-03-09"), "10.00", currency="GBP")
    economics = segment_kpis(segment=touches.segment, days=10, now=NOW)["economics"]
    assert economics["revenue"] == Decimal("150.50")
    assert (economics["currency"], economics["mixed_currencies"]) == (None, True)


def test_empty_segment_has_zero_totals_and_no_averages(db):
    segment = Segment.objects.create(slug="empty", name="Empty", kind=SegmentKind.STATIC)
    kpis = segment_kpis(segment=segment, days=7, now=NOW)
    assert kpis["size"] == kpis["size_at_start"] == kpis["entered"] == 0
    assert kpis["retention_rate"] is None
    assert [r["size"] for r in kpis["per_day"]] == [0] * 7
    assert kpis["economics"]["cost_to_serve"] == Decimal("0.00")
    assert kpis["economics"]["cost_to_serve_per_member"] is None
    assert kpis["economics"]["average_historical_value_to_date"] is None
    assert (kpis["economics"]["currency"], kpis["economics"]["mixed_currencies"]) == (None, False)
    assert kpis["nps"] == {
        "n": 0,
        "promoters": 0,
        "passives": 0,
        "detractors": 0,
        "nps": None,
        "margin_of_error": None,
    }


@pytest.fixture
def responses(history):
    h, nps, ces = history, make_survey("nps"), make_survey("ces")
    add_response(nps, 10, customer=h.ann, when=at("2026-03-02"))
    add_response(nps, 9, customer=h.ann, when=at("2026-03-08"))
    add_response(nps, 7, customer=h.bob, when=at("2026-03-04"))
    add_response(nps, 3, customer=h.bob, when=at("2026-02-20"))  # before the window
    add_response(nps, 6, customer=h.cat, when=at("2026-03-06"))
    add_response(nps, 0, customer=h.dan, when=at("2026-03-05"))  # no longer a member
    add_response(ces, 2, customer=h.ann, when=at("2026-03-05"))  # not NPS
    return history


def test_nps_of_current_members_in_the_window(responses):
    figure = segment_kpis(segment=responses.segment, days=10, now=NOW)["nps"]
    # 2 promoters, 1 passive, 1 detractor: (2 − 1) / 4 = 25 points;
    # margin = 1.96 × sqrt((0.5 + 0.25 − 0.25²) / 4) × 100 = 81.26
    assert figure == {
        "n": 4,
        "promoters": 2,
        "passives": 1,
        "detractors": 1,
        "nps": 25.0,
        "margin_of_error": 81.3,
    }
    assert figure == scores.nps([10, 9, 7, 6]).as_dict()


def test_nps_agrees_with_the_metrics_api_grouped_by_segment(responses):
    since, until = kpi_window(days=10, now=NOW)
    grouped = metric_selectors.summary(kind="nps", group_by="segment", since=since, until=until)
    (group,) = [g for g in grouped["groups"] if g["group"] == "known"]
    group.pop("group")
    assert segment_kpis(segment=responses.segment, days=10, now=NOW)["nps"] == group


# --- arguments and the provider registry -------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "period", "field"), [(0, "day", "days"), (367, "day", "days"), (7, "year", "period")]
)
def test_bad_arguments_are_domain_errors(history, days, period, field):
    with pytest.raises(DomainError) as raised:
        segment_kpis(segment=history.segment, days=days, period=period, now=NOW)
    assert raised.value.field == field


def test_a_provider_cannot_shadow_a_builtin_figure():
    with pytest.raises(ValueError, match="built-in"):
        registry.register_kpi_provider(
            registry.KpiProvider(key="economics", title="X", compute=lambda window: {}, serializer=None)
        )


def test_registered_provider_gets_the_window_and_the_members(history, monkeypatch):
    monkeypatch.setattr(registry, "_kpi_providers", dict(registry._kpi_providers))
    seen = {}

    def count_members(window: registry.KpiWindow) -> dict:
        seen.update(since=window.since, until=window.until, segment=window.segment)
        return {"members": len(list(window.members))}

    registry.register_kpi_provider(
        registry.KpiProvider(key="members_seen", title="Seen", compute=count_members, serializer=None)
    )
    kpis = segment_kpis(segment=history.segment, days=10, now=NOW)
    assert kpis["members_seen"] == {"members": 3}
    assert seen == {"since": datetime(2026, 3, 1, tzinfo=UTC), "until": NOW, "segment": history.segment}


# --- query counts ------------------------------------------------------------------------------------


def _grow(segment: Segment, n: int, channels: dict[str, Channel]) -> None:
    """``n`` members, each with movements, interactions on priced channels and an NPS response."""
    survey = make_survey("nps")
    for i in range(n):
        customer = CustomerFactory()
        SegmentMembership.objects.create(segment=segment, customer=customer, since=at("2026-03-02"))
        _move(segment, customer, MovementKind.ENTERED, at("2026-03-02"))
        _touch(customer, channels["phone"], at("2026-03-03"))
        _touch(customer, channels["web"], at("2026-03-04"), "12.00")
        add_response(survey, i % 11, customer=customer, when=at("2026-03-05"))


@pytest.mark.parametrize("members", [1, 60])
def test_kpis_take_three_queries_whatever_the_size(db, priced_channels, members, django_assert_num_queries):
    segment = Segment.objects.create(slug=f"big-{members}", name="Big", kind=SegmentKind.STATIC)
    _grow(segment, members, priced_channels)
    # size and movements (one UNION), the members' interactions, one per KPI provider (NPS, value…)
    with django_assert_num_queries(2 + len(registry.kpi_providers())):
        kpis = segment_kpis(segment=segment, days=30, period="week", now=NOW)
    assert kpis["size"] == kpis["entered"] == members
    assert kpis["economics"]["interactions"] == 2 * members
    assert kpis["economics"]["cost_to_serve"] == Decimal("4.50") * members
    assert kpis["nps"]["n"] == members
