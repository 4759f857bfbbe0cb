"""Agent pages: customer search, the Customer 360 page, its timeline fragment, logging an interaction."""

import json
import logging

from django.conf import settings
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import record_audit
from customers import panels
from customers.models import Customer
from customers.selectors import survivor_id
from customers.subject_access import subject_access_export
from cxhub.errors import DomainError
from cxhub.roles import ADMIN, SERVICE_ROLES, RoleDenied, has_role, role_required, user_roles
from interactions.models import Channel
from interactions.services import ingest_interaction

from .forms import LogInteractionForm, SearchForm, TimelineFilterForm
from .selectors import (
    MIN_QUERY_LENGTH,
    customer_360,
    decode_cursor,
    journey_log_types,
    recently_viewed,
    search_customers,
    timeline_page,
)

logger = logging.getLogger(__name__)
PANEL_FAILED = '<p class="error">This panel could not be loaded.</p>'
# Header figures a panel may fill (``{"figures": {key: text or {"text", "href"}}}``); missing ones
# read "not computed yet".
FIGURES = (
    ("lifetime_value", "Lifetime value"),
    ("p_alive", "P(alive)"),
    ("profitability", "Profitability"),
    ("cost_to_serve", "Cost to serve"),
    ("rfm", "RFM cell"),
    ("detractor_risk", "Detractor risk"),
)
LOGGING_ROLES = SERVICE_ROLES


def _channels():
    return list(Channel.objects.filter(active=True).order_by("name"))


def _render_panels(request, placement: str, customer=None) -> tuple[list[dict], dict]:
    """Render each registered panel; collect the header figures panels provide."""
    rendered, figures = [], {}
    for panel in panels.panels_for(placement, user_roles(request.user)):
        try:
            context = panel.context(request, customer) or {}
            html = render_to_string(panel.template, {**context, "customer": customer}, request=request)
        except Exception:  # one broken panel must not take the agent's page down
            logger.exception("Panel %s:%s failed", placement, panel.name)
            html, context = PANEL_FAILED, {}
        figures.update(context.get("figures") or {})
        rendered.append({"name": panel.name, "title": panel.title, "html": mark_safe(html)})
    return rendered, figures


def _survivor_or_redirect(request, customer_id: int, url_name: str):
    survivor = survivor_id(customer_id)
    if survivor is None:
        raise Http404("No such customer.")
    if survivor != customer_id:
        if url_name == "customers:detail":
            messages.info(
                request,
                f"Customer {customer_id} was merged into customer {survivor}: showing the surviving profile.",
            )
        target = reverse(url_name, args=[survivor])
        query = request.GET.urlencode()
        return None, redirect(f"{target}?{query}" if query else target)
    return survivor, None


@require_GET
@role_required()
def search(request):
    form = SearchForm(request.GET)
    query = " ".join(form.cleaned_data["q"].split()) if form.is_valid() else ""
    too_short = 0 < len(query) < MIN_QUERY_LENGTH
    results, has_more = search_customers(query=query) if query and not too_short else ([], False)
    return render(
        request,
        "customers/search.html",
        {"form": form, "query": query, "too_short": too_short, "results": results, "has_more": has_more},
    )


@require_http_methods(["GET", "HEAD", "POST"])
@role_required()
def detail(request, customer_id: int):
    """The 360 page. It also takes the log-an-interaction form, so a form with an error comes back
    at the same address (filters included) and a logged one returns to it."""
    if request.method == "POST":
        if not has_role(request.user, *LOGGING_ROLES):
            raise RoleDenied(LOGGING_ROLES)
        survivor = survivor_id(customer_id)
        if survivor is None:
            raise Http404("No such customer.")
        back = request.get_full_path() if survivor == customer_id else _detail_url(request, survivor)
        return _log_interaction(request, survivor, back=back)
    # Read the row first: a live customer (nearly every view) needs no walk along merges.
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise Http404("No such customer.")
    if customer.merged_into_id is not None:
        _survivor, response = _survivor_or_redirect(request, customer_id, "customers:detail")
        return response
    return _render_detail(request, customer_id, customer=customer)


def _detail_url(request, customer_id: int) -> str:
    query = _filter_query(request)
    target = reverse("customers:detail", args=[customer_id])
    return f"{target}?{query}" if query else target


def _log_form(data=None, *, channels) -> LogInteractionForm:
    # Its own id prefix: the timeline filters on the same page have a channel, type and direction too.
    return LogInteractionForm(data, channels=channels, journey_types=journey_log_types(), auto_id="log_%s")


LOG_FIELDS_TEMPLATE = "customers/_log_form_fields.html"
_unbound_log_fields: dict[tuple, str] = {}


