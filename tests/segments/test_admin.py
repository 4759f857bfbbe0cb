import pytest
from django.urls import reverse

from segments.models import Refresh, Segment, SegmentKind, SegmentRun
from tests.factories import CustomerFactory


@pytest.mark.django_db
def test_marketer_sees_builder_with_preview_script(marketer_client):
    response = marketer_client.get(reverse("admin:segments_segment_add"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "segments/builder.js" in html and 'class="segment-builder"' in html
    assert reverse("segment-preview") in html


@pytest.mark.django_db
def test_marketer_saves_valid_segment_and_gets_inline_error_for_invalid_rule(marketer_client, marketer_user):
    url = reverse("admin:segments_segment_add")
    data = {
        "name": "Gold",
        "slug": "gold",
        "description": "",
        "purpose": "up_sell",
        "kind": "dynamic",
        "parent": "",
        "refresh": "manual",
        "rules": '{"all": [{"attr": "attributes.plan", "op": "bad"}]}',
    }
    response = marketer_client.post(url, data)
    assert response.status_code == 200
    assert "rules.all[0].op" in response.content.decode()
    assert not Segment.objects.exists()

    data["rules"] = '{"attr": "attributes.plan", "op": "eq", "value": "gold"}'
    response = marketer_client.post(url, data)
    assert response.status_code == 302
    segment = Segment.objects.get(slug="gold")
    assert segment.owner == marketer_user and segment.rules["value"] == "gold"


@pytest.mark.django_db
def test_admin_recompute_and_freeze_buttons(
    marketer_client, celery_eager, django_capture_on_commit_callbacks
):
    CustomerFactory(attributes={"plan": "gold"})
    segment = Segment.objects.create(
        slug="gold",
        name="Gold",
        rules={"attr": "attributes.plan", "op": "eq", "value": "gold"},
        refresh=Refresh.MANUAL,
    )
    change = marketer_client.get(reverse("admin:segments_segment_change", args=[segment.pk])).content.decode()
    assert "Recompute now" in change and "Freeze as static list" in change and "members.csv" in change
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(reverse("admin:segments_segment_recompute", args=[segment.pk]))
    assert response.status_code == 302
    assert SegmentRun.objects.get(segment=segment).status == "succeeded"
    response = marketer_client.post(reverse("admin:segments_segment_freeze", args=[segment.pk]))
    frozen = Segment.objects.get(kind=SegmentKind.STATIC)
    assert response.status_code == 302 and frozen.member_count == 1


@pytest.mark.django_db
def test_session_user_can_preview_with_csrf(client, marketer_user):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(marketer_user)
    csrf_client.get(reverse("admin:segments_segment_add"))
    token = csrf_client.cookies["csrftoken"].value
    body = '{"rules": {"attr": "lifecycle_stage", "op": "eq", "value": "lead"}}'
    denied = csrf_client.post(reverse("segment-preview"), body, content_type="application/json")
    assert denied.status_code == 403
    ok = csrf_client.post(
        reverse("segment-preview"), body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert ok.status_code == 200 and "count" in ok.json()


@pytest.mark.django_db
def test_agent_cannot_use_the_admin_builder(agent_client):
    response = agent_client.get(reverse("admin:segments_segment_add"))
    assert response.status_code in (302, 403)


@pytest.mark.django_db
def test_builder_offers_segments_and_business_units_by_name(marketer_client):
    import html as html_lib
    import json

    from tests.factories import BusinessUnitFactory

    Segment.objects.create(slug="b-slug", name="Zebra buyers", rules={})
    Segment.objects.create(slug="z-slug", name="Apple fans", rules={})
    BusinessUnitFactory(code="aaa", name="Telecom")
    BusinessUnitFactory(code="zzz", name="Retail")
    page = marketer_client.get(reverse("admin:segments_segment_add")).content.decode()
    raw = page.split('data-options="', 1)[1].split('"', 1)[0]
    options = json.loads(html_lib.unescape(raw))
    assert [s["name"] for s in options["segments"]] == ["Apple fans", "Zebra buyers"]
    assert [b["code"] for b in options["business_units"]] == ["zzz", "aaa"]
    assert {"code": "email", "name": "Email"} in options["channels"]
    assert ["marketing", "Marketing"] in options["purposes"]
