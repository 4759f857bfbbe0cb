"""Existing exceptions get a due time (detected + 24 hours, the default exception SLA)."""

from datetime import timedelta

from django.db import migrations
from django.db.models import F

DEFAULT_SLA = timedelta(hours=24)


def fill_due_times(apps, schema_editor):
    JourneyException = apps.get_model("journeys", "JourneyException")
    JourneyException.objects.filter(due_at__isnull=True).update(
        due_at=F("detected_at") + DEFAULT_SLA, last_detected_at=F("detected_at")
    )


class Migration(migrations.Migration):
    dependencies = [("journeys", "0003_exception_queue_fields")]

    operations = [migrations.RunPython(fill_due_times, migrations.RunPython.noop)]
