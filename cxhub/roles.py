"""Roles (Agent, Team lead, Marketer, Admin): their Django permissions and API scopes.

A role is a Django group. Pages check roles with ``role_required``; the API
checks scopes, and a logged-in user's scopes derive from their roles, so one
table below decides what each role may do everywhere.
"""

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied

AGENT = "Agent"
TEAM_LEAD = "Team lead"
MARKETER = "Marketer"
ADMIN = "Admin"
ROLES = (AGENT, TEAM_LEAD, MARKETER, ADMIN)

# Who works the service queues (360 page, logging, exceptions, follow-up cases).
SERVICE_ROLES = (AGENT, TEAM_LEAD, ADMIN)
# Who sees how the agents and the team perform.
SUPERVISOR_ROLES = (TEAM_LEAD, ADMIN)

SCOPES = (
    "ingest:write",
    "customers:read",
    "customers:write",
    "segments:read",
    "segments:write",
    "metrics:read",
    "metrics:write",
    "journeys:read",
    "journeys:write",
    "cases:read",
    "cases:write",
    "messages:read",
    "messages:write",
    "campaigns:read",
    "campaigns:write",
    "privacy:admin",
)

ROLE_SCOPES: dict[str, set[str]] = {
    AGENT: {
        "customers:read",
        "customers:write",
        "ingest:write",
        "segments:read",
        "metrics:read",
        "journeys:read",
        "cases:read",
        "cases:write",
        "messages:read",
    },
    # A team lead does what an agent does, assigns and resolves the team's exceptions
    # and reads the agents' metrics.
    TEAM_LEAD: {
        "customers:read",
        "customers:write",
        "ingest:write",
        "segments:read",
        "metrics:read",
        "journeys:read",
        "journeys:write",
        "cases:read",
        "cases:write",
        "messages:read",
    },
    MARKETER: {
        "customers:read",
        "segments:read",
        "segments:write",
        "metrics:read",
        "metrics:write",
        "journeys:read",
        "journeys:write",
        "messages:read",
        "messages:write",
        "campaigns:read",
        "campaigns:write",
    },
    ADMIN: set(SCOPES),
}

# Model permissions per role, as "app_label.action_model"; "*" for an app means all its models.
ROLE_PERMISSIONS: dict[str, dict[str, Iterable[str]]] = {
    AGENT: {
        "customers": ("view", "change"),
        "interactions": ("view", "add"),
        "journeys": ("view",),
        "segments": ("view",),
        "metrics": ("view",),
        "outreach": ("view",),
        "scoring": ("view",),
    },
    TEAM_LEAD: {
        "customers": ("view", "change"),
        "interactions": ("view", "add"),
        "journeys": ("view", "change"),
        "segments": ("view",),
        "metrics": ("view", "change"),
        "outreach": ("view",),
        "scoring": ("view",),
    },
    MARKETER: {
        "customers": ("view",),
        "interactions": ("view",),
        "journeys": ("view", "add", "change", "delete"),
        "segments": ("view", "add", "change", "delete"),
        "metrics": ("view", "add", "change", "delete"),
        "outreach": ("view", "add", "change", "delete"),
        "scoring": ("view",),
    },
    ADMIN: dict.fromkeys(
        ("customers", "interactions", "journeys", "segments", "metrics", "outreach", "scoring")
        + ("cxhub", "auth", "django_celery_beat"),
        ("view", "add", "change", "delete"),
    )
    | {"audit": ("view",)},
}

# Roles whose members use the Django admin (marketers build segments there).
STAFF_ROLES = {MARKETER, ADMIN}


def user_roles(user) -> set[str]:
    if not user or not user.is_authenticated:
        return set()
    if user.is_superuser:
        return set(ROLES)
    if not hasattr(user, "groups"):  # an API client: scopes, no roles
        return set()
    cached = getattr(user, "_cxhub_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._cxhub_roles = cached
    return cached


def user_scopes(user) -> set[str]:
    scopes: set[str] = set()
    for role in user_roles(user):
        scopes |= ROLE_SCOPES[role]
    return scopes


def has_scope(user, scope: str) -> bool:
    return scope in user_scopes(user)


def roles_with_scope(scope: str) -> tuple[str, ...]:
    """The roles whose members hold ``scope`` (for panels and menus that follow the API's rules)."""
    return tuple(role for role in ROLES if scope in ROLE_SCOPES[role])


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles or ROLES))


class RoleDenied(PermissionDenied):
    """The signed-in user's roles do not open this page; ``allowed_roles`` are the ones that do."""

    def __init__(self, allowed_roles: Iterable[str] = ()):
        self.allowed_roles = tuple(role for role in ROLES if role in set(allowed_roles or ROLES))
        super().__init__("Your role does not allow this page.")


def role_required(*roles: str) -> Callable:
    """View decorator: the user must hold one of ``roles`` (any role when none given)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, *roles):
                raise RoleDenied(roles)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def scope_required(scope: str) -> Callable:
    """View decorator for pages that do what an API scope allows: the user's roles must grant
    ``scope``, so a page and its API endpoint can never disagree about who may act."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_scope(request.user, scope):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class RoleRequiredMixin(AccessMixin):
    """Class-based twin of ``role_required``; set ``allowed_roles``."""

    allowed_roles: tuple[str, ...] = ROLES

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not has_role(request.user, *self.allowed_roles):
            raise RoleDenied(self.allowed_roles)
        return super().dispatch(request, *args, **kwargs)


def roles_context(request) -> dict:
    roles = user_roles(getattr(request, "user", None))
    return {
        "user_roles": roles,
        "is_agent": AGENT in roles,
        "is_team_lead": TEAM_LEAD in roles,
        "is_marketer": MARKETER in roles,
        "is_cx_admin": ADMIN in roles,
        "user_scopes": {scope for role in roles for scope in ROLE_SCOPES[role]},
    }


def sync_role_permissions(sender=None, **kwargs) -> None:
    """Give each role group exactly the permissions in ROLE_PERMISSIONS (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    using = kwargs.get("using", "default")
    # Groups come from migration cxhub.0002; creating them here would clash with test
    # databases restored from their serialized state after a flush.
    groups = {g.name: g for g in Group.objects.using(using).filter(name__in=ROLES)}
    for role, apps in ROLE_PERMISSIONS.items():
        group = groups.get(role)
        if group is None:
            continue
        wanted = Permission.objects.using(using).none()
        for app_label, actions in apps.items():
            codename_prefixes = tuple(f"{action}_" for action in actions)
            perms = Permission.objects.using(using).filter(content_type__app_label=app_label)
            ids = [p.pk for p in perms if p.codename.startswith(codename_prefixes)]
            wanted = wanted | Permission.objects.using(using).filter(pk__in=ids)
        group.permissions.set(wanted)
