"""How outreach plugs into lower apps: the dirty-customer pipeline, the 360 panel and merges."""


def connect() -> None:
    from customers.models import DirtyLane
    from customers.pipeline import register_dirty_handler

    from .services.campaigns import on_dirty_customers, on_dirty_customers_conversions

    # In the real-time lane after segments' handler (INSTALLED_APPS order): the entries it writes
    # are acted on in the same pass, seconds after the change that caused them.
    register_dirty_handler("outreach", on_dirty_customers, lane=DirtyLane.REALTIME)
    # Conversions may wait for the standard lane.
    register_dirty_handler("outreach_conversions", on_dirty_customers_conversions)
    _register_next_best_evidence()
    _register_panel()
    _register_merge_relation()
    # What the app holds on a person: export and erasure declarations.
    from . import privacy

    privacy.register()


def _register_next_best_evidence() -> None:
    from . import channel_evidence, next_best

    # The next best channel reads campaign holdout results and bounces from outbound messaging.
    next_best.register_response_rates(channel_evidence.campaign_response)
    next_best.register_bounces(channel_evidence.bounces)


def _panel_context(request, customer) -> dict:
    from .selectors import customer_messages

    return {"outbound_messages": list(customer_messages(customer_id=customer.pk))}


def _register_panel() -> None:
    from customers.panels import Panel, register_panel

    register_panel(
        Panel(
            name="messages",
            title="Messages sent and blocked",
            template="outreach/panels/customer_messages.html",
            context=_panel_context,
            placement="customer",
            order=30,
        )
    )


def _register_merge_relation() -> None:
    from customers.merging import register_customer_relation

    from .models import CampaignRecipient, Message

    register_customer_relation(Message, "customer")
    register_customer_relation(CampaignRecipient, "customer", unique_with=("campaign",))
