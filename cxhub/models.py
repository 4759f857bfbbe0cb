"""Platform tables: API clients with scoped, hashed tokens."""

import hashlib
import hmac
import secrets

from django.core.exceptions import ValidationError
from django.db import models

from .roles import SCOPES

TOKEN_PREFIX_LENGTH = 8


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_scopes(value) -> None:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValidationError("Scopes must be a list of strings.")
    unknown = sorted(set(value) - set(SCOPES))
    if unknown:
        raise ValidationError(f"Unknown scopes: {', '.join(unknown)}.")


class ApiClient(models.Model):
    """A system that calls the API: a Bearer token for /api/v1/ and a write key for /v1/ tracking.

    Only a short prefix of each secret is stored in clear (to find the row); the rest
    is kept as a SHA-256 hash, so the secret is shown once, at creation.
    """

    name = models.CharField(max_length=100, unique=True)
    scopes = models.JSONField(default=list, validators=[validate_scopes])
    token_prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, unique=True)
    token_hash = models.CharField(max_length=64)
    write_key_prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, unique=True)
    write_key_hash = models.CharField(max_length=64)
    # Namespace that tracking `userId`s belong to (an external id namespace / source system).
    tracking_namespace = models.CharField(max_length=50, blank=True)
    throttle_rate = models.CharField(
        max_length=20, blank=True, help_text="e.g. 1000/min; empty uses the default rate."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_authenticated(self) -> bool:
        return True

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @staticmethod
    def new_secret(kind: str) -> tuple[str, str]:
        """Return (secret, prefix) for a new token ("cxt") or write key ("cxw")."""
        prefix = secrets.token_hex(TOKEN_PREFIX_LENGTH // 2)
        return f"{kind}_{prefix}_{secrets.token_urlsafe(32)}", prefix

    @staticmethod
    def split_secret(secret: str) -> str | None:
        parts = secret.split("_", 2)
        if len(parts) != 3 or len(parts[1]) != TOKEN_PREFIX_LENGTH:
            return None
        return parts[1]

    def check_token(self, secret: str) -> bool:
        return hmac.compare_digest(self.token_hash, hash_secret(secret))

    def check_write_key(self, secret: str) -> bool:
        return hmac.compare_digest(self.write_key_hash, hash_secret(secret))


class ReferenceDataVersion(models.Model):
    """One row whose ``version`` database triggers move whenever a reference table changes
    (channels, business units, merge settings, identity rules, blocked values), whoever changes
    it: the admin, a queryset ``update()``, raw SQL. ``cxhub.refdata`` keeps those tables in
    memory between requests and reloads them when the version it read differs."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField()

    def __str__(self) -> str:
        return f"reference data version {self.version}"
