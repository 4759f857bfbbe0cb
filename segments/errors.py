from cxhub.errors import Conflict, DomainError


class InvalidRule(DomainError):
    """A rule that does not match the schema or refers to something that does not exist."""

    code = "invalid_rule"


class SegmentCycle(InvalidRule):
    code = "segment_cycle"


class RecomputeNotAllowed(Conflict):
    code = "not_recomputable"
