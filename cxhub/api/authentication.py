"""Bearer-token authentication for API clients (and HTTP Basic write keys for tracking)."""

import base64

from django.utils import timezone
from rest_framework import authentication, exceptions

from cxhub.models import ApiClient


class ApiClientUser:
    """What ``request.user`` is for a token request: no Django user, a client with scopes."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False
    pk = None
    id = None

    def __init__(self, client: ApiClient):
        self.client = client

    def __str__(self) -> str:
        return f"api-client:{self.client.name}"


def _touch(client: ApiClient) -> None:
    now = timezone.now()
    # Write at most once a minute per client: the hot ingest path must not write per request.
    if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now


def client_for_token(secret: str) -> ApiClient | None:
    prefix = ApiClient.split_secret(secret)
    if prefix is None:
        return None
    client = ApiClient.objects.filter(token_prefix=prefix, is_active=True).first()
    if client is None or not client.check_token(secret):
        return None
    return client


def client_for_write_key(secret: str) -> ApiClient | None:
    prefix = ApiClient.split_secret(secret)
    if prefix is None:
        return None
    client = ApiClient.objects.filter(write_key_prefix=prefix, is_active=True).first()
    if client is None or not client.check_write_key(secret):
        return None
    return client


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, secret = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        secret = secret.strip()
        if not secret or " " in secret:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        client = client_for_token(secret)
        if client is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        _touch(client)
        return ApiClientUser(client), client

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class WriteKeyAuthentication(authentication.BaseAuthentication):
    """HTTP Basic with the write key as user name and an empty password (tracking spec)."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, encoded = header.partition(" ")
        if keyword.lower() != "basic":
            return None
        try:
            user, _, _password = base64.b64decode(encoded.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from exc
        client = client_for_write_key(user)
        if client is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked write key.")
        _touch(client)
        return ApiClientUser(client), client

    def authenticate_header(self, request) -> str:
        return 'Basic realm="tracking"'
