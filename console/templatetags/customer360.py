"""Small display filters for the agent pages."""

from django import template

register = template.Library()


@register.filter
def humanize_code(value: str) -> str:
    """``"store_visit"`` -> ``"Store visit"``."""
    text = str(value or "").replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


@register.filter
def channel_label(code: str, names: dict | None) -> str:
    """A channel's display name from ``{code: name}``; the humanised code when unknown."""
    return (names or {}).get(code) or humanize_code(code)
