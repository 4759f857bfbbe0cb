from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import connection, models
from rest_framework import exceptions, pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pages: stable under inserts, constant cost however deep the client pages.

    A cursor the client changed or made up is a 400 naming ``cursor``: its position is checked
    against the ordering column's type and range before it reaches a query.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"
    invalid_cursor_message = "Invalid cursor."

    def paginate_queryset(self, queryset, request, view=None):
        self._model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
            self._invalid()
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _invalid(self):
        raise exceptions.ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})

    def _check_position(self, position: str) -> None:
        if "\x00" in position:
            self._invalid()
        ordering = self.ordering if isinstance(self.ordering, list | tuple) else (self.ordering,)
        name = ordering[0].lstrip("-")
        try:
            field = self._model._meta.get_field(name) if self._model is not None else None
        except FieldDoesNotExist:
            field = None
        if field is None:
            return
        try:
            value = field.to_python(position)
        except (ValidationError, ValueError, TypeError, OverflowError):
            self._invalid()
        if isinstance(field, models.IntegerField | models.AutoField):
            low, high = connection.ops.integer_field_range(field.get_internal_type())
            if (low is not None and value < low) or (high is not None and value > high):
                self._invalid()
        elif isinstance(field, models.DateTimeField) and value is not None and not 1 <= value.year <= 9998:
            self._invalid()


def list_parameters(*extra):
    """OpenAPI parameters of a cursor-paginated list (for list views drf-spectacular cannot see)."""
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter

    return [
        OpenApiParameter(
            "cursor", OpenApiTypes.STR, description="The cursor of the page (from next/previous)."
        ),
        OpenApiParameter("page_size", OpenApiTypes.INT, description="Items per page, up to 500."),
        *extra,
    ]
