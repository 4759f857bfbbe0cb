from datetime import UTC, datetime, timedelta

import pytest

from interactions.selectors import customer_timeline
from tests.factories import CustomerFactory, InteractionFactory, channel

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def test_timeline_keyset_pages_cover_every_row_once_newest_first():
    ann = CustomerFactory()
    rows = [InteractionFactory(customer=ann, occurred_at=T0 + timedelta(hours=n % 4)) for n in range(10)]
    InteractionFactory(occurred_at=T0)  # someone else's
    seen, before = [], None
    while True:
        page = customer_timeline(customer_id=ann.pk, before=before, limit=3)
        if not page:
            break
        seen += [r.pk for r in page]
        before = (page[-1].occurred_at, page[-1].pk)
    assert seen == [r.pk for r in sorted(rows, key=lambda r: (r.occurred_at, r.pk), reverse=True)]


def test_timeline_filters_and_constant_queries(django_assert_num_queries):
    ann = CustomerFactory()
    email = InteractionFactory(
        customer=ann, channel=channel("email"), type="email_sent", direction="outbound", occurred_at=T0
    )
    InteractionFactory(customer=ann, channel=channel("web"), occurred_at=T0)
    InteractionFactory(
        customer=ann,
        channel=channel("email"),
        type="email_sent",
        direction="outbound",
        occurred_at=T0 - timedelta(days=10),
    )
    with django_assert_num_queries(1):
        page = customer_timeline(
            customer_id=ann.pk,
            channel="email",
            type="email_sent",
            direction="outbound",
            since=T0 - timedelta(days=1),
            until=T0 + timedelta(days=1),
        )
        assert [(r.pk, r.channel.code, r.business_unit, r.agent) for r in page] == [
            (email.pk, "email", None, None)
        ]
