"""Seed the standard channels with indicative costs per interaction (editable in the admin)."""

from decimal import Decimal

from django.db import migrations

CHANNELS = (
    ("email", "Email", True, "0.35"),
    ("phone", "Phone", False, "4.50"),
    ("chat", "Chat", True, "1.20"),
    ("web", "Web", True, "0.02"),
    ("mobile_app", "Mobile app", True, "0.02"),
    ("sms", "SMS", True, "0.05"),
    ("whatsapp", "WhatsApp", True, "0.08"),
    ("social", "Social media", True, "1.80"),
    ("store", "Store", False, "6.00"),
    ("letter", "Letter", False, "1.10"),
    ("video", "Video call", True, "5.50"),
    ("self_service", "Self service", True, "0.10"),
)


def seed_channels(apps, schema_editor):
    Channel = apps.get_model("interactions", "Channel")
    for code, name, digital, cost in CHANNELS:
        Channel.objects.get_or_create(
            code=code,
            defaults={"name": name, "is_digital": digital, "cost_per_interaction": Decimal(cost)},
        )


def remove_channels(apps, schema_editor):
    apps.get_model("interactions", "Channel").objects.filter(
        code__in=[c[0] for c in CHANNELS], interactions__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("interactions", "0001_initial")]

    operations = [migrations.RunPython(seed_channels, remove_channels)]
