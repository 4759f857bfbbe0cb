"""Message templates: ``{first_name}``-style placeholders, HTML escaped in the HTML part."""

from django.utils.html import escape, linebreaks

from customers.models import Customer


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def placeholders(customer: Customer, extra: dict | None = None) -> dict:
    values = {"first_name": customer.first_name, "last_name": customer.last_name}
    values.update(extra or {})
    return values


def render_text(template: str, values: dict) -> str:
    try:
        return template.format_map(_Blank(values))
    except (ValueError, IndexError, AttributeError):  # a stray brace in an edited text: send it as written
        return template


def render_html(template: str, text: str, values: dict) -> str:
    """The HTML part: the HTML template with escaped values, else the text as paragraphs."""
    if template:
        return render_text(template, {key: escape(value) for key, value in values.items()})
    return linebreaks(escape(text))
