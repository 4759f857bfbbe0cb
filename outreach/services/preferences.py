"""The customer's side: one-click unsubscribe and the preference centre, both append to the consent ledger."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from customers.models import ConsentPurpose, Customer
from customers.selectors import ALL_CHANNELS, consent_state, survivor_id
from customers.services import record_consent
from cxhub.errors import NotFound
from interactions.models import Interaction

from ..models import Message

PREFERENCE_SOURCE = "preference_center"
UNSUBSCRIBE_SOURCE = "one_click_unsubscribe"
# What the preference centre offers: the channels we write on, the purposes that need a choice.
CHANNELS = (
    ("email", "Email"),
    ("sms", "Text messages (SMS)"),
    ("whatsapp", "WhatsApp"),
    ("phone", "Phone calls"),
)
PURPOSES = (
    (ConsentPurpose.MARKETING, "Offers and news"),
    (ConsentPurpose.SURVEYS, "Surveys about our service"),
    (ConsentPurpose.SERVICE, "Service messages about your orders and requests"),
)


@dataclass(frozen=True)
class Choice:
    channel: str
    channel_label: str
    purpose: str
    purpose_label: str
    granted: bool
    name: str


def live_customer(customer_id: int) -> Customer:
    live = survivor_id(customer_id)
    customer = Customer.objects.filter(pk=live).first() if live else None
    if customer is None:
        raise NotFound("This link is no longer valid.")
    return customer


@transaction.atomic
def unsubscribe(*, message_id: int) -> Message:
    """Withdraw the consent a message relied on (its channel and purpose), the message as evidence."""
    message = Message.objects.select_related("customer").filter(pk=message_id).first()
    if message is None:
        raise NotFound("This link is no longer valid.")
    customer = live_customer(message.customer_id)
    if current_choice(customer, message.channel, message.purpose):
        record_consent(
            customer=customer,
            channel=message.channel,
            purpose=message.purpose,
            granted=False,
            source=UNSUBSCRIBE_SOURCE,
            evidence=f"One-click unsubscribe (RFC 8058) from message {message.pk}: {message.subject}"[:2000],
        )
    return message


def current_choice(customer: Customer, channel: str, purpose: str) -> bool:
    from customers.selectors import can_contact

    return can_contact(customer=customer, channel=channel, purpose=purpose)


def choices(customer: Customer) -> list[Choice]:
    """Every (channel, purpose) the centre offers with its current state (one ledger query)."""
    state = consent_state(customer_id=customer.pk)
    out = []
    for channel, channel_label in CHANNELS:
        for purpose, purpose_label in PURPOSES:
            rows = [r for r in (state.get((channel, purpose)), state.get((ALL_CHANNELS, purpose))) if r]
            if rows:
                granted = max(rows, key=lambda r: (r.captured_at, r.pk)).granted
            else:
                granted = purpose == ConsentPurpose.SERVICE
            out.append(
                Choice(channel, channel_label, purpose, purpose_label, granted, f"{channel}:{purpose}")
            )
    return out


@transaction.atomic
def save_choices(*, customer: Customer, granted: set[str]) -> int:
    """Append a ledger row for every choice that changed; ``granted`` holds "channel:purpose" names."""
    changed = 0
    for choice in choices(customer):
        wanted = choice.name in granted
        if wanted != choice.granted:
            record_consent(
                customer=customer,
                channel=choice.channel,
                purpose=choice.purpose,
                granted=wanted,
                source=PREFERENCE_SOURCE,
                evidence="Changed by the customer in the preference centre.",
            )
            changed += 1
    return changed


def data_held(customer: Customer) -> list[tuple[str, str]]:
    """The kinds of data held about the customer, in plain words (a constant number of queries)."""
    kinds = []
    if customer.first_name or customer.last_name:
        kinds.append(("Name", "your first and last name"))
    contact = [w for w, v in (("email address", customer.email), ("phone number", customer.phone)) if v]
    if contact:
        kinds.append(("Contact details", " and ".join(contact)))
    identity_kinds = sorted(set(customer.identities.values_list("kind", flat=True)))
    if identity_kinds:
        kinds.append(("Identifiers", ", ".join(k.replace("_", " ") for k in identity_kinds)))
    by_channel = (
        Interaction.objects.filter(customer_id=customer.pk)
        .values("channel__name")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    if by_channel:
        kinds.append(
            (
                "Contacts with us",
                ", ".join(f"{row['n']} by {row['channel__name'].lower()}" for row in by_channel),
            )
        )
    if customer.attributes:
        kinds.append(("Other details", ", ".join(sorted(customer.attributes)[:12]).replace("_", " ")))
    kinds.append(("Your choices", "the consent history shown on this page"))
    return kinds
