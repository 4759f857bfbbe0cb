import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from cxhub.roles import ADMIN, AGENT, MARKETER, STAFF_ROLES, TEAM_LEAD

DEMO_USERS = (("admin", ADMIN), ("agent", AGENT), ("lead", TEAM_LEAD), ("marketer", MARKETER))


class Command(BaseCommand):
    help = (
        "Create the demo logins (admin, agent, lead, marketer) once and print how to sign in. "
        "The password is generated on first run and kept in .cxhub-demo-password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument("--password-file", default=str(Path(settings.BASE_DIR) / ".cxhub-demo-password"))

    def handle(self, *args, url, password_file, **options):
        path = Path(password_file)
        if path.exists():
            password = path.read_text().strip()
        else:
            password = secrets.token_urlsafe(12)
            path.write_text(password + "\n")
            path.chmod(0o600)
        User = get_user_model()
        for username, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = role in STAFF_ROLES
            user.is_superuser = role == ADMIN
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=role))
        self.stdout.write(self.style.SUCCESS(f"CX Hub is at {url}"))
        self.stdout.write(f"  admin:   {url}admin/")
        self.stdout.write(f"  API docs: {url}api/docs/")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  login as {username:<8} ({role}) password: {password}")
