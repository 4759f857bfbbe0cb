"""What the metrics dashboard shows: trends, comparisons with margins, verbatims, VOC beside behaviour."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from cxhub.errors import DomainError

from . import channel_efficacy, charts, selectors
from .models import SentimentLabel, Survey, SurveyResponse, Theme

TREND_MONTHS = 12
VERBATIMS = 25
COMPLAINT_TYPES = ("complaint",)
PURCHASE_TYPES = ("order_placed", "purchase")
BEHAVIOUR_DAYS = 365


def _survey_filter(params) -> list[int] | None:
    raw = params.get("survey", "")
    return [int(raw)] if raw.isdigit() else None


def dashboard_context(params) -> dict:
    survey_ids = _survey_filter(params)
    since = until = None
    try:
        since = selectors.parse_bound(params.get("since"), field="since")
        until = selectors.parse_bound(params.get("until"), field="until", end=True)
    except DomainError:
        since = until = None
    trends = {
        kind: selectors.trend(kind=kind, months=TREND_MONTHS, survey_ids=survey_ids)
        for kind in selectors.KINDS
    }
    window = {"survey_ids": survey_ids, "since": since, "until": until}
    overall = {kind: selectors.summary(kind=kind, **window)["overall"] for kind in selectors.KINDS}
    by_channel = _by_channel(window)
    by_segment = selectors.summary(kind="nps", group_by="segment", **window)["groups"]
    behaviour = segment_behaviour()
    for group in by_segment:
        group.update(behaviour.get(group["group"], {}))
    return {
        "surveys": Survey.objects.order_by("name"),
        "selected_survey": survey_ids[0] if survey_ids else None,
        "since": params.get("since", ""),
        "until": params.get("until", ""),
        "overall": overall,
        "nps_chart": charts.trend_svg(
            trends["nps"],
            value_key="nps",
            margin_key="margin_of_error",
            low=-100,
            high=100,
            label="NPS by month",
            x_title="Month",
            y_title="NPS (points, ±95%)",
            width=420,
            height=230,
        ),
        "ces_chart": charts.trend_svg(
            trends["ces"],
            value_key="average",
            low=1,
            high=7,
            label="CES by month",
            x_title="Month",
            y_title="Mean effort (1–7)",
            width=420,
            height=230,
        ),
        "csat_chart": charts.trend_svg(
            trends["csat"],
            value_key="satisfied_share",
            low=0,
            high=100,
            label="CSAT by month",
            x_title="Month",
            y_title="Satisfied (%)",
            width=420,
            height=230,
        ),
        "by_channel": by_channel,
        "by_segment": by_segment,
        **verbatims_context(params, survey_ids),
        **channels_context(params, since, until),
    }


def _by_channel(window: dict) -> list[dict]:
    """One row per channel with its NPS (± margin), CES average and CSAT share side by side."""
    rows: dict = {}
    for kind in selectors.KINDS:
        for group in selectors.summary(kind=kind, group_by="channel", **window)["groups"]:
            rows.setdefault(group["group"], {"channel": group["group"]})[kind] = group
    return sorted(rows.values(), key=lambda row: (row["channel"] is None, str(row["channel"])))


def verbatims_context(params, survey_ids) -> dict:
    rows = (
        SurveyResponse.objects.exclude(comment="")
        .select_related("survey", "customer")
        .prefetch_related("themes")
    )
    if survey_ids:
        rows = rows.filter(survey_id__in=survey_ids)
    sentiment = params.get("sentiment", "")
    if sentiment in SentimentLabel.values:
        rows = rows.filter(sentiment_label=sentiment)
    theme = params.get("theme", "")
    if theme:
        rows = rows.filter(themes__code=theme)
    return {
        "verbatims": rows.order_by("-responded_at", "-id")[:VERBATIMS],
        "themes": Theme.objects.all(),
        "sentiments": SentimentLabel.choices,
        "selected_sentiment": sentiment,
        "selected_theme": theme,
        "theme_counts": dict(Theme.objects.annotate(n=Count("responses")).values_list("code", "n")),
    }


def segment_behaviour() -> dict[str, dict]:
    """Per segment slug: members, complaint rate and repeat-purchase rate over the last year.

    One grouped query; each rate is the share of current members (in percent).
    """
    from interactions.models import Interaction
    from segments.models import Segment

    since = timezone.now() - timedelta(days=BEHAVIOUR_DAYS)
    complainers = Interaction.objects.filter(type__in=COMPLAINT_TYPES, occurred_at__gte=since).values(
        "customer_id"
    )
    repeaters = (
        Interaction.objects.filter(type__in=PURCHASE_TYPES, occurred_at__gte=since)
        .values("customer_id")
        .annotate(orders=Count("id"))
        .filter(orders__gte=2)
        .values("customer_id")
    )
    rows = Segment.objects.annotate(
        members=Count("memberships"),
        complainers=Count("memberships", filter=Q(memberships__customer_id__in=complainers)),
        repeaters=Count("memberships", filter=Q(memberships__customer_id__in=repeaters)),
    ).values_list("slug", "members", "complainers", "repeaters")
    return {
        slug: {
            "members": members,
            "complaint_rate": complained / members * 100 if members else None,
            "repeat_purchase_rate": repeated / members * 100 if members else None,
        }
        for slug, members, complained, repeated in rows
    }


def channels_context(params, since, until) -> dict:
    """The channel efficacy section: the figures per channel and three bar charts."""
    from segments.models import Segment

    segment = params.get("segment", "")
    segments = list(Segment.objects.order_by("name").values_list("slug", "name"))
    errors = {}
    if segment and segment not in {slug for slug, _ in segments}:
        # As the API answers 400: say so on the form rather than show everyone's figures as if filtered.
        errors["segment"] = f"There is no segment {segment!r}; choose one from the list."
        used = []
    else:
        rows = channel_efficacy.channel_efficacy(since=since, until=until, segment=segment or None)
        used = [row for row in rows if row["interactions"] or row["csat_n"] or row["nps_n"]]
    return {
        "channel_rows": used,
        "channel_segments": segments,
        "selected_segment": segment,
        "channel_errors": errors,
        "channel_cost_chart": charts.bars_svg(
            [(row["name"], row["cost"]) for row in used],
            label="Cost per channel",
            axis_title="Cost of the interactions in the period",
        ),
        "channel_fcr_chart": charts.bars_svg(
            [(row["name"], row["first_contact_resolution"]) for row in used],
            label="First-contact resolution per channel",
            axis_title="First-contact resolution (% of inbound with an outcome)",
            high=100,
            unit="%",
        ),
        "channel_handle_chart": charts.bars_svg(
            [(row["name"], row["median_handle_seconds"]) for row in used],
            label="Median handle time per channel",
            axis_title="Median handle time (seconds, inbound)",
            unit=" s",
        ),
    }
