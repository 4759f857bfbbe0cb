"""python manage.py data_quality [--json]"""

import json

from django.core.management.base import BaseCommand

from customers.data_quality import data_quality_report


class Command(BaseCommand):
    help = (
        "Report customer data problems: no contactable identity, identities over the merge limits, "
        "likely duplicates not merged automatically, invalid values rejected in imports. "
        "Exit code 0 whatever is found (this is a report, not a check)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args, **options):
        findings = data_quality_report()
        if options["json"]:
            payload = [
                {"key": f.key, "title": f.title, "count": f.count, "sample": f.sample} for f in findings
            ]
            self.stdout.write(json.dumps(payload, indent=2, default=str))
            return
        for finding in findings:
            style = self.style.WARNING if finding.count else self.style.SUCCESS
            self.stdout.write(style(f"{finding.title}: {finding.count:,}"))
            for item in finding.sample[:10]:
                self.stdout.write("  " + ", ".join(f"{k}={v}" for k, v in item.items()))
