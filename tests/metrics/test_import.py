import pytest
from django.core.management import call_command

from metrics.models import SurveyResponse
from tests.metrics.helpers import make_survey

pytestmark = pytest.mark.django_db

CSV = """external_id,score,responded_at,email,comment,channel
imp-1,10,2026-10-01T09:00:00Z,ann@example.org,Lovely staff,store
imp-2,3,2026-10-02T09:00:00Z,ben@example.org,Too expensive,web
imp-3,12,2026-10-02T09:00:00Z,ben@example.org,,web
imp-4,8,not-a-date,cy@example.org,,web
"""


def test_import_is_idempotent_and_reports_bad_rows(tmp_path, capsys):
    survey = make_survey("nps")
    path = tmp_path / "responses.csv"
    path.write_text(CSV)
    with pytest.raises(SystemExit) as exit_code:
        call_command("import_survey_responses", survey.pk, str(path))
    assert exit_code.value.code == 1
    out = capsys.readouterr()
    assert "2 created, 0 already present, 2 errors" in out.out
    assert "line 4: score" in out.err and "line 5: responded_at" in out.err
    assert set(SurveyResponse.objects.values_list("external_id", "source")) == {
        ("imp-1", "import"),
        ("imp-2", "import"),
    }
    with pytest.raises(SystemExit):
        call_command("import_survey_responses", survey.pk, str(path))
    assert "0 created, 2 already present" in capsys.readouterr().out
    assert SurveyResponse.objects.count() == 2
