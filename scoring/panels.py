"""The value-and-risk panel on the Customer 360 page; it also fills the header figures."""

from django.urls import reverse

from .models import CustomerScore
from .presentation import alive_label, drivers_with_labels, money, rfm_label


def header_figures(score: CustomerScore | None, explain_url: str) -> dict:
    """The 360 header's figures, each linking to the explanation (missing: "not computed yet")."""
    if score is None:
        return {}
    no_purchase = "no purchase yet"

    def linked(text: str, note: str = "") -> dict:
        return {"text": text, "href": explain_url, "note": note}

    figures = {
        "lifetime_value": linked(money(score.clv) if score.clv is not None else no_purchase),
        "p_alive": linked(
            f"{score.p_alive:.0%}" if score.p_alive is not None else no_purchase,
            alive_label(score.p_alive) or "",
        ),
        "profitability": linked(money(score.profitability)),
        "cost_to_serve": linked(money(score.cost_to_serve)),
        "rfm": linked(rfm_label(score.rfm_label) if score.rfm_code else no_purchase, score.rfm_code),
    }
    if score.detractor_risk is not None:
        drivers = ", ".join(d["label"].lower() for d in drivers_with_labels(score.detractor_drivers))
        figures["detractor_risk"] = linked(f"{score.detractor_risk:.0%}", drivers)
    return figures


def customer_scores_context(request, customer) -> dict:
    """One query: the customer's latest score row."""
    score = CustomerScore.objects.filter(customer_id=customer.pk).first()
    explain_url = reverse("scoring:explain", args=[customer.pk])
    return {
        "score": score,
        "alive_label": alive_label(score.p_alive) if score else None,
        "rfm_name": rfm_label(score.rfm_label) if score else "",
        "drivers": drivers_with_labels(score.detractor_drivers) if score else [],
        "explain_url": explain_url,
        "figures": header_figures(score, explain_url),
    }
