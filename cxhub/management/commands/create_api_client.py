from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cxhub.models import ApiClient
from cxhub.roles import SCOPES
from cxhub.services import create_api_client


class Command(BaseCommand):
    help = "Create an API client and print its Bearer token and tracking write key (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--scopes",
            nargs="+",
            required=True,
            choices=SCOPES,
            metavar="SCOPE",
            help=f"One or more of: {', '.join(SCOPES)}",
        )
        parser.add_argument(
            "--namespace", default="", help="Namespace of tracking userIds (default: the client name)."
        )

    def handle(self, *args, name, scopes, namespace, **options):
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(f"An API client named {name!r} already exists.")
        try:
            issued = create_api_client(name=name, scopes=scopes, tracking_namespace=namespace)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"token: {issued.token}")
        self.stdout.write(f"write_key: {issued.write_key}")
