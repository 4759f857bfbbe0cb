import time

from django.core.management.base import BaseCommand, CommandError

from segments import services
from segments.models import Segment, SegmentKind


class Command(BaseCommand):
    help = (
        "Fully recompute dynamic segments now, in this process (dependencies first). "
        "Give slugs, or --due for those whose refresh is due, or --all. Exit code 1 if any run failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Segment slugs to recompute.")
        parser.add_argument("--due", action="store_true", help="Segments whose hourly/daily refresh is due.")
        parser.add_argument("--all", dest="all_segments", action="store_true", help="Every dynamic segment.")

    def handle(self, *args, slugs, due, all_segments, **options):
        if sum(bool(x) for x in (slugs, due, all_segments)) != 1:
            raise CommandError("Give segment slugs, or --due, or --all (exactly one).")
        if due:
            segments = services.due_segments()
        else:
            qs = Segment.objects.filter(kind=SegmentKind.DYNAMIC).select_related("parent")
            if slugs:
                qs = qs.filter(slug__in=slugs)
                missing = set(slugs) - set(qs.values_list("slug", flat=True))
                if missing:
                    raise CommandError(f"No dynamic segment with slug: {', '.join(sorted(missing))}")
            segments = services.dependency_order(qs)
        failed = 0
        for segment in segments:
            started = time.perf_counter()
            try:
                run = services.recompute_segment(segment=segment, trigger="command")
            except Exception as exc:
                failed += 1
                self.stderr.write(f"{segment.slug}: failed: {exc}")
                continue
            self.stdout.write(
                f"{segment.slug}: {run.member_count} members (+{run.added} / -{run.removed}) "
                f"in {time.perf_counter() - started:.2f}s"
            )
        self.stdout.write(f"{len(segments) - failed} recomputed, {failed} failed.")
        if failed:
            raise SystemExit(1)
