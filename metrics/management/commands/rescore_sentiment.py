"""Re-read the sentiment of every stored survey comment with the current analyser."""

from django.core.management.base import BaseCommand

from cxhub.db import bulk_write
from metrics import verbatims
from metrics.models import SurveyResponse

BATCH = 1000


class Command(BaseCommand):
    help = "Recompute sentiment and its label for every survey response with a comment (in batches)."

    def handle(self, *args, **options):
        rows = SurveyResponse.objects.exclude(comment="").only("pk", "comment").order_by("pk")
        total = rows.count()
        done = 0
        last_pk = 0
        while True:
            batch = list(rows.filter(pk__gt=last_pk)[:BATCH])
            if not batch:
                break
            updates = []
            for response in batch:
                found = verbatims.sentiment_of(response.comment)
                response.sentiment = found.compound if found else None
                response.sentiment_label = found.label if found else ""
                updates.append(response)
            bulk_write(updates, ["sentiment", "sentiment_label"])
            done += len(batch)
            last_pk = batch[-1].pk
            self.stdout.write(f"  {done}/{total} comments re-read")
        self.stdout.write(self.style.SUCCESS(f"Sentiment recomputed for {done} comments."))
