from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The agent console: agent home, customer search, the Customer 360 page, logging an interaction.

    It sits above every domain app and only reads them (selectors, the panel registry) or calls
    their services; nothing imports it.
    """

    name = "console"
    verbose_name = "Agent console"
