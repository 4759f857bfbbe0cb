"""A real Celery worker on PostgreSQL + Redis delivers queued messages to a real SMTP server."""

import time

import pytest

from outreach.models import Message, MessageStatus
from outreach.services import send_message
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_worker_delivers_each_message_once_even_when_the_task_is_sent_twice(smtp_sink, celery_worker_process):
    from outreach.tasks import deliver_message

    customers = [CustomerFactory() for _ in range(3)]
    messages = [
        send_message(customer=c, channel="email", purpose="service", subject="Your order", body="Shipped")
        for c in customers
    ]
    for message in messages:  # a redelivered task: the claim lets only one through
        deliver_message.delay(message.pk)
    deadline = time.monotonic() + 60
    while Message.objects.filter(status=MessageStatus.SENT).count() < 3:
        assert time.monotonic() < deadline, "the worker did not deliver the messages"
        time.sleep(0.2)
    time.sleep(1.0)  # let the duplicate tasks run too
    assert sorted(r["to"][0] for r in smtp_sink.received) == sorted(c.email for c in customers)
    assert set(Message.objects.values_list("attempts", flat=True)) == {1}
