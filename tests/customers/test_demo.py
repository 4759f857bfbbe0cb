import io
import random

import pytest

from customers import demo
from customers.data_quality import likely_duplicates
from customers.identities import normalize_phone
from customers.models import Customer, Identity, MergeEvent

pytestmark = pytest.mark.django_db


def test_demo_customers_show_the_merge_story_and_seed_once():
    out = io.StringIO()
    demo.seed(rng=random.Random(7), stdout=out)
    assert MergeEvent.objects.count() == demo.MERGED_BY_RESOLUTION
    assert likely_duplicates().count >= demo.UNRESOLVED_DUPLICATES
    assert (
        Customer.objects.filter(business_units__isnull=False).distinct().count() == Customer.objects.count()
    )
    phone = Identity.objects.filter(kind="phone").first().value
    assert normalize_phone(phone) == phone  # demo values are valid, normalised identities
    count = Customer.objects.count()
    demo.seed(rng=random.Random(7), stdout=out)
    assert Customer.objects.count() == count
