"""Everything that writes in the journeys app; views, tasks, admin and commands call these."""

from .actions import assign_exceptions, complete_agent_task, resolve_exception, resolve_exceptions
from .engine import ProcessResult, process_customers, process_interactions
from .exceptions import detect_time_exceptions
from .templates import load_journey_templates
from .webhooks import attempt_delivery, replay_delivery, sign_body

__all__ = [
    "ProcessResult",
    "assign_exceptions",
    "attempt_delivery",
    "complete_agent_task",
    "detect_time_exceptions",
    "load_journey_templates",
    "process_customers",
    "process_interactions",
    "replay_delivery",
    "resolve_exception",
    "resolve_exceptions",
    "sign_body",
]
