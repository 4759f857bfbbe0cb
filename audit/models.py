"""The append-only audit log: who read or changed which person's data, and when.

Rows hold ids, action codes, counts and short codes only — never free text about the person —
so erasure has nothing to rewrite here and the table can refuse every UPDATE (a PostgreSQL
trigger, migration ``0001``; SQLite a trigger too). DELETE is refused as well, except the
retention purge of rows older than the retention period (see ``audit.services.purge_before``).
``customer_id`` and the actor ids carry no database foreign key on purpose: deleting a
customer, a user or an API client must never try to delete (or block on) their audit rows.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditSource(models.TextChoices):
    PAGE = "page", "Page"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    TASK = "task", "Background task"
    COMMAND = "command", "Command"


class AuditEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=64, help_text="e.g. customer.view, customer.merge, segment.update")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_client = models.ForeignKey(
        "cxhub.ApiClient",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(
        max_length=150, help_text="User name or API client name at the time; 'system' for the product."
    )
    source = models.CharField(max_length=10, choices=AuditSource.choices)
    customer_id = models.BigIntegerField(null=True, blank=True)
    object_type = models.CharField(max_length=50, blank=True, help_text="e.g. segment, campaign")
    object_id = models.CharField(max_length=64, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True, help_text="Rows read (exports).")
    detail = models.JSONField(default=dict, blank=True, help_text="Ids, counts and codes; no free text.")

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["customer_id", "-id"], name="audit_customer_idx"),
            models.Index(fields=["actor_user", "action", "-at"], name="audit_actor_user_idx"),
            models.Index(fields=["actor_label", "-id"], name="audit_actor_label_idx"),
            models.Index(fields=["action", "-id"], name="audit_action_idx"),
            models.Index(fields=["at"], name="audit_at_idx"),
        ]

    def __str__(self) -> str:
        whom = f" customer {self.customer_id}" if self.customer_id else ""
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}{whom}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditLogIsAppendOnly("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")


class AuditLogIsAppendOnly(Exception):
    pass
