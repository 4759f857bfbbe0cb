"""Property: for random rules and random data, the compiled SQL returns exactly the customers
the pure-Python reference evaluator accepts (run on SQLite and, in CI, on PostgreSQL)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import BusinessUnit, Consent, Customer, Identity
from interactions.models import Interaction
from scoring.models import CustomerScore
from segments.compiler import segment_queryset
from segments.models import Segment, SegmentKind, SegmentMembership
from segments.validation import validate_rules
from tests.factories import channel

from .reference import evaluate

NOW = timezone.now().replace(microsecond=0)
STAGES = ["lead", "active", "at_risk", "lapsed"]
LANGUAGES = ["", "en", "fr"]
PLANS = ["gold", "Golden", "silver", "basic"]
TYPES = ["order_placed", "complaint", "page_view"]
CHANNELS = ["web", "email", "phone"]
CLV_VALUES = [Decimal("0.00"), Decimal("20.50"), Decimal("100.00"), Decimal("250.00")]
RISKS = [0.1, 0.5, 0.9]
RFM_CELLS = [("555", "champion"), ("131", "at_risk"), ("311", "about_to_sleep")]

days = st.integers(min_value=0, max_value=60)


def _attr_conditions():
    stage = st.builds(
        lambda op, v, vs: {"attr": "lifecycle_stage", "op": op, "value": vs if "in" in op else v},
        st.sampled_from(["eq", "ne", "in", "not_in"]),
        st.sampled_from(STAGES),
        st.lists(st.sampled_from(STAGES), min_size=1, max_size=2),
    )
    language = st.one_of(
        st.builds(lambda op: {"attr": "language", "op": op}, st.sampled_from(["is_set", "is_not_set"])),
        st.builds(lambda v: {"attr": "language", "op": "contains", "value": v}, st.sampled_from(["E", "fr"])),
    )
    seen = st.one_of(
        st.builds(
            lambda op, n: {"attr": "last_seen_at", "op": op, "value": n},
            st.sampled_from(["within_last_days", "before_last_days"]),
            days,
        ),
        st.builds(lambda op: {"attr": "last_seen_at", "op": op}, st.sampled_from(["is_set", "is_not_set"])),
        st.builds(
            lambda op, n: {
                "attr": "last_seen_at",
                "op": op,
                "value": (NOW - timedelta(days=n)).date().isoformat(),
            },
            st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
            days,
        ),
    )
    plan = st.one_of(
        st.builds(
            lambda op, v, vs: {"attr": "attributes.plan", "op": op, "value": vs if "in" in op else v},
            st.sampled_from(["eq", "ne", "in", "not_in", "gt", "lt"]),
            st.sampled_from(PLANS),
            st.lists(st.sampled_from(PLANS), min_size=1, max_size=2),
        ),
        st.builds(
            lambda v: {"attr": "attributes.plan", "op": "contains", "value": v},
            st.sampled_from(["gold", "L"]),
        ),
        st.builds(
            lambda op: {"attr": "attributes.plan", "op": op}, st.sampled_from(["is_set", "is_not_set"])
        ),
    )
    age = st.builds(
        lambda op, v: {"attr": "attributes.age", "op": op, "value": [v] if "in" in op else v},
        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "in", "is_set"]),
        st.integers(min_value=20, max_value=40),
    ).map(lambda c: {k: v for k, v in c.items() if not (c["op"] == "is_set" and k == "value")})
    vip = st.builds(
        lambda op, v: {"attr": "attributes.vip", "op": op, "value": v},
        st.sampled_from(["eq", "ne"]),
        st.booleans(),
    )
    return st.one_of(stage, language, seen, plan, age, vip)


def _other_conditions():
    identity = st.builds(
        lambda kind, ns, op: {"identity": kind, "op": op, **({"namespace": ns} if ns else {})},
        st.sampled_from(["email", "phone", "external_id"]),
        st.sampled_from([None, "retail", "telecom"]),
        st.sampled_from(["exists", "not_exists"]),
    )
    unit = st.builds(lambda code: {"business_unit": code}, st.sampled_from(["retail", "telecom"]))
    consent = st.builds(
        lambda ch, state: {"consent": {"channel": ch, "purpose": "marketing"}, "is": state},
        st.sampled_from(["email", "sms"]),
        st.sampled_from(["granted", "withdrawn", "unknown"]),
    )
    segment = st.builds(
        lambda state: {"segment": "vip-list", "is": state}, st.sampled_from(["member", "not_member"])
    )
    spec = st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(
                st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1, max_size=2)
            ),
            "channel": st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=2),
            "direction": st.sampled_from(["inbound", "outbound"]),
            "properties": st.fixed_dictionaries({"tier": st.sampled_from(["a", "b"])}),
            "within_days": st.integers(min_value=1, max_value=60),
        },
    )
    ops = st.sampled_from(["eq", "gte", "gt", "lte", "lt"])
    events = st.builds(
        lambda spec, count, total, last: {
            "events": spec,
            **({"count": count} if count else {}),
            **({"sum": total} if total else {}),
            **({"last": last} if last else {}),
        },
        spec,
        st.one_of(st.none(), st.builds(lambda op, v: {"op": op, "value": v}, ops, st.integers(0, 3))),
        st.one_of(
            st.none(),
            st.builds(
                lambda op, v: {"field": "value", "op": op, "value": v}, ops, st.sampled_from([0, 10, 25, 40])
            ),
        ),
        st.one_of(
            st.none(),
            st.builds(
                lambda op, v: {"op": op, "value": v},
                st.sampled_from(["within_last_days", "before_last_days"]),
                days,
            ),
        ),
    )
    numeric = st.builds(
        lambda name, op, clv, risk: {
            "score": name,
            "op": op,
            **({} if op.startswith("is_") else {"value": float(clv) if name == "clv" else risk}),
        },
        st.sampled_from(["clv", "churn_risk", "p_alive", "detractor_risk"]),
        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "is_set", "is_not_set"]),
        st.sampled_from(CLV_VALUES),
        st.sampled_from(RISKS),
    )
    rfm = st.builds(
        lambda op, one, many: {"score": "rfm", "op": op, "value": many if op.endswith("in") else one},
        st.sampled_from(["eq", "ne", "in", "not_in"]),
        st.sampled_from([c for cell in RFM_CELLS for c in cell]),
        st.lists(st.sampled_from([c for cell in RFM_CELLS for c in cell]), min_size=1, max_size=2),
    )
    return st.one_of(identity, unit, consent, segment, events, numeric, rfm)


conditions = st.one_of(_attr_conditions(), _other_conditions())
rules = st.recursive(
    conditions,
    lambda children: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, children),
    ),
    max_leaves=5,
)

customer_data = st.fixed_dictionaries(
    {
        "lifecycle_stage": st.sampled_from(STAGES),
        "language": st.sampled_from(LANGUAGES),
        "last_seen_days": st.one_of(st.none(), st.integers(0, 70)),
        "attributes": st.fixed_dictionaries(
            {},
            optional={
                "plan": st.one_of(st.none(), st.sampled_from(PLANS)),
                "age": st.integers(20, 40),
                "vip": st.booleans(),
            },
        ),
        "identities": st.lists(
            st.sampled_from(
                [("email", ""), ("phone", ""), ("external_id", "retail"), ("external_id", "telecom")]
            ),
            max_size=3,
            unique=True,
        ),
        "business_units": st.lists(st.sampled_from(["retail", "telecom"]), max_size=2, unique=True),
        "consents": st.lists(
            st.tuples(st.sampled_from(["email", "sms"]), st.integers(0, 3), st.booleans()), max_size=3
        ),
        "events": st.lists(
            st.tuples(
                st.sampled_from(TYPES),
                st.sampled_from(CHANNELS),
                st.sampled_from(["inbound", "outbound"]),
                st.sampled_from([{}, {"tier": "a"}, {"tier": "b"}]),
                st.integers(0, 70),
                st.one_of(st.none(), st.sampled_from([Decimal(5), Decimal(10), Decimal(20)])),
            ),
            max_size=4,
        ),
        "vip_member": st.booleans(),
        "merged": st.booleans(),
        # None: never scored; inside, None: a score that does not apply (e.g. never bought).
        "scores": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "clv": st.one_of(st.none(), st.sampled_from(CLV_VALUES)),
                    "churn_risk": st.one_of(st.none(), st.sampled_from(RISKS)),
                    "p_alive": st.one_of(st.none(), st.sampled_from(RISKS)),
                    "detractor_risk": st.one_of(st.none(), st.sampled_from(RISKS)),
                    "rfm": st.one_of(st.just(("", "")), st.sampled_from(RFM_CELLS)),
                }
            ),
        ),
    }
)


def _load(people: list[dict]) -> list[dict]:
    """Write the generated people to the database; return the facts the reference evaluator reads."""
    units = {
        code: BusinessUnit.objects.get_or_create(code=code, defaults={"name": code})[0]
        for code in ("retail", "telecom")
    }
    channels = {code: channel(code) for code in CHANNELS}
    vip = Segment.objects.create(slug="vip-list", name="VIP list", kind=SegmentKind.STATIC)
    facts = []
    survivor = None
    for index, person in enumerate(people):
        seen = (
            NOW - timedelta(days=person["last_seen_days"], hours=index)
            if person["last_seen_days"] is not None
            else None
        )
        customer = Customer.objects.create(
            lifecycle_stage=person["lifecycle_stage"],
            language=person["language"],
            last_seen_at=seen,
            attributes=person["attributes"],
            merged_into=survivor if person["merged"] and survivor else None,
        )
        survivor = survivor or customer
        for kind, namespace in person["identities"]:
            Identity.objects.create(
                customer=customer, kind=kind, namespace=namespace, value=f"{kind}-{index}-{namespace}"
            )
        customer.business_units.set([units[c] for c in person["business_units"]])
        consents = []
        for order, (ch, day, granted) in enumerate(person["consents"]):
            at = NOW - timedelta(days=10 - day)
            Consent.objects.create(
                customer=customer, channel=ch, purpose="marketing", granted=granted, captured_at=at
            )
            consents.append(
                {"channel": ch, "purpose": "marketing", "granted": granted, "captured_at": at, "order": order}
            )
        events = []
        for n, (type_, ch, direction, props, day, value) in enumerate(person["events"]):
            at = NOW - timedelta(days=day, minutes=n)
            Interaction.objects.create(
                customer=customer,
                channel=channels[ch],
                direction=direction,
                type=type_,
                occurred_at=at,
                properties=props,
                value=value,
            )
            events.append(
                {
                    "type": type_,
                    "channel": ch,
                    "direction": direction,
                    "properties": props,
                    "occurred_at": at,
                    "value": value,
                }
            )
        if person["vip_member"]:
            SegmentMembership.objects.create(segment=vip, customer=customer, since=NOW)
        scores = None
        if person["scores"] is not None:
            code, label = person["scores"]["rfm"]
            scores = {
                **{k: v for k, v in person["scores"].items() if k != "rfm"},
                "rfm_code": code,
                "rfm_label": label,
            }
            CustomerScore.objects.create(customer=customer, as_of=NOW, scored_at=NOW, **scores)
        facts.append(
            {
                "id": customer.pk,
                "merged": customer.merged_into_id is not None,
                "lifecycle_stage": customer.lifecycle_stage,
                "language": customer.language,
                "last_seen_at": seen,
                "created_at": customer.created_at,
                "updated_at": customer.updated_at,
                "attributes": person["attributes"],
                "identities": person["identities"],
                "business_units": set(person["business_units"]),
                "consents": consents,
                "events": events,
                "segments": {"vip-list"} if person["vip_member"] else set(),
                "scores": scores,
            }
        )
    return facts


class _Rollback(Exception):
    pass


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rule=rules, people=st.lists(customer_data, min_size=1, max_size=6))
def test_compiled_rule_matches_reference_evaluator(rule, people):
    validate_rules(rule)
    try:
        with transaction.atomic():
            facts = _load(people)
            got = set(segment_queryset(rule, now=NOW).values_list("pk", flat=True))
            expected = {f["id"] for f in facts if not f["merged"] and evaluate(rule, f, NOW)}
            assert got == expected, (rule, [f for f in facts if (f["id"] in got) != (f["id"] in expected)])
            # Incremental refresh compiles with the re-evaluated ids pushed into subqueries.
            some = [f["id"] for f in facts[::2]]
            partial = set(segment_queryset(rule, now=NOW, customer_ids=some).values_list("pk", flat=True))
            assert partial == expected & set(some), rule
            raise _Rollback
    except _Rollback:
        pass


def test_the_attr_schema_lists_exactly_the_customer_profile_fields_conditions_accept():
    import json
    from pathlib import Path

    from segments import conditions

    schema = json.loads((Path(conditions.__file__).parent / "rule_schema.json").read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "attr" in node.get("properties", {}):
                found.extend(node["properties"]["attr"]["oneOf"][0]["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert found == [*conditions.TEXT_FIELDS, *conditions.DATETIME_FIELDS]
