"""Demo customers: three business units with overlapping people, identities and consents.

Besides the clean profiles, the demo leaves the merge story visible: some people exist twice
(another business unit's profile with the same name and postcode, not linked by any identity:
the data-quality report and the admin merge action find them), and some incoming records
link two profiles so resolution merges them (merge history with an unmerge button).
"""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import BusinessUnit, Consent, Customer, Identity, IdentityKind, LifecycleStage
from .services import resolve_customers

BUSINESS_UNITS = (("retail", "Retail stores"), ("telecom", "Telecom"), ("energy", "Energy"))
DEMO_PEOPLE = 240
UNRESOLVED_DUPLICATES = 24
MERGED_BY_RESOLUTION = 12
POSTCODES = (
    "LS1 1AA",
    "M1 2AB",
    "B2 4QA",
    "EH1 1YZ",
    "CF10 1EP",
    "BS1 5TR",
    "NE1 7RU",
    "G1 1XQ",
    "L1 8JQ",
    "S1 2HE",
    "NG1 5FS",
    "OX1 2JD",
    "CB2 1TN",
    "BN1 1UB",
    "YO1 7HH",
    "SW1A 1AA",
)
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
        phone = f"+447911{n:06d}"
        customers.append(
            Customer(
                first_name=first,
                last_name=last,
                email=email,
                phone=phone,
                lifecycle_stage=rng.choice(STAGES),
                preferred_channel=rng.choice(("email", "phone", "sms", "chat")),
                language=rng.choice(("en", "en", "fr", "de")),
                attributes={
                    "plan": rng.choice(("basic", "plus", "gold")),
                    "postcode": rng.choice(POSTCODES),
                    "demo": True,
                },
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
    _seed_overlaps(rng=rng, stdout=stdout, customers=customers, units=unit_list)


def _seed_overlaps(
    *, rng: random.Random, stdout, customers: list[Customer], units: list[BusinessUnit]
) -> None:
    """Second profiles of existing people in another unit; some get linked (and merged) by resolution."""
    now = timezone.now()
    people = rng.sample(customers, UNRESOLVED_DUPLICATES + MERGED_BY_RESOLUTION)
    homes = dict(
        Customer.business_units.through.objects.filter(customer__in=people).values_list(
            "customer_id", "businessunit_id"
        )
    )
    duplicates, identities, memberships, links = [], [], [], []
    for index, person in enumerate(people):
        unit = next(u for u in units if u.pk != homes.get(person.pk))
        email = f"{person.first_name}{person.last_name}{index}@mail.example.net".lower()
        duplicate = Customer.objects.create(
            first_name=person.first_name,
            last_name=person.last_name,
            email=email,
            lifecycle_stage=LifecycleStage.ACTIVE,
            attributes={"postcode": person.attributes.get("postcode", ""), "demo": True, "duplicate": True},
            source=unit.code,
            last_seen_at=now - timedelta(days=rng.randint(0, 90)),
        )
        duplicates.append(duplicate)
        memberships.append(Customer.business_units.through(customer=duplicate, businessunit=unit))
        identities.append(
            Identity(customer=duplicate, kind=IdentityKind.EMAIL, value=email, source=unit.code)
        )
        identities.append(
            Identity(
                customer=duplicate,
                kind=IdentityKind.EXTERNAL_ID,
                namespace=unit.code,
                value=f"{unit.code[:1].upper()}-D{index:04d}",
                source=unit.code,
            )
        )
        if index >= UNRESOLVED_DUPLICATES:  # an incoming record carries the new email and the known phone
            links.append([(IdentityKind.EMAIL, "", email), (IdentityKind.PHONE, "", person.phone)])
    Customer.business_units.through.objects.bulk_create(memberships)
    Identity.objects.bulk_create(identities)
    results = resolve_customers(identity_sets=links, source="demo_sync")
    merged = sum(len(r.merged_ids) for r in results)
    stdout.write(
        f"  {UNRESOLVED_DUPLICATES} unresolved duplicates across units, {merged} merged by resolution"
    )
