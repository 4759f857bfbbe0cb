"""The data generator: deterministic for a seed, exact counts, realistic overlap, both load paths."""

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import Count

from customers.identities import normalize_identity
from customers.models import Consent, Customer, Identity
from interactions.models import Interaction
from tooling.datagen.generator import Reference, Spec, allocate_interactions, generate_chunk, make_plan

AS_OF = date(2026, 6, 30)
CHANNELS = ("email", "phone", "chat", "web", "mobile_app", "sms", "whatsapp", "social", "store", "letter")
REFERENCE = Reference(
    unit_ids={"retail": 1, "telecom": 2, "energy": 3},
    channel_ids={code: n for n, code in enumerate(CHANNELS, 1)},
    agent_ids=(11, 12, 13),
    surveys=((1, "nps", "order_delivered"), (2, "ces", "query_resolved"), (3, "csat", "complaint_resolved")),
)


def _all_rows(seed: int, customers: int = 600, interactions: int = 6000):
    plan = make_plan(
        Spec(customers=customers, interactions=interactions, seed=seed, responses=300, as_of=AS_OF),
        REFERENCE,
        chunk_size=250,
    )
    chunks = [generate_chunk(plan, i) for i in range(plan.chunk_count)]
    return {key: [row for c in chunks for row in getattr(c, key)] for key in vars(chunks[0])}


def test_same_seed_gives_identical_rows_and_another_seed_does_not():
    first, again, other = _all_rows(7), _all_rows(7), _all_rows(8)
    assert first == again
    assert first["interactions"] != other["interactions"]
    assert first["customers"] != other["customers"]


def test_counts_are_exact_and_activity_is_heavy_tailed():
    counts = allocate_interactions(10_000, 100_000, random.Random(1))
    assert sum(counts) == 100_000
    ranked = sorted(counts, reverse=True)
    assert sum(ranked[:1000]) > 0.3 * 100_000  # the top 10% do far more than 10% of the work
    assert counts.count(0) > 500  # leads with no activity yet

    rows = _all_rows(3)
    assert len(rows["customers"]) == 600
    assert len(rows["interactions"]) == 6000
    assert len(rows["responses"]) == 300
    assert len({r[0] for r in rows["interactions"]}) == 6000  # ids are distinct


def test_journeys_weekly_pattern_and_scores_follow_experience():
    rows = _all_rows(5, customers=2000, interactions=30_000)
    interactions = rows["interactions"]
    types = Counter(r[4] for r in interactions)
    # Orders go placed -> shipped -> delivered; complaints get acknowledged before they are resolved.
    assert types["order_placed"] >= types["order_delivered"] > 0
    assert types["complaint"] >= types["complaint_resolved"] > 0
    assert {r[3] for r in interactions} == {"inbound", "outbound"}
    assert any(r[15] for r in interactions if r[4] == "order_placed")  # orders carry values
    end = datetime(2026, 7, 1, tzinfo=UTC).timestamp()
    assert all(end - 731 * 86400 <= r[5] < end for r in interactions)
    weekday = Counter(datetime.fromtimestamp(r[5], UTC).weekday() for r in interactions)
    assert weekday[5] > weekday[6]  # Saturdays busier than Sundays
    complained = {r[1] for r in interactions if r[4] == "complaint"}
    nps = [(r[3] in complained, r[4]) for r in rows["responses"] if r[2] == "nps"]
    with_complaint = [s for c, s in nps if c]
    without = [s for c, s in nps if not c]
    assert with_complaint and without
    assert sum(with_complaint) / len(with_complaint) < sum(without) / len(without) - 1


