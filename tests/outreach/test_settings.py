"""EMAIL_URL configures Django's email framework; unset, mail goes to files so nothing leaves a laptop."""

import json
import os
import subprocess
import sys

from django.conf import settings

SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, "
    "s.EMAIL_HOST_USER, s.EMAIL_HOST_PASSWORD]))"
)


def email_settings(email_url: str | None) -> list:
    env = {k: v for k, v in os.environ.items() if k not in ("EMAIL_URL", "DATABASE_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "cxhub.settings"
    if email_url is not None:
        env["EMAIL_URL"] = email_url
    out = subprocess.run(
        [sys.executable, "-c", SHOW],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_email_url_configures_smtp_and_the_submission_port_means_starttls():
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    assert email_settings("smtp://user:p%40ss@mail.example.net:587") == [
        smtp,
        "mail.example.net",
        587,
        True,
        False,
        "user",
        "p@ss",
    ]
    assert email_settings("smtp+ssl://u:p@mail.example.net:465")[3:5] == [False, True]
    assert email_settings("smtp://relay.internal:25")[1:5] == ["relay.internal", 25, False, False]


def test_unset_email_url_writes_files():
    assert email_settings(None)[0] == "django.core.mail.backends.filebased.EmailBackend"
