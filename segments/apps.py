from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"

    def ready(self) -> None:
        from .conditions import register_builtin_conditions

        register_builtin_conditions()
        from . import hooks

        hooks.connect()
        from . import privacy

        privacy.register()
