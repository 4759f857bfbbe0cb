"""cxhub.db.array_literal: one text parameter PostgreSQL reads back as exactly the list given."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from cxhub.db import array_literal

AWKWARD = ["plain", "", "NULL", 'say "hi"', "back\\slash", "a,b", "{braces}", " padded ", "ünïcødé", "'"]


def test_literal_quotes_every_text_element():
    assert array_literal([1, 22]) == "{1,22}"
    assert array_literal(['a"b', "c\\d"]) == '{"a\\"b","c\\\\d"}'
    assert array_literal([]) == "{}"
    # Texts needing no escape take a one-join path; its answer is the element-wise one.
    assert array_literal(["a", "", "x,y"]) == '{"a","","x,y"}'
    assert array_literal(["a", 'b"']) == '{"a","b\\""}'
    assert array_literal(["a", 1]) == '{"a",1}'


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_reads_back_exactly_what_was_given():
    times = [datetime(2026, 11, 26, 10, 30, 15, 123456, tzinfo=UTC), datetime(1999, 1, 1, tzinfo=UTC)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::text[], %s::bigint[], %s::timestamptz[], %s::text[]",
            [
                array_literal(AWKWARD),
                array_literal([1, 2**62]),
                array_literal(times),
                array_literal([t for t in AWKWARD if '"' not in t and "\\" not in t]),
            ],
        )
        texts, numbers, stamps, plain = cursor.fetchone()
    assert texts == AWKWARD
    assert plain == [t for t in AWKWARD if '"' not in t and "\\" not in t]
    assert numbers == [1, 2**62]
    assert stamps == times
