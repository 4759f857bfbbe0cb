import pytest
from django.db.models import Q
from jsonschema import Draft202012Validator

from segments import registry
from segments.compiler import segment_queryset
from segments.errors import InvalidRule
from segments.validation import validate_rules
from tests.factories import CustomerFactory


@pytest.fixture
def language_condition():
    """A condition registered the way metrics / journeys register theirs."""
    seen = {}

    def compile_(condition, ctx):
        seen["path"] = ctx.path
        return Q(language=condition["speaks"])

    registry.register_condition(
        "speaks",
        schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {"speaks": {"enum": ["en", "fr"]}},
        },
        compile=compile_,
    )
    yield seen
    registry._conditions.pop("speaks", None)


def test_served_schema_is_a_valid_json_schema_including_registered_conditions(language_condition):
    schema = registry.rule_schema()
    Draft202012Validator.check_schema(schema)
    assert {"$ref": "#/$defs/condition_speaks"} in schema["$defs"]["condition"]["oneOf"]
    assert schema["$defs"]["condition_speaks"]["required"] == ["speaks"]


@pytest.mark.django_db
def test_registered_condition_validates_and_compiles_inside_boolean_rules(language_condition):
    fr = CustomerFactory(language="fr")
    CustomerFactory(language="en")
    rule = {"all": [{"not": {"speaks": "en"}}]}
    validate_rules(rule)
    assert list(segment_queryset(rule).values_list("pk", flat=True)) == [fr.pk]
    assert language_condition["path"] == "rules.all[0].not"
    with pytest.raises(InvalidRule) as exc:
        validate_rules({"any": [{"speaks": "de"}]})
    assert exc.value.field == "rules.any[0].speaks"


def test_reserved_keys_cannot_be_registered():
    with pytest.raises(ValueError):
        registry.register_condition("all", schema={}, compile=lambda c, ctx: Q())
