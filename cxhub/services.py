"""Platform services: API client lifecycle."""

from dataclasses import dataclass

from django.db import transaction

from .models import ApiClient, hash_secret, validate_scopes


@dataclass(frozen=True)
class IssuedClient:
    client: ApiClient
    token: str
    write_key: str


@transaction.atomic
def create_api_client(*, name: str, scopes: list[str], tracking_namespace: str = "") -> IssuedClient:
    """Create an API client and return it with its secrets (shown once, stored hashed)."""
    validate_scopes(scopes)
    token, token_prefix = ApiClient.new_secret("cxt")
    write_key, write_key_prefix = ApiClient.new_secret("cxw")
    client = ApiClient.objects.create(
        name=name,
        scopes=sorted(set(scopes)),
        token_prefix=token_prefix,
        token_hash=hash_secret(token),
        write_key_prefix=write_key_prefix,
        write_key_hash=hash_secret(write_key),
        tracking_namespace=tracking_namespace or name,
    )
    return IssuedClient(client=client, token=token, write_key=write_key)


def rotate_api_client_secrets(*, client: ApiClient) -> IssuedClient:
    """Issue new secrets for a client; the old ones stop working at once."""
    token, token_prefix = ApiClient.new_secret("cxt")
    write_key, write_key_prefix = ApiClient.new_secret("cxw")
    client.token_prefix, client.token_hash = token_prefix, hash_secret(token)
    client.write_key_prefix, client.write_key_hash = write_key_prefix, hash_secret(write_key)
    client.save(update_fields=["token_prefix", "token_hash", "write_key_prefix", "write_key_hash"])
    return IssuedClient(client=client, token=token, write_key=write_key)