def _log_fields_html(form: LogInteractionForm) -> str:
    """The log form's fields as HTML. Rendering their widgets cost about a tenth of the page's
    Python time, and an unbound form's fields depend only on its channel and type choices, so
    those are rendered once per set of choices in each process. A bound form (typed values,
    errors) is rendered every time, and so is everything while DEBUG is on (template edits)."""
    if form.is_bound or settings.DEBUG:
        return render_to_string(LOG_FIELDS_TEMPLATE, {"log_form": form})
    html = _unbound_log_fields.get(form.choices_key)
    if html is None:
        html = render_to_string(LOG_FIELDS_TEMPLATE, {"log_form": form})
        if len(_unbound_log_fields) >= 16:  # channels or journeys edited many times: start again
            _unbound_log_fields.clear()
        _unbound_log_fields[form.choices_key] = html
    return html


def _render_detail(request, customer_id: int, *, log_form=None, status: int = 200, customer=None):
    channels = _channels()
    filter_form = TimelineFilterForm(request.GET or None, channels=channels)
    data = customer_360(
        customer_id=customer_id,
        filters=filter_form.to_filters() if request.GET else None,
        before=decode_cursor(request.GET.get("before")),
        viewer=request.user,
        customer=customer,
    )
    if data is None:
        raise Http404("No such customer.")
    if data.customer.is_erased:
        return render(request, "customers/erased.html", {"customer": data.customer}, status=410)
    can_log = has_role(request.user, *LOGGING_ROLES)
    if can_log and log_form is None:
        log_form = _log_form(channels=channels)
    rendered_panels, panel_figures = _render_panels(request, "customer", data.customer)
    figures = [(label, panel_figures.get(key)) for key, label in FIGURES]
    return render(
        request,
        "customers/detail.html",
        {
            "c360": data,
            "customer": data.customer,
            "filter_form": filter_form,
            "filter_query": _filter_query(request),
            "log_form": log_form if can_log else None,
            "log_fields": _log_fields_html(log_form) if can_log else "",
            "panels": rendered_panels,
            "figures": figures,
            "channels": channels,
            "channel_names": {c.code: c.name for c in channels},
        },
        status=status,
    )


def _filter_query(request) -> str:
    params = request.GET.copy()
    params.pop("before", None)
    return params.urlencode()


def _log_interaction(request, customer_id: int, *, back: str):
    form = _log_form(request.POST, channels=_channels())
    if not form.is_valid():
        return _render_detail(request, customer_id, log_form=form, status=400)
    try:
        item = form.to_item(customer_id=customer_id)
        _interaction, created = ingest_interaction(item=item, agent=request.user)
    except DomainError as exc:
        field = getattr(exc, "field", None)
        form.add_error(field if field in form.fields else None, str(exc))
        return _render_detail(request, customer_id, log_form=form, status=400)
    if created:
        messages.success(request, format_html("{} logged.", form.label()))
    else:
        messages.info(request, format_html("{} was already logged.", form.label()))
    return redirect(back)


@require_POST
@role_required(*LOGGING_ROLES)
def log_interaction(request, customer_id: int):
    # A form opened before a merge still logs: on the surviving profile.
    survivor = survivor_id(customer_id)
    if survivor is None:
        raise Http404("No such customer.")
    return _log_interaction(request, survivor, back=reverse("customers:detail", args=[survivor]))


@require_GET
@role_required()
def timeline(request, customer_id: int):
    """The htmx fragment: one more page of the timeline (rows plus the next "load more")."""
    survivor, response = _survivor_or_redirect(request, customer_id, "customers:timeline")
    if response:
        return response
    if Customer.objects.filter(pk=survivor, erased_at__isnull=False).exists():
        return HttpResponse("", status=410)
    filter_form = TimelineFilterForm(request.GET)
    page = timeline_page(
        customer_id=survivor,
        filters=filter_form.to_filters(),
        before=decode_cursor(request.GET.get("before")),
    )
    record_audit(action="customer.timeline", customer_id=survivor, row_count=len(page.interactions))
    html = render_to_string(
        "customers/_timeline_rows.html",
        {"timeline": page, "customer_id": survivor, "filter_query": _filter_query(request)},
        request=request,
    )
    return HttpResponse(html)


@require_GET
@role_required(ADMIN)
def export_person(request, customer_id: int):
    """Admins download the subject-access export (the same JSON as the API) from the 360 page."""
    survivor, response = _survivor_or_redirect(request, customer_id, "customers:export")
    if response:
        return response
    customer = Customer.objects.filter(pk=survivor).first()
    if customer is None:
        raise Http404("No such customer.")
    if customer.is_erased:
        return render(request, "customers/erased.html", {"customer": customer}, status=410)
    data = subject_access_export(customer_id=survivor)
    record_audit(action="customer.export", customer_id=survivor)
    body = json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="customer-{survivor}-export.json"'
    return response


@require_GET
@role_required()
def agent_home(request):
    rendered_panels, _ = _render_panels(request, "home")
    return render(
        request,
        "home.html",
        {
            "recent": recently_viewed(user=request.user),
            "search_form": SearchForm(),
            "panels": rendered_panels,
        },
    )
