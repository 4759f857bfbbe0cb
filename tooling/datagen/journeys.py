"""Interactions in journey shapes, and survey responses that follow the customer's experience.

Works on one customer at a time for ``generator.generate_chunk``: ``add_interactions``
appends exactly ``count`` interaction rows, ``add_responses`` answers a chunk's quota of
surveys from the moments that prompt them (deliveries, resolutions, calls, visits).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import vocab
from .draws import DAY, WINDOW_DAYS, between, choose, pick

if TYPE_CHECKING:
    from .generator import ChunkRows, Plan


@dataclass
class Experience:
    base: float
    complaints: int = 0
    escalations: int = 0
    late: int = 0
    unresolved: int = 0


SURVEY_MOMENTS = frozenset(("order_delivered", "query_resolved", "complaint_resolved", "call", "store_visit"))


def add_interactions(
    ctx, rng, rows, customer_id, person, units, count, first_id, acquired, until, exp
) -> None:
    if count == 0:
        return
    cal = ctx.calendar
    end = cal.end
    lo_day = max(0, (acquired - cal.start) // DAY)
    hi_day = max(lo_day + 1, min(WINDOW_DAYS, (until - cal.start + DAY - 1) // DAY))
    persona_index = person.persona
    episodes = ctx.episode_cumulative[persona_index]
    events: list[tuple] = []
    serial = 0
    while len(events) < count:
        kind = vocab.EPISODES[pick(rng, episodes)]
        at = cal.moment(rng, lo_day, hi_day)
        serial += 1
        # Later steps of a journey that would fall after the as-of date have not happened yet.
        events.extend(
            e for e in _episode(ctx, rng, kind, at, persona_index, customer_id, serial, exp) if e[0] < end
        )
    del events[count:]
    events.sort(key=lambda e: e[0])
    unit_ids = [ctx.unit_ids[u] for u in units]
    currency = ctx.units[units[0]][3]
    channel_ids = ctx.channel_ids
    ext_prefix = f"g{ctx.plan.spec.seed}-"
    add = rows.interactions.append
    for offset, (at, channel, direction, type_, agent, subject, outcome, cents, duration, props) in enumerate(
        events
    ):
        interaction_id = first_id + offset
        source = vocab.SOURCES.get(type_, vocab.DEFAULT_SOURCE)
        touchpoints = vocab.TOUCHPOINTS.get(type_, ("",))
        value = (
            None
            if cents is None
            else f"{cents // 100}.{cents % 100:02d}"
            if cents >= 0
            else f"-{-cents // 100}.{-cents % 100:02d}"
        )
        add(
            (
                interaction_id,
                customer_id,
                channel_ids[channel],
                direction,
                type_,
                at,
                at + 1 + (interaction_id % 90),
                source,
                f"{ext_prefix}{interaction_id}",
                unit_ids[interaction_id % len(unit_ids)],
                touchpoints[interaction_id % len(touchpoints)],
                agent,
                subject,
                _summary(type_, subject, outcome),
                outcome,
                value,
                currency if cents is not None else "",
                duration,
                props,
            )
        )


def _summary(type_: str, subject: str, outcome: str) -> str:
    label = type_.replace("_", " ")
    if outcome:
        return f"{subject or label.capitalize()} ({outcome})"
    return subject or label.capitalize()


def _episode(ctx, rng, kind, at, persona_index, customer_id, serial, exp) -> list[tuple]:
    """A journey shape -> rows (at, channel, direction, type, agent, subject, outcome, cents, secs, props)."""
    agents = ctx.agents
    if kind == "browse":
        channel = "mobile_app" if persona_index == 0 and rng.random() < 0.4 else "web"
        return [
            (
                at + i * between(rng, 20, 300),
                channel,
                "inbound",
                "page_view",
                None,
                "",
                "",
                None,
                None,
                {"path": choose(rng, vocab.PAGES)},
            )
            for i in range(1 + int(rng.random() * 4))
        ]
    if kind == "app_session":
        return [(at, "mobile_app", "inbound", "app_session", None, "", "", None, between(rng, 20, 900), {})]
    if kind == "marketing":
        sms = rng.random() < 0.25
        channel, type_ = ("sms", "sms_sent") if sms else ("email", "email_sent")
        campaign = f"C{(at // (7 * DAY)) % 1000:03d}"
        out = [
            (
                at,
                channel,
                "outbound",
                type_,
                None,
                "Offer of the week" if not sms else "Offer",
                "",
                None,
                None,
                {"campaign": campaign},
            )
        ]
        if not sms and rng.random() < 0.35:
            out.append(
                (
                    at + between(rng, 600, 2 * DAY),
                    "email",
                    "inbound",
                    "email_opened",
                    None,
                    "",
                    "",
                    None,
                    None,
                    {"campaign": campaign},
                )
            )
            if rng.random() < 0.3:
                out.append(
                    (
                        out[-1][0] + between(rng, 5, 600),
                        "email",
                        "inbound",
                        "email_clicked",
                        None,
                        "",
                        "",
                        None,
                        None,
                        {"campaign": campaign},
                    )
                )
        return out
    if kind in ("order", "store_visit"):
        out = []
        if kind == "store_visit":
            out.append(
                (at, "store", "inbound", "store_visit", None, "", "", None, between(rng, 300, 3600), {})
            )
            if rng.random() > 0.3:
                return out
            channel = "store"
            at += between(rng, 120, 1800)
        else:
            names, cumulative = ctx.orders[persona_index]
            channel = names[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
        cents = max(199, int(rng.lognormvariate(8.3, 0.8)))  # median about 40.00
        order_id = f"O{customer_id}-{serial}"
        props = {"order_id": order_id, "items": 1 + int(rng.expovariate(0.7))}
        out.append(
            (at, channel, "inbound", "order_placed", None, f"Order {order_id}", "", cents, None, props)
        )
        if channel != "store":
            shipped = at + between(rng, 3600, 2 * DAY)
            out.append(
                (
                    shipped,
                    "email",
                    "outbound",
                    "order_shipped",
                    None,
                    f"Order {order_id} shipped",
                    "",
                    None,
                    None,
                    {"order_id": order_id},
                )
            )
            late = rng.random() < 0.08
            exp.late += late
            delivered = shipped + (between(rng, 6, 12) if late else between(rng, 1, 4)) * DAY
            out.append(
                (
                    delivered,
                    "sms",
                    "outbound",
                    "order_delivered",
                    None,
                    f"Order {order_id} delivered",
                    "late" if late else "on_time",
                    None,
                    None,
                    {"order_id": order_id, "late": late},
                )
            )
            at = delivered
        if rng.random() < 0.06:
            out.append(
                (
                    at + between(rng, 3, 20) * DAY,
                    "store" if channel == "store" else "web",
                    "inbound",
                    "order_returned",
                    None,
                    f"Return of {order_id}",
                    "refunded",
                    -cents,
                    None,
                    {"order_id": order_id},
                )
            )
        return out
    if kind == "call":
        topic = choose(rng, vocab.QUERY_TOPICS)
        outcome = choose(rng, ("resolved", "resolved", "resolved", "callback", "escalated"))
        exp.escalations += outcome == "escalated"
        return [
            (
                at,
                "phone",
                "inbound",
                "call",
                choose(rng, agents),
                f"Call about {topic}",
                outcome,
                None,
                between(rng, 60, 1800),
                {"topic": topic},
            )
        ]
    names, cumulative = ctx.service[persona_index]
    channel = names[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
    agent = choose(rng, agents)
    if kind == "query":
        topic = choose(rng, vocab.QUERY_TOPICS)
        outcome = rng.choices(("resolved", "escalated", "pending"), (85, 10, 5))[0]
        exp.escalations += outcome == "escalated"
        exp.unresolved += outcome == "pending"
        subject = f"Question about {topic}"
        out = [(at, channel, "inbound", "query", None, subject, "", None, None, {"topic": topic})]
        reply = at + between(rng, 120, DAY)
        out.append((reply, channel, "outbound", "reply", agent, subject, "", None, None, {"topic": topic}))
        if outcome != "pending":
            out.append(
                (
                    reply + between(rng, 60, 3 * DAY),
                    channel,
                    "outbound",
                    "query_resolved",
                    agent,
                    subject,
                    outcome,
                    None,
                    None,
                    {"topic": topic},
                )
            )
        return out
    # complaint
    channel = choose(rng, (channel, "phone", "letter", "social"))
    theme = choose(rng, vocab.COMPLAINT_THEMES)
    outcome = rng.choices(("resolved", "escalated", "pending"), (70, 20, 10))[0]
    exp.complaints += 1
    exp.escalations += outcome == "escalated"
    exp.unresolved += outcome == "pending"
    subject = f"Complaint about {theme}"
    out = [(at, channel, "inbound", "complaint", None, subject, "", None, None, {"theme": theme})]
    ack = at + between(rng, 600, DAY)
    out.append(
        (ack, "email", "outbound", "complaint_acknowledged", agent, subject, "", None, None, {"theme": theme})
    )
    if outcome != "pending":
        out.append(
            (
                ack + between(rng, 1, 20) * DAY,
                "phone",
                "outbound",
                "complaint_resolved",
                agent,
                subject,
                outcome,
                None,
                between(rng, 120, 1500),
                {"theme": theme},
            )
        )
    return out


def add_responses(plan: Plan, ctx, rng, rows: ChunkRows, index: int, moments: list[tuple]) -> None:
    quota = plan.chunk_response_quota[index] if plan.chunk_response_quota else 0
    if not quota or not moments:
        return
    surveys = plan.reference.surveys
    by_trigger = {trigger: (sid, kind) for sid, kind, trigger in surveys}
    first_id = plan.response_id_base + sum(plan.chunk_response_quota[:index])
    picks = (
        rng.sample(moments, quota) if quota <= len(moments) else [choose(rng, moments) for _ in range(quota)]
    )
    picks.sort(key=lambda m: m[0][0])
    end = ctx.calendar.end
    analysis = plan.reference.verbatims
    for offset, (row, exp) in enumerate(picks):
        survey_id, kind = by_trigger.get(row[4]) or surveys[offset % len(surveys)][:2]
        base = exp.base - 2.2 * min(exp.complaints, 2) - 1.2 * exp.escalations - 1.0 * exp.late
        base -= 1.5 * exp.unresolved
        if row[14] == "escalated":
            base -= 2.0
        nps = max(0, min(10, round(rng.gauss(base, 1.8))))
        score = _scale(kind, nps, rng)
        band = "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
        comment = choose(rng, vocab.VERBATIMS[band]) if rng.random() < 0.6 else ""
        responded = min(row[5] + between(rng, 600, 3 * DAY), end - 1)
        response_id = first_id + offset
        sentiment, label, themes = analysis.get(comment, (None, "", ()))
        for theme_id in themes:
            rows.response_themes.append((response_id, theme_id))
        rows.responses.append(
            (
                response_id,
                survey_id,
                kind,
                row[1],
                score,
                comment,
                responded,
                responded + 5,
                f"g{plan.spec.seed}-r{response_id}",
                "import",
                row[2],
                row[10],
                row[9],
                row[0],
                sentiment,
                label,
            )
        )


def _scale(kind: str, nps: int, rng) -> int:
    """Map the latent 0-10 experience onto the survey's own scale."""
    if kind == "ces":  # 1 (easy) .. 7 (hard): effort rises as experience falls
        return max(1, min(7, 7 - round(nps * 0.6) + choose(rng, (-1, 0, 0, 1))))
    if kind == "csat":
        return max(1, min(5, round(nps / 2.2) + choose(rng, (0, 0, 1))))
    return nps
