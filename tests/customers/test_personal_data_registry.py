"""Every table that points at a customer is declared in the personal-data registry.

When this fails, the message says which model and field, and what to register where.
"""

import pytest

from customers import personal_data
from customers.personal_data import DELETE, customer_foreign_keys, uncovered_foreign_keys


def test_every_foreign_key_to_a_customer_is_declared_for_export_and_erasure():
    missing = uncovered_foreign_keys()
    assert not missing, "\n".join(["Personal data not declared:", *missing])


def test_the_walk_finds_the_known_foreign_keys():
    found = {(model._meta.label, field.name) for model, field in customer_foreign_keys()}
    for expected in [
        ("customers.Identity", "customer"),
        ("customers.Consent", "customer"),
        ("customers.MergeEvent", "survivor"),
        ("customers.MergeEvent", "merged"),
        ("customers.Customer", "merged_into"),
        ("customers.Customer_business_units", "customer"),
        ("interactions.Interaction", "customer"),
        ("segments.SegmentMembership", "customer"),
        ("metrics.SurveyResponse", "customer"),
        ("journeys.AgentTask", "customer"),
    ]:
        assert expected in found


def test_an_undeclared_model_is_reported_with_what_to_register_and_where(monkeypatch):
    registry = {
        key: spec for key, spec in personal_data._registry.items() if spec.label != "journeys.AgentTask"
    }
    monkeypatch.setattr(personal_data, "_registry", registry)
    missing = uncovered_foreign_keys()
    assert len(missing) == 1
    message = missing[0]
    assert message.startswith("journeys.AgentTask.customer points at a customer")
    assert "journeys/wiring.py connect()" in message
    assert "register_personal_data(AgentTask, section=..., " in message
    assert 'customer_field="customer"' in message


def test_anonymise_needs_the_fields_to_blank():
    from customers.models import Identity

    with pytest.raises(ValueError, match="ANONYMISE needs"):
        personal_data.register_personal_data(Identity, section="x", erase=personal_data.ANONYMISE)
    with pytest.raises(ValueError, match="erase must be one of"):
        personal_data.register_personal_data(Identity, section="x", erase="forget")
    assert personal_data.DELETE == DELETE
