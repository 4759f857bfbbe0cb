"""How segments plug into lower apps: dirty-customer refresh, the 360 panel, merges."""

import logging

logger = logging.getLogger("cxhub.segments")


def connect() -> None:
    from customers.pipeline import register_dirty_handler

    from .services import refresh_customers

    register_dirty_handler("segments", lambda ids: refresh_customers(customer_ids=ids))
    _register_panel()
    _register_merge_relation()


def _register_panel() -> None:
    from customers.panels import Panel, register_panel

    from .selectors import customer_segments

    register_panel(
        Panel(
            name="segments",
            title="Segments",
            template="segments/panels/customer_segments.html",
            context=lambda request, customer: {
                "segment_memberships": customer_segments(customer_id=customer.pk)
            },
            placement="customer",
            order=40,
        )
    )


def _register_merge_relation() -> None:
    try:
        from customers.merging import register_customer_relation
    except ImportError:  # the merge module is not there yet
        logger.debug("customers.merging not available; memberships are not moved on merge")
        return
    from .models import SegmentMembership

    register_customer_relation(SegmentMembership, field="customer", unique_with=("segment",))
