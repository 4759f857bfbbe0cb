from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Cursor pages: stable under inserts, constant cost however deep the client pages."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "-id"
