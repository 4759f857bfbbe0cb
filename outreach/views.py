"""Pages and hooks without a login: provider callbacks, one-click unsubscribe, the preference centre."""

from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cxhub.api.errors import error_body
from cxhub.errors import DomainError

from . import links
from .services import callbacks, preferences


@csrf_exempt
@require_POST
def provider_callback(request, provider: str):
    """``POST /hooks/messages/<provider>/``: a signed status report (delivered/bounced/complained/failed)."""
    try:
        body = callbacks.verify(
            provider_code=provider,
            raw_body=request.body,
            signature=request.headers.get("X-CXHub-Signature", ""),
        )
        message = callbacks.record_status(provider_code=provider, body=body)
    except DomainError as exc:
        return JsonResponse(error_body(exc.code, exc.message, exc.field), status=exc.status)
    return JsonResponse({"id": message.pk, "status": message.status})


# --- the customer's side -------------------------------------------------------------------------


@csrf_exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" without a session or token
def unsubscribe(request, token: str):
    """One-click unsubscribe: POST withdraws the consent; GET shows a button (GET must not change state)."""
    try:
        message_id = links.message_for_token(token)
    except DomainError as exc:
        return render(request, "outreach/unsubscribe.html", {"problem": exc.message}, status=404)
    if request.method == "POST":
        try:
            message = preferences.unsubscribe(message_id=message_id)
        except DomainError as exc:
            return render(request, "outreach/unsubscribe.html", {"problem": exc.message}, status=exc.status)
        return render(
            request,
            "outreach/unsubscribe.html",
            {"done": True, "message": message, "preferences_url": links.preferences_url(message.customer_id)},
        )
    return render(request, "outreach/unsubscribe.html", {"token": token})


def preference_centre(request, token: str):
    """``/preferences/<signed token>/``: what the customer agreed to, what we hold, change it."""
    try:
        customer = preferences.live_customer(links.customer_for_token(token))
    except DomainError as exc:
        return render(request, "outreach/preferences.html", {"problem": exc.message}, status=404)
    saved = None
    if request.method == "POST":
        saved = preferences.save_choices(customer=customer, granted=set(request.POST.getlist("granted")))
    return render(
        request,
        "outreach/preferences.html",
        {
            "customer": customer,
            "choices": preferences.choices(customer),
            "channels": preferences.CHANNELS,
            "purposes": preferences.PURPOSES,
            "data_held": preferences.data_held(customer),
            "saved": saved,
        },
    )
