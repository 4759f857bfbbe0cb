from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Customer value and risk"

    def ready(self) -> None:
        from customers.pipeline import register_dirty_handler

        from . import conditions, panels, segment_kpis, services

        register_dirty_handler("scoring", services.on_dirty_customers)
        conditions.register()
        segment_kpis.register()
        panels.register()
