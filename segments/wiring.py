"""How segments plug into the lower apps: one ``connect()``, called from ``SegmentsConfig.ready``.

Dirty-customer refresh, the 360 panel, merges, the customer list filter; and the built-in
conditions into segments' own rule registry.
"""


def connect() -> None:
    from customers.models import DirtyLane
    from customers.pipeline import register_dirty_handler

    from .conditions import register_builtin_conditions
    from .services import refresh_customers

    register_builtin_conditions()
    register_dirty_handler(
        "segments", lambda ids: refresh_customers(customer_ids=ids), lane=DirtyLane.REALTIME
    )
    _register_panel()
    _register_merge_relation()
    _register_customer_list_filter()
    # What the app holds on a person: export, erasure (and retention) declarations.
    from . import privacy

    privacy.register()


def _in_segment(queryset, raw_value: str):
    """``GET /api/v1/customers/?segment=<slug or id>``: members of that segment."""
    from cxhub.errors import DomainError

    from .models import Segment, SegmentMembership

    lookup = {"pk": int(raw_value)} if raw_value.isascii() and raw_value.isdigit() else {"slug": raw_value}
    segment = Segment.objects.filter(**lookup).only("pk").first() if len(raw_value) <= 100 else None
    if segment is None:
        raise DomainError(f"segment: no segment {raw_value!r}.", field="segment", code="not_found")
    members = SegmentMembership.objects.filter(segment=segment).values("customer_id")
    return queryset.filter(pk__in=members)


def _register_customer_list_filter() -> None:
    from customers.selectors import register_list_filter

    register_list_filter("segment", _in_segment)


def _panel_context(request, customer) -> dict:
    """The customer's segments (one query) and, for list editors, the static lists (one more)."""
    from cxhub.roles import ADMIN, MARKETER, has_role

    from .models import Segment, SegmentKind
    from .selectors import customer_segments

    memberships = customer_segments(customer_id=customer.pk)
    can_edit = has_role(request.user, MARKETER, ADMIN)
    static_lists = []
    if can_edit:
        joined = {m.segment_id for m in memberships}
        static_lists = [
            s
            for s in Segment.objects.filter(kind=SegmentKind.STATIC).only("pk", "name")
            if s.pk not in joined
        ]
    return {"segment_memberships": memberships, "can_edit_lists": can_edit, "static_lists": static_lists}


def _register_panel() -> None:
    from customers.panels import Panel, register_panel

    register_panel(
        Panel(
            name="segments",
            title="Segments",
            template="segments/panels/customer_segments.html",
            context=_panel_context,
            placement="customer",
            order=40,
        )
    )


def _register_merge_relation() -> None:
    from customers.merging import register_customer_relation

    from .models import SegmentMembership

    register_customer_relation(SegmentMembership, field="customer", unique_with=("segment",))
