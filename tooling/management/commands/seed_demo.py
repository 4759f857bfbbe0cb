import random

from django.core.management.base import BaseCommand

import customers.demo
import interactions.demo
import journeys.demo
import metrics.demo
import scoring.demo
import segments.demo

# Each app that has demo data exposes ``<app>.demo.seed(*, rng, stdout)``; order follows the data flow.
DEMO_MODULES = (customers.demo, interactions.demo, journeys.demo, segments.demo, metrics.demo, scoring.demo)


class Command(BaseCommand):
    help = "Load the demo data set (idempotent: a second run adds nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (deterministic data).")

    def handle(self, *args, seed, **options):
        rng = random.Random(seed)
        for module in DEMO_MODULES:
            self.stdout.write(f"Demo data: {module.__name__.split('.')[0]} …")
            module.seed(rng=rng, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
