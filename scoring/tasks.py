from celery import shared_task

from . import services
from .models import ModelRun, RunStatus


@shared_task(name="scoring.fit_value_models")
def fit_value_models(run_id: int) -> str:
    """Fit and score one queued run (idempotent: a run that already ran is left alone)."""
    run = ModelRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).first()
    if run is None:
        return "not queued"
    return services.run_fit(run=run).status


@shared_task(name="scoring.nightly_refit")
def nightly_refit() -> str:
    """The nightly refit and rescore, as of yesterday's end (a whole day of data)."""
    return services.nightly_refit().status
