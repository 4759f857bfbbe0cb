from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CxhubConfig(AppConfig):
    name = "cxhub"
    verbose_name = "CX Hub platform"

    def ready(self) -> None:
        from .roles import sync_role_permissions

        # Permissions only exist once every app has migrated, so roles get theirs here.
        post_migrate.connect(sync_role_permissions, dispatch_uid="cxhub.sync_role_permissions")
