"""python manage.py fit_value_models [--calibration-end DATE] [--holdout-end DATE] [--time-unit UNIT] …"""

import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from scoring import services
from scoring.errors import InvalidFitRequest
from scoring.models import RunStatus

STAGES = {
    "read": "reading purchases and costs",
    "fit": "fitting",
    "detractor": "detractor model",
    "score": "scoring",
}


class Command(BaseCommand):
    help = (
        "Fit BG/NBD + Gamma-Gamma (and the detractor-risk model) on purchase interactions and "
        "score every customer, in this process. Records a model run (see the admin or "
        "GET /api/v1/models/runs/). Exit codes: 0 fitted and scored, 1 the fit failed (the previous "
        "scores are kept) or the arguments are invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument("--calibration-end", default="", help="YYYY-MM-DD (default: today, UTC).")
        parser.add_argument("--holdout-end", default="", help="YYYY-MM-DD: check predictions up to this day.")
        parser.add_argument("--time-unit", default="week", choices=("week", "day"))
        parser.add_argument(
            "--type",
            dest="types",
            action="append",
            default=[],
            help="Purchase interaction type (repeatable).",
        )
        parser.add_argument("--value-field", default="value", help='"value" or "properties.<key>".')
        parser.add_argument("--business-unit", default="", help="Only this business unit's purchases.")
        parser.add_argument(
            "--options", default="", help='JSON, e.g. \'{"margin": 0.25, "clv_months": 24}\'.'
        )

    def handle(self, *args, **opts):
        dates = {}
        for name in ("calibration_end", "holdout_end"):
            raw = opts[name]
            dates[name] = parse_date(raw) if raw else None
            if raw and dates[name] is None:
                raise CommandError(f"--{name.replace('_', '-')} must be YYYY-MM-DD, got {raw!r}")
        try:
            extra = json.loads(opts["options"]) if opts["options"] else None
        except ValueError as exc:
            raise CommandError(f"--options is not JSON: {exc}") from exc
        try:
            run = services.request_fit(
                calibration_end=dates["calibration_end"],
                holdout_end=dates["holdout_end"],
                time_unit=opts["time_unit"],
                transaction_types=opts["types"] or None,
                value_field=opts["value_field"],
                business_unit=opts["business_unit"] or None,
                options=extra,
                trigger="command",
                queue=False,
            )
        except InvalidFitRequest as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from exc
        started = time.monotonic()
        interactive = self.stdout.isatty() if hasattr(self.stdout, "isatty") else sys.stdout.isatty()

        def progress(stage: str, done: int, total: int) -> None:
            elapsed = time.monotonic() - started
            if total:
                share = done / total
                bar = "#" * int(share * 30)
                line = f"{STAGES.get(stage, stage):<28} [{bar:<30}] {done:,}/{total:,} ({elapsed:.1f}s)"
            else:
                line = f"{STAGES.get(stage, stage):<28} {done:,} customers ({elapsed:.1f}s)"
            self.stdout.write(("\r" + line) if interactive else line, ending="" if interactive else "\n")
            self.stdout.flush()

        self.stdout.write(
            f"Model run #{run.pk}: as of {run.calibration_end}, {run.time_unit}s, "
            f"types {run.transaction_types}"
        )
        run = services.run_fit(run=run, progress=progress)
        if interactive:
            self.stdout.write("")
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Model run #{run.pk} failed: {run.error}")
        bg, gg = run.params["bgnbd"], run.params["gamma_gamma"]
        self.stdout.write(
            f"BG/NBD r={bg['r']:.4g} alpha={bg['alpha']:.4g} a={bg['a']:.4g} b={bg['b']:.4g} "
            f"(LL {run.log_likelihood['bgnbd']:.1f}, {run.n_customers:,} customers, "
            f"{run.n_repeat_customers:,} repeat)"
        )
        self.stdout.write(
            f"Gamma-Gamma p={gg['p']:.4g} q={gg['q']:.4g} gamma={gg['gamma']:.4g} "
            f"(LL {run.log_likelihood['gamma_gamma']:.1f})"
        )
        detractor = run.detractor or {}
        if detractor.get("status") == "fitted":
            self.stdout.write(
                f"Detractor risk: AUC {detractor['auc']:.3f} on {detractor['n_test']:,} held-out answers "
                f"(trained on {detractor['n_train']:,})"
            )
        else:
            self.stdout.write(f"Detractor risk: not fitted ({detractor.get('reason', 'unknown')})")
        if run.holdout:
            self.stdout.write(
                f"Holdout to {run.holdout['holdout_end']}: predicted {run.holdout['predicted_total']:,.1f} "
                f"repeat purchases, actual {run.holdout['actual_total']:,.0f}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Fitted in {run.fit_seconds:.1f}s, scored {run.scored_customers:,} customers "
                f"in {run.score_seconds:.1f}s."
            )
        )
