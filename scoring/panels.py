"""The value-and-risk panel on the Customer 360 page; it also fills the header figures."""

from django.urls import reverse

from .models import CustomerScore
from .presentation import alive_label, drivers_with_labels, money, rfm_label


def header_figures(score: CustomerScore | None) -> dict:
    """Display strings for the 360 header (``None``: not computed yet)."""
    if score is None:
        return {}
    risk = score.detractor_risk
    return {
        "lifetime_value": money(score.clv) if score.clv is not None else "no purchase yet",
        "profitability": money(score.profitability),
        "cost_to_serve": money(score.cost_to_serve),
        "p_alive": (
            f"{score.p_alive:.0%} ({alive_label(score.p_alive)})"
            if score.p_alive is not None
            else "no purchase yet"
        ),
        "rfm": f"{rfm_label(score.rfm_label)} ({score.rfm_code})" if score.rfm_code else "no purchase yet",
        "detractor_risk": f"{risk:.0%}" if risk is not None else None,
    }


def customer_scores_context(request, customer) -> dict:
    """One query: the customer's latest score row."""
    score = CustomerScore.objects.filter(customer_id=customer.pk).first()
    return {
        "score": score,
        "alive_label": alive_label(score.p_alive) if score else None,
        "rfm_name": rfm_label(score.rfm_label) if score else "",
        "drivers": drivers_with_labels(score.detractor_drivers) if score else [],
        "explain_url": reverse("scoring:explain", args=[customer.pk]),
        "figures": header_figures(score),
    }


def register() -> None:
    from customers.panels import Panel, register_panel

    register_panel(
        Panel(
            name="value",
            title="Value and risk",
            template="scoring/panels/customer_scores.html",
            context=customer_scores_context,
            placement="customer",
            order=15,
        )
    )
