from django.apps import AppConfig


class ToolingConfig(AppConfig):
    """Operator and developer tooling above every app: demo data (``seed_demo``), the data
    generator (``generate_data``) and the benchmarks (``bench``). No product code imports it."""

    name = "tooling"
    verbose_name = "Tooling"
