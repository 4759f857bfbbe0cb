"""Deployment artefacts: production settings, docker-compose.yml and the Dockerfile."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_production_settings_pass_check_deploy():
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="cxhub.settings_production", SECRET_KEY=secrets.token_urlsafe(60)
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_a_missing_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["DJANGO_SETTINGS_MODULE"] = "cxhub.settings_production"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_compose_has_every_service_with_healthchecks():
    services = _compose()["services"]
    assert set(services) >= {"postgres", "redis", "web", "worker", "beat"}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in services:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    assert "pgdata" in _compose()["volumes"]


def test_compose_commands_name_real_modules():
    services = _compose()["services"]
    web = (
        " ".join(services["web"]["command"])
        if isinstance(services["web"]["command"], list)
        else services["web"]["command"]
    )
    assert "gunicorn" in web and "cxhub.wsgi:application" in web
    for name in ("worker", "beat"):
        command = services[name]["command"]
        command = " ".join(command) if isinstance(command, list) else command
        assert "celery -A cxhub" in command
    beat = services["beat"]["command"]
    assert "cxhub.beat:SingleBeatScheduler" in (" ".join(beat) if isinstance(beat, list) else beat)
    import importlib

    from django_celery_beat.schedulers import DatabaseScheduler

    assert importlib.import_module("cxhub.wsgi").application
    assert importlib.import_module("cxhub.celery").app.main == "cxhub"
    assert issubclass(importlib.import_module("cxhub.beat").SingleBeatScheduler, DatabaseScheduler)


def test_compose_runs_a_worker_service_per_workload_covering_every_queue():
    services = _compose()["services"]
    consumed: list[str] = []
    for name, service in services.items():
        command = service.get("command")
        if isinstance(command, list) and "worker" in command:
            assert "-Q" in command, f"{name} consumes no explicit queue list"
            consumed += command[command.index("-Q") + 1].split(",")
    assert sorted(consumed) == sorted(settings.WORKER_QUEUES)  # each queue once, none forgotten


def test_compose_env_is_the_env_settings_read():
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', (ROOT / "cxhub/settings.py").read_text()))
    read |= set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', (ROOT / "cxhub/settings_production.py").read_text()))
    read.add("DJANGO_SETTINGS_MODULE")
    compose = _compose()
    for name in ("web", "worker", "beat"):
        env = compose["services"][name].get("environment", {})
        keys = set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
        assert keys, f"{name} sets no environment"
        assert keys <= read, f"{name} sets variables no setting reads: {sorted(keys - read)}"
        assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY"} <= keys


def test_dockerfile_installs_the_lock_file_and_runs_as_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile
    assert re.search(r"^USER\s+\w+", dockerfile, re.M)
    assert "collectstatic" in dockerfile
