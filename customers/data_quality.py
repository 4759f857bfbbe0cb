"""Data-quality findings over customers and identities (command ``data_quality`` and the admin)."""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, Trim

from .merging import MergeRules
from .models import Customer, Identity, IdentityKind, IdentityRejection, ImportRun

SAMPLE = 20
CONTACTABLE_KINDS = (IdentityKind.EMAIL, IdentityKind.PHONE)


@dataclass
class Finding:
    key: str
    title: str
    count: int
    sample: list[dict] = field(default_factory=list)


def no_contactable_identity() -> Finding:
    contactable = Identity.objects.filter(customer=OuterRef("pk"), kind__in=CONTACTABLE_KINDS)
    qs = Customer.objects.filter(merged_into__isnull=True).filter(~Exists(contactable))
    sample = list(qs.order_by("pk").values("id", "first_name", "last_name")[:SAMPLE])
    return Finding("no_contactable_identity", "Customers without an email or phone", qs.count(), sample)


def identities_over_limit() -> Finding:
    rules = MergeRules.load()
    flagged = Identity.objects.filter(is_flagged=True)
    sample = [
        {
            "customer_id": r["customer_id"],
            "kind": r["kind"],
            "value": r["value"],
            "reason": "shared value, flagged",
        }
        for r in flagged.order_by("pk").values("customer_id", "kind", "value")[:SAMPLE]
    ]
    count = flagged.count()
    groups = (
        Identity.objects.filter(customer__merged_into__isnull=True)
        .values("customer_id", "kind", "namespace")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("customer_id")
    )
    for group in groups.iterator():
        limit = rules.rule_for(group["kind"], group["namespace"]).max_per_customer
        if limit and group["n"] > limit:
            count += 1
            if len(sample) < SAMPLE:
                sample.append(
                    {
                        "customer_id": group["customer_id"],
                        "kind": group["kind"],
                        "value": f"{group['n']} values (limit {limit})",
                        "reason": "more values than the rule allows (rules changed later)",
                    }
                )
    return Finding("identities_over_limit", "Identities over the merge limits", count, sample)


def identities_not_attached() -> Finding:
    """Identities resolutions could not attach (the profile was at its per-kind limit)."""
    qs = IdentityRejection.objects.all()
    sample = [
        {
            "customer_id": r["customer_id"],
            "kind": r["kind"],
            "value": f"{r['namespace']}:{r['value']}" if r["namespace"] else r["value"],
            "reason": f"over the per-kind limit ({r['source'] or 'unknown source'}, {r['at']:%Y-%m-%d})",
        }
        for r in qs.order_by("-at", "-pk").values(
            "customer_id", "kind", "namespace", "value", "source", "at"
        )[:SAMPLE]
    ]
    return Finding(
        "identities_not_attached", "Identities not attached (over the per-kind limit)", qs.count(), sample
    )


def likely_duplicates() -> Finding:
    """Live profiles with the same normalised name and the same postcode or company."""
    base = Customer.objects.filter(merged_into__isnull=True).exclude(first_name="").exclude(last_name="")
    base = base.annotate(
        first=Lower(Trim("first_name")),
        last=Lower(Trim("last_name")),
        postcode=Lower(Trim(KeyTextTransform("postcode", "attributes"))),
        company=Lower(Trim(KeyTextTransform("company", "attributes"))),
    )
    count, sample = 0, []
    for key in ("postcode", "company"):
        groups = (
            base.exclude(**{f"{key}__isnull": True})
            .exclude(**{key: ""})
            .values("first", "last", key)
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .order_by("-n", "last", "first")
        )
        for group in groups:
            count += 1
            if len(sample) < SAMPLE:
                ids = list(
                    base.filter(first=group["first"], last=group["last"], **{key: group[key]})
                    .order_by("pk")
                    .values_list("pk", flat=True)[:10]
                )
                sample.append(
                    {"name": f"{group['first']} {group['last']}", key: group[key], "customer_ids": ids}
                )
    return Finding("likely_duplicates", "Likely duplicates not merged automatically", count, sample)


def rejected_import_values(limit_runs: int = 20) -> Finding:
    runs = ImportRun.objects.order_by("-started_at")[:limit_runs]
    totals = ImportRun.objects.filter(pk__in=[r.pk for r in runs]).aggregate(values=Sum("rejected_values"))
    sample = []
    for run in runs:
        for error in run.errors[: SAMPLE - len(sample)]:
            sample.append({"file": run.file_name, **error})
    count = totals["values"] or 0
    return Finding("rejected_import_values", "Invalid values rejected in recent imports", count, sample)


def data_quality_report() -> list[Finding]:
    return [
        no_contactable_identity(),
        identities_over_limit(),
        identities_not_attached(),
        likely_duplicates(),
        rejected_import_values(),
    ]


__all__ = ["Finding", "data_quality_report"]
