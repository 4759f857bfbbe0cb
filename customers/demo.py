"""Demo customers: three business units with overlapping people, identities and consents."""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import BusinessUnit, Consent, Customer, Identity, IdentityKind, LifecycleStage

BUSINESS_UNITS = (("retail", "Retail stores"), ("telecom", "Telecom"), ("energy", "Energy"))
DEMO_PEOPLE = 240
FIRST_NAMES = (
    "Ann",
    "Ben",
    "Chloe",
    "David",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Isla",
    "Jamal",
    "Kate",
    "Liam",
    "Maya",
    "Noah",
    "Olivia",
    "Priya",
    "Quentin",
    "Rosa",
    "Sam",
    "Tara",
)
LAST_NAMES = (
    "Lee",
    "Smith",
    "Patel",
    "Jones",
    "Brown",
    "Garcia",
    "Khan",
    "Murphy",
    "Novak",
    "Okafor",
    "Rossi",
    "Silva",
    "Taylor",
    "Walsh",
    "Young",
    "Zhang",
)
STAGES = (
    LifecycleStage.ACTIVE,
    LifecycleStage.ACTIVE,
    LifecycleStage.ACTIVE,
    LifecycleStage.AT_RISK,
    LifecycleStage.LAPSED,
    LifecycleStage.PROSPECT,
)


@transaction.atomic
def seed(*, rng: random.Random, stdout) -> None:
    units = {
        code: BusinessUnit.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in BUSINESS_UNITS
    }
    if Customer.objects.exists():
        stdout.write("  customers already present, skipped")
        return
    now = timezone.now()
    customers, identities, consents, memberships = [], [], [], []
    for n in range(DEMO_PEOPLE):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{n}@example.org".lower()
        phone = f"+4477009{n:05d}"
        customers.append(
            Customer(
                first_name=first,
                last_name=last,
                email=email,
                phone=phone,
                lifecycle_stage=rng.choice(STAGES),
                preferred_channel=rng.choice(("email", "phone", "sms", "chat")),
                language=rng.choice(("en", "en", "fr", "de")),
                attributes={"plan": rng.choice(("basic", "plus", "gold")), "demo": True},
                last_seen_at=now - timedelta(days=rng.randint(0, 360)),
            )
        )
    Customer.objects.bulk_create(customers)
    customers = list(Customer.objects.order_by("id"))
    unit_list = list(units.values())
    for n, customer in enumerate(customers):
        # About one person in six is a customer of two business units.
        homes = rng.sample(unit_list, 2 if rng.random() < 0.17 else 1)
        for unit in homes:
            memberships.append(Customer.business_units.through(customer=customer, businessunit=unit))
            identities.append(
                Identity(
                    customer=customer,
                    kind=IdentityKind.EXTERNAL_ID,
                    namespace=unit.code,
                    value=f"{unit.code[:1].upper()}-{n:05d}",
                    source=unit.code,
                )
            )
        identities.append(
            Identity(customer=customer, kind=IdentityKind.EMAIL, value=customer.email, source=homes[0].code)
        )
        identities.append(
            Identity(customer=customer, kind=IdentityKind.PHONE, value=customer.phone, source=homes[0].code)
        )
        captured = now - timedelta(days=rng.randint(200, 400))
        for channel in ("email", "sms", "phone"):
            granted = rng.random() < 0.7
            consents.append(
                Consent(
                    customer=customer,
                    channel=channel,
                    purpose="marketing",
                    granted=granted,
                    source="signup_form",
                    captured_at=captured,
                    evidence="Demo sign-up form",
                )
            )
            if granted and rng.random() < 0.1:
                consents.append(
                    Consent(
                        customer=customer,
                        channel=channel,
                        purpose="marketing",
                        granted=False,
                        source="unsubscribe_link",
                        captured_at=captured + timedelta(days=rng.randint(10, 150)),
                        evidence="Unsubscribed from a newsletter",
                    )
                )
    Customer.business_units.through.objects.bulk_create(memberships)
    Identity.objects.bulk_create(identities)
    Consent.objects.bulk_create(consents)
    stdout.write(f"  {len(customers)} customers, {len(identities)} identities, {len(consents)} consents")
