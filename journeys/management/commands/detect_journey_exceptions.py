from django.core.management.base import BaseCommand

from journeys.services import detect_time_exceptions


class Command(BaseCommand):
    help = (
        "Record SLA breaches, stalls and abandoned journeys due now (what the beat task runs every minute)."
    )

    def handle(self, *args, **options):
        counts = detect_time_exceptions()
        for kind, count in counts.items():
            self.stdout.write(f"{kind}: {count}")
