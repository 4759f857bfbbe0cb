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
