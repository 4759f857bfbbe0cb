"""Streaming CSV export of customers with their identities (admin, API and command share it)."""

from collections.abc import Iterator

from django.db.models import QuerySet

from cxhub import csvsafe

from .models import PROFILE_FIELDS, Identity

EXPORT_COLUMNS = (
    "id",
    *PROFILE_FIELDS,
    "business_units",
    "emails",
    "phones",
    "external_ids",
    "created_at",
    "last_seen_at",
)
CHUNK = 2000


class _Echo:
    def write(self, value: str) -> str:
        return value


def customer_rows(queryset: QuerySet) -> Iterator[list]:
    """Rows in id order, CHUNK customers at a time: memory stays flat however many customers."""
    queryset = queryset.order_by("pk").prefetch_related("business_units")
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        identities: dict[int, list[Identity]] = {}
        for identity in Identity.objects.filter(customer_id__in=[c.pk for c in chunk]).order_by("pk"):
            identities.setdefault(identity.customer_id, []).append(identity)
        for customer in chunk:
            own = identities.get(customer.pk, [])
            yield [
                customer.pk,
                customer.first_name,
                customer.last_name,
                customer.email,
                customer.phone,
                customer.lifecycle_stage,
                ";".join(sorted(u.code for u in customer.business_units.all())),
                ";".join(i.value for i in own if i.kind == "email"),
                ";".join(i.value for i in own if i.kind == "phone"),
                ";".join(f"{i.namespace}:{i.value}" for i in own if i.kind == "external_id"),
                customer.created_at.isoformat(),
                customer.last_seen_at.isoformat() if customer.last_seen_at else "",
            ]
        last = chunk[-1].pk


def customer_csv_rows(queryset: QuerySet) -> Iterator[str]:
    writer = csvsafe.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in customer_rows(queryset):
        yield writer.writerow(row)
