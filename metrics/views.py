"""Pages: the hosted survey (no login), the metrics dashboard and the follow-up case queue."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from cxhub.errors import DomainError
from cxhub.roles import ADMIN, MARKETER, SUPERVISOR_ROLES, role_required, scope_required
from interactions.models import Channel

from . import agents, charts, dashboard, selectors, services
from .models import CaseStatus, FollowUpCase
from .permissions import CASE_ACTION_SCOPES
from .services.invitations import InvalidInvitation, invitation_for_token, respond_with_token


@never_cache
@login_not_required
@require_http_methods(["GET", "POST"])
def hosted_survey(request, token: str):
    """The survey page a customer opens from an invitation: one question, one answer per link."""
    try:
        invitation = invitation_for_token(token)
    except InvalidInvitation as exc:
        return render(request, "metrics/hosted_survey.html", {"problem": exc.message}, status=410)
    survey = invitation.survey
    context = {"survey": survey, "scale": range(survey.scale_min, survey.scale_max + 1)}
    if invitation.responded_at is not None:
        return render(request, "metrics/hosted_survey.html", {**context, "done": True})
    if request.method == "POST":
        raw = request.POST.get("score", "")
        comment = request.POST.get("comment", "")[:4000]
        try:
            score = int(raw)
        except ValueError:
            context.update(error="Please choose a score.", comment=comment)
            return render(request, "metrics/hosted_survey.html", context, status=400)
        try:
            recorded = respond_with_token(token=token, score=score, comment=comment)
        except InvalidInvitation as exc:
            return render(
                request, "metrics/hosted_survey.html", {**context, "problem": exc.message}, status=409
            )
        except DomainError as exc:
            context.update(error=exc.message, comment=comment)
            return render(request, "metrics/hosted_survey.html", context, status=400)
        return render(request, "metrics/hosted_survey.html", {**context, **_next_steps(invitation, recorded)})
    return render(request, "metrics/hosted_survey.html", context)


def _next_steps(invitation, recorded) -> dict:
    """What the thank-you page tells the customer happens next (a follow-up call, or nothing more)."""
    from outreach.links import preferences_url

    case = FollowUpCase.objects.filter(response=recorded.response).only("due_at").first()
    return {"done": True, "follow_up_case": case, "preferences_url": preferences_url(invitation.customer_id)}


@role_required(MARKETER, ADMIN)
def metrics_dashboard(request):
    context = dashboard.dashboard_context(request.GET)
    # A filter that names nothing is bad input: the page says which field, with a 400 (as the API).
    return render(
        request, "metrics/dashboard.html", context, status=400 if context["channel_errors"] else 200
    )


@role_required(*SUPERVISOR_ROLES)
def agents_dashboard(request):
    """Agent workload and performance for team leads and admins."""
    try:
        since = selectors.parse_bound(request.GET.get("since"), field="since")
        until = selectors.parse_bound(request.GET.get("until"), field="until", end=True)
    except DomainError as exc:
        messages.error(request, exc.message)
        since = until = None
    figures = agents.agent_metrics(since=since, until=until)
    trend = agents.team_trend()
    context = {
        **figures,
        "since": request.GET.get("since", "") if since else "",
        "until": request.GET.get("until", "") if until else "",
        "handled_chart": charts.bars_svg(
            [(a["name"], a["handled"]) for a in figures["agents"]],
            label="Contacts handled per agent",
            axis_title="Contacts handled in the period",
        ),
        "fcr_trend": charts.trend_svg(
            trend,
            value_key="first_contact_resolution",
            low=0,
            high=100,
            label="Team first-contact resolution by week",
        ),
        "csat_trend": charts.trend_svg(trend, value_key="csat", low=0, high=100, label="Team CSAT by week"),
        "handled_trend": charts.trend_svg(
            trend,
            value_key="handled",
            low=0,
            high=max([p["handled"] for p in trend] + [1]),
            label="Contacts handled by week",
        ),
    }
    return render(request, "metrics/agents.html", context)


@scope_required(CASE_ACTION_SCOPES["list"])
def case_list(request):
    cases = FollowUpCase.objects.select_related("customer", "assigned_to", "response__survey")
    status = request.GET.get("status", "open")
    if status in CaseStatus.values:
        cases = cases.filter(status=status)
    if request.GET.get("mine"):
        cases = cases.filter(assigned_to=request.user)
    if request.GET.get("overdue"):
        cases = cases.filter(is_overdue=True)
    page = Paginator(cases.order_by("due_at", "id"), 50).get_page(request.GET.get("page"))
    return render(request, "metrics/cases.html", {"page": page, "status": status})


@scope_required(CASE_ACTION_SCOPES["view"])
def case_detail(request, pk: int):
    case = get_object_or_404(
        FollowUpCase.objects.select_related("customer", "assigned_to", "closed_by", "response__survey"), pk=pk
    )
    channels = Channel.objects.filter(active=True)
    return render(request, "metrics/case_detail.html", {"case": case, "channels": channels})


@require_POST
@scope_required(CASE_ACTION_SCOPES["assign"])
def case_assign(request, pk: int):
    case = get_object_or_404(FollowUpCase, pk=pk)
    try:
        services.assign_case(case=case, user=request.user)
        messages.success(request, "The case is yours.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("metrics:case", pk=pk)


@require_POST
@scope_required(CASE_ACTION_SCOPES["close"])
def case_close(request, pk: int):
    case = get_object_or_404(FollowUpCase.objects.select_related("customer"), pk=pk)
    try:
        services.close_case(
            case=case,
            user=request.user,
            outcome=request.POST.get("outcome", ""),
            message=request.POST.get("message", ""),
            channel=request.POST.get("channel", ""),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("metrics:case", pk=pk)
    messages.success(request, "Case closed; the message to the customer is on their timeline.")
    return redirect("metrics:cases")
