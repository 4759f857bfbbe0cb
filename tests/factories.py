"""factory-boy factories shared by every app's tests."""

from datetime import UTC, datetime, timedelta

import factory
from django.utils import timezone

from customers.models import BusinessUnit, Customer, Identity, IdentityKind
from interactions.models import Channel, Direction, Interaction
from outreach.models import Message


class BusinessUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessUnit
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"bu{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"person{n}@example.org")


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    customer = factory.SubFactory(CustomerFactory)
    kind = IdentityKind.EMAIL
    value = factory.Sequence(lambda n: f"id{n}@example.org")


def channel(code: str = "web") -> Channel:
    """Channels are seeded by a migration; fetch one by code."""
    return Channel.objects.get(code=code)


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    customer = factory.SubFactory(CustomerFactory)
    channel = factory.LazyFunction(lambda: channel("web"))
    direction = Direction.INBOUND
    type = "page_view"
    occurred_at = factory.Sequence(lambda n: datetime(2026, 1, 1, tzinfo=UTC).replace(minute=n % 60))
    source = "test"
    external_id = factory.Sequence(lambda n: f"ext-{n}")


class MessageFactory(factory.django.DjangoModelFactory):
    """An outbound message already on record: a marketing email sent now, or ``days_ago``."""

    class Meta:
        model = Message

    class Params:
        days_ago = 0

    customer = factory.SubFactory(CustomerFactory)
    channel = "email"
    purpose = "marketing"
    status = "sent"
    created_at = factory.LazyAttribute(lambda o: timezone.now() - timedelta(days=o.days_ago))
    updated_at = factory.LazyFunction(timezone.now)
