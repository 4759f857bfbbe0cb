"""Small display filters for the agent pages."""

from django import template

register = template.Library()


@register.filter
def humanize_code(value: str) -> str:
    """``"store_visit"`` -> ``"Store visit"``."""
    text = str(value or "").replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]
