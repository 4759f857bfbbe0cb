"""How journeys plug into the lower apps: one ``connect()``, called from ``JourneysConfig.ready``."""

import logging

from customers.merging import register_customer_relation
from customers.panels import Panel, register_panel
from customers.pipeline import register_dirty_handler
from interactions.signals import interactions_created
from outreach.triggers import register_entry_handler
from segments.registry import register_condition

from . import segment_entry, selectors
from .models import AgentTask, JourneyInstance
from .segment_conditions import JOURNEY_CONDITION_SCHEMA, compile_journey_condition
from .services import process_customers

logger = logging.getLogger("cxhub.journeys")


def connect() -> None:
    register_dirty_handler("journeys", process_customers)
    register_entry_handler("journeys", segment_entry.record_entries)
    register_panel(
        Panel(
            name="journeys",
            title="Open journeys",
            template="journeys/panels/customer_journeys.html",
            context=selectors.customer_journeys_panel,
            placement="customer",
            order=20,
        )
    )
    register_panel(
        Panel(
            name="journey_exceptions",
            title="Journey exceptions",
            template="journeys/panels/home_exceptions.html",
            context=selectors.home_exceptions_panel,
            placement="home",
            order=20,
        )
    )
    interactions_created.connect(_on_interactions_created, dispatch_uid="journeys.interactions_created")
    # Two open instances of one journey and reference cannot coexist on the survivor.
    register_customer_relation(JourneyInstance, unique_with=("journey", "correlation_value", "state"))
    register_customer_relation(AgentTask)
    register_condition("journey", schema=JOURNEY_CONDITION_SCHEMA, compile=compile_journey_condition)


def _on_interactions_created(sender, interaction_ids=(), **kwargs) -> None:
    """Advance journeys right after ingest; the dirty-customer sweep catches anything this misses."""
    if not interaction_ids:
        return
    from .tasks import process_interactions

    try:
        process_interactions.delay(list(interaction_ids))
    except Exception:  # broker down: the dirty-customer handler processes them later
        logger.warning("Could not queue journey processing; the dirty sweep will do it.", exc_info=True)
