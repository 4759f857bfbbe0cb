"""Domain errors of the customers app (mapped to 4xx JSON by the API layer)."""

from cxhub.errors import Conflict, DomainError, NotFound

from .identities import InvalidIdentity

__all__ = [
    "AlreadyMerged",
    "CannotUnmerge",
    "CustomerNotFound",
    "InvalidConsent",
    "InvalidIdentity",
    "MergeNotAllowed",
]


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class MergeNotAllowed(DomainError):
    code = "merge_not_allowed"


class AlreadyMerged(Conflict):
    code = "already_merged"


class CannotUnmerge(Conflict):
    code = "cannot_unmerge"


class InvalidConsent(DomainError):
    code = "invalid_consent"
