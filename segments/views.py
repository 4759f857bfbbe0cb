"""Segment pages for every role (read-only lists and details) and the static-list actions of the 360 page."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from customers.models import Customer
from cxhub.errors import DomainError
from cxhub.roles import ADMIN, AGENT, MARKETER, role_required

from . import selectors, services
from .models import Purpose, Segment, SegmentRun

MEMBERS_SHOWN = 50


@role_required(AGENT, MARKETER, ADMIN)
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


@role_required(AGENT, MARKETER, ADMIN)
def segment_detail(request, pk: int):
    segment = get_object_or_404(Segment.objects.select_related("parent", "owner"), pk=pk)
    members = selectors.segment_members(segment=segment).order_by("-id")[:MEMBERS_SHOWN]
    return render(
        request,
        "segments/detail.html",
        {
            "segment": segment,
            "members": members,
            "members_shown": MEMBERS_SHOWN,
            "kpis": selectors.segment_kpis(segment=segment, days=30),
            "runs": SegmentRun.objects.filter(segment=segment).order_by("-id")[:10],
            "children": segment.children.order_by("name"),
        },
    )


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
