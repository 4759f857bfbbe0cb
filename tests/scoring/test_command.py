"""python manage.py fit_value_models: progress, the fitted parameters, exit codes."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from scoring.models import CustomerScore, ModelRun, RunStatus

from .helpers import AS_OF, load_histories

pytestmark = pytest.mark.django_db


def test_command_fits_scores_and_reports_progress():
    load_histories(150, seed=21)
    out = StringIO()
    call_command("fit_value_models", calibration_end=AS_OF.isoformat(), stdout=out)
    text = out.getvalue()
    run = ModelRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.trigger == "command"
    assert "reading purchases and costs" in text and "fitting" in text and "scoring" in text
    assert f"r={run.params['bgnbd']['r']:.4g}" in text
    assert CustomerScore.objects.count() == 150


def test_command_fails_with_a_reason_and_keeps_scores():
    with pytest.raises(CommandError, match="no customer with a purchase"):
        call_command("fit_value_models", stdout=StringIO())
    assert ModelRun.objects.get().status == RunStatus.FAILED
    with pytest.raises(CommandError, match="options.margin"):
        call_command("fit_value_models", "--options", '{"margin": 3}', stdout=StringIO())
