import importlib
import random

from django.core.management.base import BaseCommand

# Each app that has demo data exposes ``<app>.demo.seed(*, rng, stdout)``; order follows the data flow.
DEMO_APPS = ("customers", "interactions", "journeys", "segments", "metrics", "scoring")


class Command(BaseCommand):
    help = "Load the demo data set (idempotent: a second run adds nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (deterministic data).")

    def handle(self, *args, seed, **options):
        rng = random.Random(seed)
        for app in DEMO_APPS:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.demo":
                    raise
                continue
            self.stdout.write(f"Demo data: {app} …")
            module.seed(rng=rng, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
