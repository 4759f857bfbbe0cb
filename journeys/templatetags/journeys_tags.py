from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration_human(value) -> str:
    """Seconds (or a timedelta) as "3d 4h", "2h 5m", "40s"; an em dash when unknown."""
    if value is None or value == "":
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


@register.filter
def percent(value) -> str:
    return "—" if value is None else f"{value:g}%"
