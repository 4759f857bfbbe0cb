from celery import shared_task

from . import services


@shared_task(name="metrics.rebuild_rollups")
def rebuild_rollups() -> dict:
    """Nightly full rebuild of the response and segment rollups (idempotent)."""
    return services.rebuild_all()


@shared_task(name="metrics.refresh_moved_segment_rollups")
def refresh_moved_segment_rollups() -> list[int]:
    """Rebuild the rollups of the segments whose members moved since they were last built."""
    return services.refresh_moved_segments()


@shared_task(name="metrics.send_survey_reminders")
def send_survey_reminders() -> int:
    return services.send_reminders()


@shared_task(name="metrics.flag_overdue_cases")
def flag_overdue_cases() -> int:
    return services.flag_overdue_cases()
