from cxhub.errors import DomainError


class InvalidFitRequest(DomainError):
    """A fit request with a bad date, time unit, type list, value field, unit or option."""

    code = "invalid"
