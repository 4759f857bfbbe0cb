"""The sentiment model is trained when a gunicorn or Celery worker starts, when the setting asks."""

import gc
import logging
import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from celery.signals import worker_process_init
from django.conf import settings

from metrics import sentiment_model

ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def model_loaded(monkeypatch):
    """The model not yet trained in this process (as in a new worker); gc.freeze left alone."""
    monkeypatch.setattr(gc, "freeze", lambda: None)
    sentiment_model.shipped_model.cache_clear()
    return lambda: sentiment_model.shipped_model.cache_info().currsize == 1


def gunicorn_post_worker_init():
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))["post_worker_init"]


def test_a_gunicorn_worker_trains_the_model_when_the_setting_is_on(settings, model_loaded):
    settings.SENTIMENT_WARM_AT_START = True
    gunicorn_post_worker_init()(worker=None)
    assert model_loaded()


def test_a_celery_worker_process_trains_the_model_when_the_setting_is_on(settings, model_loaded):
    settings.SENTIMENT_WARM_AT_START = True
    worker_process_init.send(sender="worker@test")
    assert model_loaded()


def test_with_the_setting_off_neither_worker_trains_it(settings, model_loaded):
    settings.SENTIMENT_WARM_AT_START = False
    gunicorn_post_worker_init()(worker=None)
    worker_process_init.send(sender="worker@test")
    assert not model_loaded()


def test_a_failure_to_warm_is_a_warning_and_the_worker_starts(settings, model_loaded, monkeypatch, caplog):
    settings.SENTIMENT_WARM_AT_START = True

    def broken(rows):
        raise MemoryError("no room for the model")

    monkeypatch.setattr(sentiment_model, "train", broken)
    with caplog.at_level(logging.WARNING, logger="cxhub.metrics"):
        gunicorn_post_worker_init()(worker=None)
        worker_process_init.send(sender="worker@test")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "Could not warm the sentiment model" in warnings[0].getMessage()
    assert not model_loaded()


def test_the_setting_is_off_by_default_and_on_in_production():
    assert settings.SENTIMENT_WARM_AT_START is False  # the test run's (base) settings
    env = {k: v for k, v in os.environ.items() if k != "SENTIMENT_WARM_AT_START"}
    env.update(DJANGO_SETTINGS_MODULE="cxhub.settings_production", SECRET_KEY=secrets.token_urlsafe(60))
    read = "from django.conf import settings; print(settings.SENTIMENT_WARM_AT_START)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", read],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.splitlines()[-1:] == ["True"], result.stdout + result.stderr
