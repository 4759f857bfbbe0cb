"""Default merge configuration: per-kind rules and values that never match.

Operators change these in the admin; the change applies to later resolutions only.
"""

from django.db import migrations

RULES = [
    # kind, auto_merge, priority, max_per_customer, max_merges_per_value
    ("external_id", True, 10, 1, 0),
    ("email", True, 20, 5, 5),
    ("phone", True, 30, 5, 5),
    ("anonymous_id", True, 50, 0, 3),
    ("device_id", False, 60, 0, 0),
]
BLOCKED = [
    # kind, value, is_pattern, note
    ("email", "test@example.com", False, "Test address"),
    ("email", r"(no-?reply|do-?not-?reply)@.*", True, "System senders"),
    ("", r"(unknown|none|null|n/?a|-+|0+|x+)", True, "Placeholder values from source systems"),
]


def create_defaults(apps, schema_editor):
    MergeSettings = apps.get_model("customers", "MergeSettings")
    IdentityRule = apps.get_model("customers", "IdentityRule")
    BlockedIdentityValue = apps.get_model("customers", "BlockedIdentityValue")
    MergeSettings.objects.get_or_create(pk=1)
    for kind, auto_merge, priority, max_per_customer, max_merges in RULES:
        IdentityRule.objects.get_or_create(
            kind=kind,
            namespace="",
            defaults={
                "auto_merge": auto_merge,
                "priority": priority,
                "max_per_customer": max_per_customer,
                "max_merges_per_value": max_merges,
            },
        )
    for kind, value, is_pattern, note in BLOCKED:
        BlockedIdentityValue.objects.get_or_create(
            kind=kind, value=value, is_pattern=is_pattern, defaults={"note": note}
        )


def remove_defaults(apps, schema_editor):
    apps.get_model("customers", "IdentityRule").objects.filter(namespace="").delete()
    apps.get_model("customers", "BlockedIdentityValue").objects.filter(
        value__in=[value for _, value, _, _ in BLOCKED]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_merge_rules_and_events")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
