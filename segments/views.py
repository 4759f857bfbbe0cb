"""Segment pages for every role (read-only lists and details) and the static-list actions of the 360 page."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from customers.models import Customer
from cxhub import svgcharts
from cxhub.errors import DomainError
from cxhub.roles import ADMIN, AGENT, MARKETER, TEAM_LEAD, role_required

from . import selectors, services
from .models import Purpose, Segment, SegmentRun
from .registry import kpi_providers

MEMBERS_SHOWN = 50
KPI_DAYS = 30
KPI_DAY_CHOICES = (7, 30, 90, 365)


@role_required(AGENT, TEAM_LEAD, MARKETER, ADMIN)
def segment_list(request):
    segments = Segment.objects.select_related("parent").order_by("purpose", "parent_id", "name")
    purpose = request.GET.get("purpose", "")
    if purpose in Purpose.values:
        segments = segments.filter(purpose=purpose)
    return render(
        request,
        "segments/list.html",
        {"segments": segments, "purposes": Purpose.choices, "purpose": purpose},
    )


def _kpi_options(params) -> tuple[int, str]:
    """``?days=`` and ``?period=`` of the page; values the API would refuse fall back to the defaults."""
    period = params.get("period", "day")
    raw_days = params.get("days", "")
    days = int(raw_days) if raw_days.isascii() and raw_days.isdigit() and len(raw_days) < 4 else KPI_DAYS
    if not 1 <= days <= selectors.MAX_KPI_DAYS:
        days = KPI_DAYS
    return days, period if period in selectors.PERIODS else "day"


@role_required(AGENT, TEAM_LEAD, MARKETER, ADMIN)
def segment_detail(request, pk: int):
    segment = get_object_or_404(Segment.objects.select_related("parent", "owner"), pk=pk)
    members = selectors.segment_members(segment=segment).order_by("-id")[:MEMBERS_SHOWN]
    days, period = _kpi_options(request.GET)
    kpis = selectors.segment_kpis(segment=segment, days=days, period=period)
    provider_figures = [
        figure
        for provider in kpi_providers()
        if provider.figures and provider.key in kpis
        for figure in provider.figures(kpis[provider.key])
    ]
    return render(
        request,
        "segments/detail.html",
        {
            "segment": segment,
            "members": members,
            "members_shown": MEMBERS_SHOWN,
            "kpis": kpis,
            "provider_figures": provider_figures,
            "periods": selectors.PERIODS,
            "kpi_day_choices": KPI_DAY_CHOICES,
            "charts": kpi_charts(kpis),
            "runs": SegmentRun.objects.filter(segment=segment).order_by("-id")[:10],
            "children": segment.children.order_by("name"),
        },
    )


PERIOD_LABELS = {"day": "%d %b", "week": "%d %b", "month": "%b %Y"}
PERIOD_TITLES = {"day": "Day (UTC)", "week": "Week starting (UTC)", "month": "Month (UTC)"}


def kpi_charts(kpis: dict) -> dict:
    """The segment page's two charts: size at the end of each day, and entries/exits per period."""
    period = kpis["period"]
    size = svgcharts.line_chart(
        [(row["day"].strftime("%d %b"), row["size"]) for row in kpis["per_day"]],
        label=f"Members at the end of each day, last {kpis['days']} days",
        x_title="Day (UTC)",
        y_title="Members",
        css_class="segment-size-chart",
    )
    movement = svgcharts.movement_chart(
        [
            (row["start"].strftime(PERIOD_LABELS[period]), row["entered"], row["exited"])
            for row in kpis["per_period"]
        ],
        label=f"Customers entering and leaving the segment per {period}, last {kpis['days']} days",
        x_title=PERIOD_TITLES[period],
        y_title=f"Customers per {period}",
        css_class="segment-movement-chart",
    )
    return {"size": size, "movement": movement}


def _back(request, customer_id: int):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("customers:detail", customer_id)


@require_POST
@role_required(MARKETER, ADMIN)
def add_to_list(request, customer_id: int):
    customer = get_object_or_404(Customer, pk=customer_id)
    segment = get_object_or_404(Segment, pk=request.POST.get("segment") or 0)
    try:
        services.add_members(segment=segment, customer_ids=[customer.pk])
        messages.success(request, f"Added to “{segment.name}”.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return _back(request, customer.pk)


@require_POST
@role_required(MARKETER, ADMIN)
def remove_from_list(request, customer_id: int, pk: int):
    segment = get_object_or_404(Segment, pk=pk)
    try:
        services.remove_members(segment=segment, customer_ids=[customer_id])
        messages.success(request, f"Removed from “{segment.name}”.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return _back(request, customer_id)
