from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from cxhub.roles import ADMIN, ROLES, STAFF_ROLES


class Command(BaseCommand):
    help = "Create a user with a role (Agent, Marketer or Admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, password, email, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            raise CommandError(f"User {username!r} already exists.")
        user = User.objects.create_user(
            username=username,
            email=email,
            password=password,
            is_staff=role in STAFF_ROLES,
            is_superuser=role == ADMIN,
        )
        user.groups.add(Group.objects.get(name=role))
        self.stdout.write(f"Created {username} ({role}).")
