"""Domain errors of outbound messaging (mapped to 4xx JSON by the API layer)."""

from cxhub.errors import DomainError


class InvalidMessage(DomainError):
    code = "invalid_message"


class InvalidCampaign(DomainError):
    code = "invalid_campaign"


class InvalidSignature(DomainError):
    code = "invalid_signature"
    status = 403


class InvalidToken(DomainError):
    code = "invalid_token"
    status = 404
