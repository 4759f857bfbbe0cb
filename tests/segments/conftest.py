import pytest

from segments.models import Segment


@pytest.fixture
def make_segment(db):
    def make(slug: str, rules: dict | None = None, **fields) -> Segment:
        fields.setdefault("name", slug.replace("-", " ").title())
        return Segment.objects.create(slug=slug, rules=rules or {}, **fields)

    return make
