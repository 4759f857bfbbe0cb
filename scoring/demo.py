"""Demo scores: fit the value and risk models on the demo purchase histories and NPS answers."""

import random

from . import services
from .models import ModelRun, RunStatus


def seed(*, rng: random.Random, stdout) -> None:
    if ModelRun.objects.filter(status=RunStatus.SUCCEEDED).exists():
        stdout.write("  value models already fitted, skipped")
        return
    run = services.request_fit(trigger="demo", queue=False)
    run = services.run_fit(run=run)
    if run.status != RunStatus.SUCCEEDED:
        stdout.write(f"  value models not fitted: {run.error}")
        return
    detractor = run.detractor or {}
    auc = f", detractor AUC {detractor['auc']:.2f}" if detractor.get("auc") is not None else ""
    stdout.write(
        f"  BG/NBD + Gamma-Gamma fitted on {run.n_customers} buyers ({run.n_repeat_customers} repeat){auc}; "
        f"{run.scored_customers} customers scored"
    )
