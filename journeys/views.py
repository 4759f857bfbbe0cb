"""Journey pages: definitions and analytics (Marketers, Admins); the exception queue (service roles)."""

from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET, require_POST

from cxhub.errors import DomainError
from cxhub.roles import ADMIN, MARKETER, SERVICE_ROLES, SUPERVISOR_ROLES, has_role, role_required
from interactions.models import Channel

from . import selectors
from .models import AgentTask, ExceptionKind, Journey, JourneyException
from .services import assign_exceptions, complete_agent_task, resolve_exception, resolve_exceptions

ANALYST_ROLES = (MARKETER, ADMIN)
QUEUE_ROLES = SERVICE_ROLES
QUEUE_PAGE_SIZE = 50


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


def _queue_filters(params) -> dict:
    sort = params.get("sort", "due")
    state = params.get("state", "open")
    return {
        "kind": params.get("kind", "") if params.get("kind", "") in ExceptionKind.values else "",
        "journey": params.get("journey", ""),
        "assignee": params.get("assignee", ""),
        "state": state if state in selectors.QUEUE_STATES else "open",
        "overdue": params.get("overdue") == "1",
        "sort": sort if sort in selectors.QUEUE_SORTS else "due",
    }


def service_users():
    """People who work the queues (to assign exceptions to), by name."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=SERVICE_ROLES)
        .distinct()
        .order_by("username")
    )


@require_GET
@role_required(*QUEUE_ROLES)
def exception_queue(request):
    """Every matching exception, a page at a time (no cap), soonest SLA due first by default."""
    filters = _queue_filters(request.GET)
    rows = selectors.exception_queue(user=request.user, **filters)
    page = Paginator(rows, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    can_assign_others = has_role(request.user, *SUPERVISOR_ROLES)
    return render(
        request,
        "journeys/queue.html",
        {
            "page": page,
            "exceptions": page.object_list,
            "tasks": selectors.open_tasks(),
            "kinds": ExceptionKind.choices,
            "journeys": Journey.objects.order_by("name").values("slug", "name"),
            "filters": filters,
            "kind": filters["kind"],
            "journey": filters["journey"],
            "query": query.urlencode(),
            "sorts": (
                ("due", "SLA due, soonest first"),
                ("-due", "SLA due, latest first"),
                ("-detected", "Newest first"),
                ("detected", "Oldest first"),
            ),
            "can_assign_others": can_assign_others,
            "assignees": list(service_users().values("pk", "username")) if can_assign_others else [],
            "now": datetime.now(UTC),
        },
    )


@require_POST
@role_required(*QUEUE_ROLES)
def assign_to_me(request, pk: int):
    exception = get_object_or_404(JourneyException, pk=pk)
    if assign_exceptions(exception_ids=[exception.pk], assignee=request.user, actor=request.user):
        messages.success(request, f"Exception {pk} is yours.")
    else:
        messages.error(request, "This exception is already resolved.")
    return redirect(_next(request))


@require_POST
@role_required(*QUEUE_ROLES)
def bulk(request):
    """Selected exceptions: assign to me, assign to someone (team leads, admins), or resolve."""
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
    action = request.POST.get("action", "")
    if not ids:
        messages.error(request, "Select at least one exception.")
    elif action == "resolve":
        done = resolve_exceptions(exception_ids=ids, user=request.user, note=request.POST.get("note", ""))
        messages.success(request, f"{done} exception{'s' if done != 1 else ''} resolved.")
    elif action == "assign_me":
        done = assign_exceptions(exception_ids=ids, assignee=request.user, actor=request.user)
        messages.success(request, f"{done} exception{'s' if done != 1 else ''} assigned to you.")
    elif action in ("assign", "unassign"):
        if not has_role(request.user, *SUPERVISOR_ROLES):
            messages.error(request, "Only team leads and admins assign exceptions to others.")
            return redirect(_next(request))
        assignee = None
        if action == "assign":
            assignee = service_users().filter(pk=request.POST.get("assignee") or 0).first()
            if assignee is None:
                messages.error(request, "Choose who gets the exceptions.")
                return redirect(_next(request))
        done = assign_exceptions(exception_ids=ids, assignee=assignee, actor=request.user)
        who = assignee.username if assignee else "nobody"
        messages.success(request, f"{done} exception{'s' if done != 1 else ''} assigned to {who}.")
    else:
        messages.error(request, "Unknown action.")
    return redirect(_next(request))


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
