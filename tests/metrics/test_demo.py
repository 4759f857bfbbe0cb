import io
import random

import pytest

from metrics.models import FollowUpCase, ResponseRollup, Survey, SurveyResponse

pytestmark = pytest.mark.django_db


def test_demo_data_correlates_complaints_with_worse_nps_and_is_idempotent():
    from customers import demo as customer_demo
    from interactions import demo as interaction_demo
    from interactions.models import Interaction
    from metrics import demo, scores

    rng = random.Random(2026)
    out = io.StringIO()
    customer_demo.seed(rng=rng, stdout=out)
    interaction_demo.seed(rng=rng, stdout=out)
    demo.seed(rng=rng, stdout=out)
    assert Survey.objects.count() == 3
    assert SurveyResponse.objects.count() == demo.RESPONSES
    assert SurveyResponse.objects.exclude(comment="").filter(sentiment_label="").count() == 0
    assert FollowUpCase.objects.exists() and ResponseRollup.objects.exists()
    assert not SurveyResponse.objects.filter(timeline_interaction__isnull=True).exists()
    complainers = set(Interaction.objects.filter(type="complaint").values_list("customer_id", flat=True))
    nps_rows = list(SurveyResponse.objects.filter(kind="nps").values_list("customer_id", "score"))
    with_complaint = scores.nps([s for c, s in nps_rows if c in complainers]).nps
    without = scores.nps([s for c, s in nps_rows if c not in complainers]).nps
    assert with_complaint < without
    demo.seed(rng=rng, stdout=out)
    assert SurveyResponse.objects.count() == demo.RESPONSES
