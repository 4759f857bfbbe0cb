"""The page explaining how a customer's value and risk numbers were computed."""

from django.shortcuts import get_object_or_404, redirect, render

from customers.models import Customer
from cxhub.roles import ROLES, role_required

from . import btyd, compute
from .detractor import FEATURE_LABELS
from .models import CustomerScore, ModelRun
from .presentation import alive_label, drivers_with_labels, rfm_label


@role_required(*ROLES)
def explain(request, pk: int):
    customer = get_object_or_404(Customer, pk=pk)
    if customer.merged_into_id is not None:
        from customers.selectors import survivor_id

        return redirect("scoring:explain", survivor_id(customer.pk))
    score = CustomerScore.objects.filter(customer_id=customer.pk).select_related("model_run").first()
    run: ModelRun | None = score.model_run if score else None
    context = {"customer": customer, "score": score, "run": run}
    if score and run and run.params.get("bgnbd"):
        bg = run.params["bgnbd"]
        gg = run.params["gamma_gamma"]
        unit_days = compute.DAYS_PER_UNIT[run.time_unit]
        context.update(
            bg=bg,
            gg=gg,
            unit_days=unit_days,
            horizon_units=compute.HORIZON_DAYS_90 / unit_days,
            population_order_value=btyd.population_mean_order_value(btyd.GammaGammaParams(**gg)),
            alive_label=alive_label(score.p_alive),
            rfm_name=rfm_label(score.rfm_label),
            rfm_breaks=run.params.get("rfm") or {},
            drivers=drivers_with_labels(score.detractor_drivers),
            feature_labels=sorted(FEATURE_LABELS.values()),
            options=run.options,
            discount_percent=float(run.options.get("monthly_discount", 0)) * 100,
            margin_percent=float(run.options.get("margin", 0)) * 100,
        )
    return render(request, "scoring/explain.html", context)
