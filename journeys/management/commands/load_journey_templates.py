from django.core.management.base import BaseCommand, CommandError

from cxhub.errors import DomainError
from journeys.services import load_journey_templates


class Command(BaseCommand):
    help = (
        "Load the shipped journey templates (Order to Cash, Problem to Fix, Complaint to Resolution, "
        "Query to Resolve). Idempotent: journeys that exist are left alone unless --update is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Only these template slugs (default: all).")
        parser.add_argument(
            "--update",
            action="store_true",
            help="Rewrite existing template journeys and stages from the files.",
        )

    def handle(self, *args, slugs, update, **options):
        try:
            outcomes = load_journey_templates(update=update, slugs=slugs or None)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if slugs and len(outcomes) != len(set(slugs)):
            known = {o.slug for o in outcomes}
            raise CommandError(f"Unknown template(s): {', '.join(sorted(set(slugs) - known))}")
        for outcome in outcomes:
            self.stdout.write(f"{outcome.slug}: {outcome.status}")
        created = sum(o.status == "created" for o in outcomes)
        self.stdout.write(
            self.style.SUCCESS(f"{created} journey(s) created, {len(outcomes) - created} already there.")
        )
