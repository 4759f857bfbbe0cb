"""Demo voice of the customer: three surveys and a few hundred answers, worse where customers complained."""

import random
from datetime import timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from customers.models import Consent, Customer
from cxhub.db import bulk_write
from interactions.models import Channel, Direction, Interaction

from . import verbatims
from .models import CaseStatus, FollowUpCase, Survey, SurveyResponse, Theme
from .services import create_survey, invite_customer, rebuild_all
from .services.linking import SOURCE

RESPONSES = 420
# (username, first name, last name, role): the people who handle the demo contacts.
DEMO_AGENTS = (
    ("agent", "Alex", "Morgan", "Agent"),
    ("priya", "Priya", "Shah", "Agent"),
    ("tom", "Tom", "Berg", "Agent"),
    ("lead", "Lee", "Carter", "Team lead"),
)
HANDLED_TYPES = ("call", "query", "complaint")


def _agents_at_work(*, rng: random.Random, stdout) -> None:
    """Demo agents (no password until ``ensure_admin``) handle the inbound calls, queries and
    complaints (with a handle time) and hold some of the open journey exceptions."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from journeys.models import JourneyException

    if Interaction.objects.filter(agent__isnull=False).exists():
        stdout.write("  agents already at work, skipped")
        return
    agents = []
    for username, first, last, role in DEMO_AGENTS:
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        group = Group.objects.filter(name=role).first()
        if group:
            user.groups.add(group)
        if role == "Agent":
            agents.append(user)
    handled = list(
        Interaction.objects.filter(direction=Direction.INBOUND, type__in=HANDLED_TYPES)
        .only("pk")
        .order_by("pk")
    )
    for row in handled:
        row.agent = rng.choice(agents)
        row.duration_seconds = int(rng.lognormvariate(5.4, 0.6))  # median ≈ 220 s
    bulk_write(handled, ["agent", "duration_seconds"])
    waiting = list(JourneyException.objects.filter(resolved_at__isnull=True).order_by("due_at", "pk"))
    now = timezone.now()
    for exception in waiting[: len(waiting) // 2]:
        exception.assigned_to, exception.assigned_at = rng.choice(agents), now
    bulk_write(waiting, ["assigned_to", "assigned_at"])
    stdout.write(
        f"  {len(agents)} agents handled {len(handled)} contacts; {len(waiting) // 2} of "
        f"{len(waiting)} open exceptions assigned"
    )


SURVEYS = (
    # name, kind, question, channel, touchpoint, trigger type, trigger outcome
    (
        "Relationship NPS",
        "nps",
        "How likely are you to recommend us to a friend or colleague?",
        "email",
        "",
        "",
        "",
    ),
    (
        "Support effort",
        "ces",
        "How easy was it to get your question answered?",
        "chat",
        "support",
        "query",
        "resolved",
    ),
    (
        "Order satisfaction",
        "csat",
        "How satisfied are you with your order?",
        "web",
        "checkout",
        "order_placed",
        "",
    ),
)
GOOD = (
    "Friendly staff and quick delivery, thank you!",
    "Great value for money, I will buy again.",
    "The app is easy to use and checkout was fast.",
    "Helpful agent, solved my problem in minutes.",
    "Excellent product quality, works well.",
    "",
    "",
)
MIXED = (
    "Delivery was fine but the tracking page was confusing.",
    "Decent price, the website could be faster.",
    "OK overall, the invoice was hard to read.",
    "",
)
BAD = (
    "The delivery was late twice and nobody called me back.",
    "I was overcharged on my bill and the refund took weeks.",
    "Rude agent on the phone, I had to explain everything three times.",
    "The app keeps crashing at login, terrible experience.",
    "Poor quality, the product arrived broken.",
    "Far too expensive for what you get.",
    "",
)


def _score(kind: str, unhappy: bool, rng: random.Random) -> int:
    if kind == "nps":
        return rng.choices(
            range(11),
            weights=(6, 4, 5, 6, 6, 7, 8, 6, 4, 2, 1) if unhappy else (1, 1, 1, 1, 1, 2, 3, 8, 12, 16, 14),
        )[0]
    if kind == "ces":
        return rng.choices(range(1, 8), weights=(1, 2, 3, 4, 6, 6, 5) if unhappy else (8, 10, 6, 3, 2, 1, 1))[
            0
        ]
    return rng.choices(range(1, 6), weights=(6, 6, 4, 2, 1) if unhappy else (1, 1, 3, 8, 10))[0]


def _comment(kind: str, score: int, rng: random.Random) -> str:
    low, high = {"nps": (6, 9), "ces": (2, 5), "csat": (2, 4)}[kind]
    poor = score >= high if kind == "ces" else score <= low
    good = score <= low if kind == "ces" else score >= high
    return rng.choice(BAD if poor else GOOD if good else MIXED)


@transaction.atomic
def seed(*, rng: random.Random, stdout) -> None:
    _agents_at_work(rng=rng, stdout=stdout)
    if Survey.objects.exists():
        stdout.write("  surveys already present, skipped")
        return
    customers = list(Customer.objects.filter(merged_into__isnull=True).prefetch_related("business_units"))
    if not customers:
        stdout.write("  no customers, skipped")
        return
    surveys = [
        create_survey(
            name=name,
            kind=kind,
            question=question,
            channel=channel,
            touchpoint=touchpoint,
            trigger_interaction_type=trigger,
            trigger_outcome=outcome,
            reminder_after_days=3,
        )
        for name, kind, question, channel, touchpoint, trigger, outcome in SURVEYS
    ]
    complaints = dict(
        Interaction.objects.filter(type="complaint").values_list("customer_id").annotate(n=Count("id"))
    )
    channels = {c.code: c for c in Channel.objects.all()}
    taxonomy = verbatims.current_taxonomy()
    themes = {t.code: t for t in Theme.objects.all()}
    now = timezone.now()
    responses, theme_codes = [], []
    for n in range(RESPONSES):
        survey = surveys[n % len(surveys)]
        customer = rng.choice(customers)
        unhappy = complaints.get(customer.pk, 0) > 0 and rng.random() < 0.8
        score = _score(survey.kind, unhappy, rng)
        comment = _comment(survey.kind, score, rng)
        sentiment = verbatims.sentiment_of(comment)
        units = list(customer.business_units.all())
        responses.append(
            SurveyResponse(
                survey=survey,
                kind=survey.kind,
                customer=customer,
                score=score,
                comment=comment,
                responded_at=now - timedelta(days=rng.uniform(0, 360)),
                external_id=f"demo-{n}",
                source="demo",
                channel=channels[rng.choice((survey.channel.code, survey.channel.code, "phone", "email"))],
                touchpoint=survey.touchpoint,
                business_unit=units[0] if units else None,
                sentiment=sentiment.compound if sentiment else None,
                sentiment_label=sentiment.label if sentiment else "",
            )
        )
        theme_codes.append(verbatims.themes_in(comment, taxonomy))
    SurveyResponse.objects.bulk_create(responses)
    responses = list(SurveyResponse.objects.filter(source="demo").select_related("survey"))
    by_external = {r.external_id: r for r in responses}
    ordered = [by_external[f"demo-{n}"] for n in range(RESPONSES)]
    SurveyResponse.themes.through.objects.bulk_create(
        [
            SurveyResponse.themes.through(surveyresponse_id=r.pk, theme_id=themes[code].pk)
            for r, codes in zip(ordered, theme_codes, strict=True)
            for code in codes
            if code in themes
        ]
    )
    _timeline(ordered)
    cases = _cases(ordered, now, rng)
    invited = _invitations(surveys[0], customers, rng)
    rebuild_all()
    stdout.write(
        f"  {len(surveys)} surveys, {len(ordered)} responses, {cases} follow-up cases, "
        f"{invited} invitations sent"
    )


def _timeline(responses: list[SurveyResponse]) -> None:
    web = Channel.objects.get(code="web")
    Interaction.objects.bulk_create(
        [
            Interaction(
                customer_id=r.customer_id,
                channel_id=r.channel_id or web.pk,
                direction=Direction.INBOUND,
                type="survey_response",
                occurred_at=r.responded_at,
                source=SOURCE,
                external_id=f"survey-response-{r.pk}",
                subject=f"{r.survey.name}: {r.score}",
                summary=r.comment,
                touchpoint=r.touchpoint,
                business_unit_id=r.business_unit_id,
                properties={"survey_id": r.survey_id, "kind": r.kind, "score": r.score, "response_id": r.pk},
            )
            for r in responses
        ],
        batch_size=1000,
    )
    ids = dict(
        Interaction.objects.filter(source=SOURCE, type="survey_response").values_list("external_id", "pk")
    )
    for r in responses:
        r.timeline_interaction_id = ids[f"survey-response-{r.pk}"]
    bulk_write(responses, ["timeline_interaction"])


def _cases(responses: list[SurveyResponse], now, rng: random.Random) -> int:
    cases = []
    for r in responses:
        if not r.survey.needs_follow_up(r.score):
            continue
        opened = r.responded_at
        due = opened + timedelta(hours=r.survey.follow_up_sla_hours)
        recent = now - opened < timedelta(days=21)
        closed = not recent or rng.random() < 0.3
        cases.append(
            FollowUpCase(
                response=r,
                customer_id=r.customer_id,
                opened_at=opened,
                due_at=due,
                is_overdue=not closed and due < now,
                status=CaseStatus.CLOSED if closed else CaseStatus.OPEN,
                closed_at=opened + timedelta(hours=rng.randint(2, 60)) if closed else None,
                outcome="Called the customer and fixed the issue" if closed else "",
                message_to_customer="We are sorry. We have fixed the problem and added a credit."
                if closed
                else "",
                message_channel="phone" if closed else "",
            )
        )
    FollowUpCase.objects.bulk_create(cases)
    return len(cases)


def _invitations(survey: Survey, customers: list[Customer], rng: random.Random) -> int:
    now = timezone.now()
    chosen = rng.sample(customers, min(30, len(customers)))
    Consent.objects.bulk_create(
        [
            Consent(
                customer=c,
                channel=c.preferred_channel or "email",
                purpose="surveys",
                granted=rng.random() < 0.7,
                source="preference_centre",
                captured_at=now - timedelta(days=30),
            )
            for c in chosen
        ]
    )
    return sum(invite_customer(survey=survey, customer=c).status == "sent" for c in chosen)
