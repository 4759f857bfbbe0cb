import pytest
from django.core.management import CommandError, call_command

from segments.models import Segment
from tests.factories import CustomerFactory


@pytest.mark.django_db
def test_recompute_command_reports_each_segment(capsys):
    CustomerFactory(attributes={"plan": "gold"})
    Segment.objects.create(
        slug="gold", name="Gold", rules={"attr": "attributes.plan", "op": "eq", "value": "gold"}
    )
    call_command("recompute_segments", "gold")
    out = capsys.readouterr().out
    assert "gold: 1 members (+1 / -0)" in out and "1 recomputed, 0 failed." in out


@pytest.mark.django_db
def test_recompute_command_rejects_unknown_slugs_and_ambiguous_arguments():
    with pytest.raises(CommandError):
        call_command("recompute_segments", "nope")
    with pytest.raises(CommandError):
        call_command("recompute_segments", "--all", "--due")
