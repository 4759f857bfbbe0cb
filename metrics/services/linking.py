"""How metrics reaches the lower layers: resolving customers and writing timeline interactions."""

from django.utils import timezone

from customers.identities import normalize_identity
from customers.models import Customer
from customers.selectors import survivor_id
from customers.services import resolve_customers
from cxhub.errors import DomainError, NotFound
from interactions import services as interaction_services
from interactions.models import Channel, Direction
from interactions.services import RecordedInteraction

SOURCE = "surveys"
IDENTITY_KINDS = ("email", "phone", "anonymous_id", "device_id", "external_id")


def identity_triples(spec: dict, *, field: str = "customer") -> list[tuple[str, str, str]]:
    """Normalised (kind, namespace, value) triples from ``{"email": ..., "external_id": ..., ...}``."""
    if not isinstance(spec, dict) or not spec:
        raise DomainError("customer must be an object of identities.", field=field)
    unknown = set(spec) - set(IDENTITY_KINDS) - {"namespace"}
    if unknown:
        raise DomainError(
            f"Unknown identity kind {sorted(unknown)[0]!r}.", field=f"{field}.{sorted(unknown)[0]}"
        )
    triples = []
    for kind in IDENTITY_KINDS:
        if kind in spec and spec[kind] not in (None, ""):
            namespace = spec.get("namespace", "") if kind == "external_id" else ""
            try:
                triples.append(normalize_identity(kind, spec[kind], namespace))
            except DomainError as exc:
                raise DomainError(exc.message, field=f"{field}.{exc.field or kind}", code=exc.code) from exc
    if not triples:
        raise DomainError("customer needs at least one identity.", field=field)
    return triples


def resolve_customer(
    *, customer_spec: dict | None = None, customer_id=None, source: str = SOURCE
) -> Customer:
    """The live customer named by ``customer_id`` or by identities (created when none matches)."""
    if customer_id is not None:
        return customer_by_id(customer_id)
    if customer_spec is None:
        raise DomainError("Give customer (identities) or customer_id.", field="customer")
    triples = identity_triples(customer_spec)
    return resolve_customers(identity_sets=[triples], source=source)[0].customer


def customer_by_id(customer_id) -> Customer:
    try:
        pk = int(customer_id)
    except (TypeError, ValueError) as exc:
        raise DomainError("customer_id must be an integer.", field="customer_id") from exc
    live = survivor_id(pk)
    customer = Customer.objects.filter(pk=live).first() if live is not None else None
    if customer is None:
        raise NotFound(f"Customer {customer_id} does not exist.", field="customer_id")
    return customer


def channel_by_code(code: str | None, *, field: str = "channel") -> Channel | None:
    if not code:
        return None
    channel = Channel.objects.filter(code=code).first()
    if channel is None:
        raise DomainError(f"Unknown channel {code!r}.", field=field)
    return channel


def record_interaction(
    *,
    customer_id: int,
    channel: Channel,
    direction: str,
    type: str,
    external_id: str,
    subject: str = "",
    summary: str = "",
    touchpoint: str = "",
    business_unit_id: int | None = None,
    agent=None,
    properties: dict | None = None,
    occurred_at=None,
) -> RecordedInteraction:
    """Write one survey interaction on the customer's timeline (idempotent on its external id)."""
    return interaction_services.record_interaction(
        dirty_reason="survey",
        customer_id=customer_id,
        channel_id=channel.pk,
        direction=direction,
        type=type,
        source=SOURCE,
        external_id=external_id,
        occurred_at=occurred_at or timezone.now(),
        subject=subject[:255],
        summary=summary[:4000],
        touchpoint=touchpoint,
        business_unit_id=business_unit_id,
        agent_id=getattr(agent, "pk", None),
        properties=properties or {},
    )


INBOUND = Direction.INBOUND
OUTBOUND = Direction.OUTBOUND
