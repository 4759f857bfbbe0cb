import io
import random

import pytest

from journeys import demo
from journeys.models import Journey, JourneyInstance, JourneyTransition
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_demo_seeds_instances_once():
    CustomerFactory.create_batch(5)
    out = io.StringIO()
    demo.seed(rng=random.Random(1), stdout=out)
    assert Journey.objects.count() == 4
    instances = JourneyInstance.objects.count()
    assert instances >= 4 * demo.JOURNEYS_PER_KIND - 10  # a few may start in the future and be cut
    assert JourneyTransition.objects.count() > instances
    assert JourneyInstance.objects.filter(state="completed").exists()
    demo.seed(rng=random.Random(1), stdout=out)
    assert JourneyInstance.objects.count() == instances
    assert "skipped" in out.getvalue()


def test_demo_tells_a_believable_story_with_a_short_queue():
    from django.db.models import Count

    from interactions import demo as interactions_demo
    from journeys.models import JourneyException

    CustomerFactory.create_batch(40)
    out = io.StringIO()
    interactions_demo.seed(rng=random.Random(3), stdout=out)
    demo.seed(rng=random.Random(3), stdout=out)
    orders = JourneyInstance.objects.filter(journey__slug="order-to-cash")
    states = dict(orders.values_list("state").annotate(n=Count("id")))
    total = sum(states.values())
    assert states.get("completed", 0) / total > 0.8  # most orders get paid and settled
    overdue = states.get("breached", 0) + states.get("abandoned", 0)
    assert 0 < overdue / total < 0.15  # a minority is stuck
    per_customer = JourneyException.objects.values("instance__customer").annotate(n=Count("id"))
    assert max(row["n"] for row in per_customer) <= 4
    per_instance = JourneyException.objects.values("instance").annotate(n=Count("id"))
    assert max(row["n"] for row in per_instance) <= 2  # one per meaning (overdue, channel switch)
