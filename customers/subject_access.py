"""Subject-access export: everything the product holds on one person, as JSON-ready data.

The person is the customer and every profile merged into it. Each app's registry declaration
(``customers.personal_data``) contributes its section with one query, so the export costs the
same number of queries for a person with ten rows or ten thousand.
"""

from __future__ import annotations

from django.utils import timezone

from .erasure import person_profile_ids
from .models import Customer
from .personal_data import personal_data

PROFILE_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "lifecycle_stage",
    "attributes",
    "preferred_channel",
    "language",
    "timezone",
    "quiet_hours_start",
    "quiet_hours_end",
    "source",
    "created_at",
    "updated_at",
    "last_seen_at",
    "merged_into_id",
    "erased_at",
)


def subject_access_export(*, customer_id: int) -> dict:
    """{"customer_id", "generated_at", "profile", "merged_profiles", <section>: [...], ...}."""
    ids = person_profile_ids(customer_id)
    profiles = {row["id"]: row for row in Customer.objects.filter(pk__in=ids).values(*PROFILE_FIELDS)}
    data: dict = {
        "customer_id": customer_id,
        "generated_at": timezone.now(),
        "profile": profiles.get(customer_id),
        "merged_profiles": [profiles[pk] for pk in ids[1:] if pk in profiles],
    }
    for spec in personal_data():
        if spec.export_rows is not None:
            rows = spec.export_rows(ids)
        elif spec.export_fields:
            rows = list(spec.queryset(ids).order_by("pk").values(*spec.export_fields))
        else:
            continue
        data.setdefault(spec.section, []).extend(rows)
    return data