def _assert_loaded_database(customers: int, interactions: int) -> None:
    assert Customer.objects.count() == customers
    assert Interaction.objects.count() == interactions
    two_units = Customer.objects.annotate(n=Count("business_units")).filter(n=2).count()
    # A twin profile holds a copy of its person's email, whose identity belongs to the other profile.
    twins = Customer.objects.exclude(email="").exclude(identities__kind="email").count()
    assert (
        Identity.objects.filter(
            kind="email", value__in=Customer.objects.exclude(identities__kind="email").values("email")
        ).count()
        == twins
    )
    people = customers - twins
    assert 0.06 < (two_units + twins) / people < 0.15
    assert twins > 0
    for kind, namespace, value in Identity.objects.values_list("kind", "namespace", "value")[:400]:
        assert normalize_identity(kind, value, namespace) == (kind, namespace, value)
    # The ledger has history: some customers withdrew after granting.
    assert Consent.objects.filter(granted=False, source="unsubscribe_link").exists()
    latest = Interaction.objects.order_by("-occurred_at").first()
    assert latest.occurred_at < datetime(2026, 7, 1, tzinfo=UTC)
    assert latest.occurred_at > datetime(2026, 7, 1, tzinfo=UTC) - timedelta(days=30)
    customer = Customer.objects.exclude(last_seen_at=None).first()
    assert customer.created_at.year < 2027
    assert customer.last_seen_at == customer.interactions.order_by("-occurred_at").first().occurred_at


def _generate(customers: int, interactions: int, responses: int = 0) -> str:
    out = StringIO()
    call_command(
        "generate_data",
        customers=customers,
        interactions=interactions,
        responses=responses,
        seed=11,
        as_of=AS_OF,
        workers=1,
        chunk_size=400,
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


@pytest.mark.django_db
def test_generate_data_loads_exact_counts_with_the_orm_path():
    output = _generate(1000, 6000, responses=200)
    assert "100.0%" in output and "Loaded" in output
    _assert_loaded_database(1000, 6000)
    if apps.is_installed("metrics"):
        SurveyResponse = apps.get_model("metrics", "SurveyResponse")
        assert SurveyResponse.objects.count() == 200
        # Verbatims carry the metrics app's own sentiment and themes; detractors mostly sound negative.
        commented = SurveyResponse.objects.exclude(comment="")
        assert commented.exists() and not commented.filter(sentiment_label="").exists()
        assert SurveyResponse.themes.through.objects.exists()
        detractors = commented.filter(kind="nps", score__lte=6)
        assert detractors.filter(sentiment_label="negative").count() > detractors.count() / 2


@pytest.mark.postgres
@pytest.mark.django_db
def test_generate_data_loads_with_copy_and_moves_the_sequences_on():
    output = _generate(1000, 6000)
    assert "COPY on postgresql" in output
    _assert_loaded_database(1000, 6000)
    top = Customer.objects.order_by("-id").values_list("id", flat=True).first()
    assert Customer.objects.create(first_name="After").id > top
    top = Interaction.objects.order_by("-id").values_list("id", flat=True).first()
    created = Interaction.objects.create(
        customer_id=Customer.objects.first().id,
        channel_id=Interaction.objects.first().channel_id,
        direction="inbound",
        type="call",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert created.id > top
    # Running again with the same seed adds a second, non-colliding batch.
    _generate(200, 500)
    assert Customer.objects.count() == 1201


def _schema(tables: tuple[str, ...]) -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = ANY(%s::regclass[]) "
            "UNION ALL SELECT conname || pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY(%s::regclass[])",
            [list(tables), list(tables)],
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.postgres
@pytest.mark.django_db
def test_bulk_load_with_deferred_indexes_rebuilds_every_index_and_foreign_key():
    from tooling.datagen.loader import load

    tables = ("interactions_interaction", "customers_identity", "customers_consent", "customers_customer")
    before = _schema(tables)
    assert any("FOREIGN KEY" in d for d in before) and any("INDEX" in d for d in before)
    result = load(Spec(customers=300, interactions=2000, seed=4, as_of=AS_OF), workers=0, defer_indexes=True)
    assert result.rows["interactions"] == 2000
    assert _schema(tables) == before
    assert Interaction.objects.filter(customer__isnull=False).count() == 2000
