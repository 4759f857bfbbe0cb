"""Panels other apps contribute to the Customer 360 page and the agent home page.

The customers app cannot import segments, journeys or metrics (they sit above it),
so those apps register a panel in their ``AppConfig.ready``::

    from customers.panels import Panel, register_panel

    register_panel(Panel(
        name="segments", title="Segments", template="segments/panels/customer_segments.html",
        context=lambda request, customer: {"memberships": memberships_for(customer.pk)},
        placement="customer", order=40,
    ))

``context`` must run a constant number of queries whatever the customer's history
(the 360 page asserts its query count). Placement "home" panels get ``customer=None``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

PLACEMENTS = ("customer", "home")


@dataclass(frozen=True)
class Panel:
    name: str
    title: str
    template: str
    context: Callable[..., dict]
    placement: str = "customer"
    order: int = 100
    roles: tuple[str, ...] = field(default_factory=tuple)  # empty: every role sees it


_panels: dict[str, Panel] = {}


def register_panel(panel: Panel) -> None:
    if panel.placement not in PLACEMENTS:
        raise ValueError(f"Unknown panel placement {panel.placement!r}")
    _panels[f"{panel.placement}:{panel.name}"] = panel


def panels_for(placement: str, roles: set[str] | None = None) -> list[Panel]:
    panels = [p for p in _panels.values() if p.placement == placement]
    if roles is not None:
        panels = [p for p in panels if not p.roles or roles & set(p.roles)]
    return sorted(panels, key=lambda p: (p.order, p.name))
