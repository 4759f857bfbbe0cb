import pytest
from django.core.management import call_command
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from cxhub.models import ApiClient
from cxhub.services import create_api_client, rotate_api_client_secrets

pytestmark = pytest.mark.django_db


class ScopedProbe(APIView):
    required_scopes = {"GET": "customers:read", "POST": "customers:write"}

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        if "boom" in request.data:
            raise RuntimeError("unexpected")
        return Response({"ok": True})


class UnscopedProbe(APIView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("api/v1/probe/", ScopedProbe.as_view()),
    path("api/v1/unscoped/", UnscopedProbe.as_view()),
]
handler404 = "cxhub.views.page_not_found"
handler500 = "cxhub.views.server_error"


@pytest.fixture(autouse=True)
def probe_urls(settings):
    from cxhub import urls

    settings.ROOT_URLCONF = __name__
    urlpatterns.extend(u for u in urls.urlpatterns if u not in urlpatterns)


def test_secrets_are_stored_hashed_with_only_a_prefix_in_clear():
    issued = create_api_client(name="crm", scopes=["customers:read"])
    row = ApiClient.objects.get(pk=issued.client.pk)
    assert issued.token not in (row.token_hash, row.token_prefix)
    assert issued.token.split("_")[1] == row.token_prefix
    assert row.check_token(issued.token)
    assert not row.check_token(issued.token + "x")


def test_token_with_scope_is_allowed(api_client_with):
    response = api_client_with("customers:read").get("/api/v1/probe/")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_missing_scope_is_403_naming_the_scope(api_client_with):
    response = api_client_with("customers:read").post("/api/v1/probe/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": "Missing scope: customers:write.",
    }


def test_no_token_is_401_with_json_error():
    response = APIClient().get("/api/v1/probe/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer cxt_abcdefgh_wrong", "Bearer a b"])
def test_invalid_token_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/probe/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_revoked_and_rotated_tokens_stop_working(api_client_with):
    client = api_client_with("customers:read")
    old_token = client.token
    rotate_api_client_secrets(client=client.api_client)
    assert client.get("/api/v1/probe/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {old_token}")
    assert client.get("/api/v1/probe/").status_code == 401


def test_view_without_declared_scope_is_closed(api_client_with):
    assert api_client_with("customers:read").get("/api/v1/unscoped/").status_code == 403


def test_session_user_gets_scopes_from_role(agent_user, marketer_user):
    client = APIClient()
    client.force_login(agent_user)
    assert client.get("/api/v1/probe/").status_code == 200
    assert client.post("/api/v1/probe/", {}, format="json").status_code == 200  # agents edit customers
    client.force_login(marketer_user)
    assert client.post("/api/v1/probe/", {}, format="json").status_code == 403


def test_unhandled_error_is_json_500_without_internals(api_client_with):
    client = api_client_with("customers:write")
    client.raise_request_exception = False
    response = client.post("/api/v1/probe/", {"boom": 1}, format="json")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "server_error", "message": "Internal server error."}}


def test_malformed_json_is_400(api_client_with):
    client = api_client_with("customers:write")
    response = client.post("/api/v1/probe/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_wrong_content_type_is_415(api_client_with):
    client = api_client_with("customers:write")
    response = client.post("/api/v1/probe/", "a=1", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_unknown_api_path_is_json_404(api_client_with):
    response = api_client_with("customers:read").get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_per_client_throttle_returns_429(api_client_with):
    client = api_client_with("customers:read")
    client.api_client.throttle_rate = "2/min"
    client.api_client.save()
    codes = [client.get("/api/v1/probe/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.get("/api/v1/probe/").json()["error"]["code"] == "throttled"


def test_create_api_client_command_prints_token_and_write_key(capsys):
    call_command("create_api_client", "shop", "--scopes", "ingest:write", "customers:read")
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].removeprefix("token: ")
    assert lines[1].startswith("write_key: cxw_")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/probe/").status_code == 200
    assert ApiClient.objects.get(name="shop").scopes == ["customers:read", "ingest:write"]
