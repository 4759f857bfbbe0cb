"""Journey pages: definitions and analytics (Marketers, Admins); the exception queue (service roles)."""

from datetime import UTC, datetime

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET, require_POST

from cxhub.errors import DomainError
from cxhub.roles import ADMIN, MARKETER, SERVICE_ROLES, role_required
from interactions.models import Channel

from . import selectors
from .models import AgentTask, ExceptionKind, Journey, JourneyException
from .services import complete_agent_task, resolve_exception

ANALYST_ROLES = (MARKETER, ADMIN)
QUEUE_ROLES = SERVICE_ROLES
QUEUE_LIMIT = 100


@require_GET
@role_required(*ANALYST_ROLES)
def journey_list(request):
    journeys = list(selectors.journeys_with_stages().order_by("name"))
    return render(request, "journeys/list.html", {"journeys": journeys})


def _date(raw: str | None):
    value = parse_date(raw) if raw else None
    return datetime(value.year, value.month, value.day, tzinfo=UTC) if value else None


@require_GET
@role_required(*ANALYST_ROLES)
def journey_detail(request, slug: str):
    journey = selectors.journeys_with_stages().filter(slug=slug).first()
    if journey is None:
        raise Http404("No such journey.")
    filters = {
        "since": _date(request.GET.get("since")),
        "until": _date(request.GET.get("until")),
        "channel": request.GET.get("channel", ""),
        "segment": request.GET.get("segment", ""),
    }
    analytics = selectors.journey_analytics(journey=journey, **filters)
    top = max((s.reached for s in analytics.stages), default=0)
    for figure in analytics.stages:
        figure.bar = round(100 * figure.reached / top) if top else 0
    return render(
        request,
        "journeys/detail.html",
        {
            "journey": journey,
            "analytics": analytics,
            "filters": request.GET,
            "channels": Channel.objects.filter(active=True).order_by("name"),
            "segments": _segments(),
        },
    )


def _segments():
    from django.apps import apps

    try:
        return list(apps.get_model("segments", "Segment").objects.order_by("name").values("slug", "name"))
    except LookupError:
        return []


@require_GET
@role_required(*QUEUE_ROLES)
def exception_queue(request):
    kind = request.GET.get("kind", "")
    journey = request.GET.get("journey", "")
    exceptions = list(selectors.exception_queue(kind=kind, journey=journey)[:QUEUE_LIMIT])
    return render(
        request,
        "journeys/queue.html",
        {
            "exceptions": exceptions,
            "tasks": selectors.open_tasks(),
            "kinds": ExceptionKind.choices,
            "journeys": Journey.objects.order_by("name").values("slug", "name"),
            "kind": kind,
            "journey": journey,
        },
    )


@require_POST
@role_required(*QUEUE_ROLES)
def resolve(request, pk: int):
    exception = get_object_or_404(JourneyException, pk=pk)
    try:
        resolve_exception(exception=exception, user=request.user, note=request.POST.get("note", ""))
        messages.success(request, f"Exception {pk} resolved.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(_next(request))


@require_POST
@role_required(*QUEUE_ROLES)
def task_done(request, pk: int):
    task = get_object_or_404(AgentTask, pk=pk)
    try:
        complete_agent_task(task=task, user=request.user)
        messages.success(request, f"Task “{task.title}” done.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(_next(request))


def _next(request) -> str:
    target = request.POST.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else "journeys:queue"
