import pytest
from django.db import OperationalError, connection

from cxhub.db import atomic_with_retry


class _SqlError(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing(times: int, sqlstate: str):
    calls = {"n": 0}

    def work():
        calls["n"] += 1
        if calls["n"] <= times:
            raise OperationalError("aborted") from _SqlError(sqlstate)
        return calls["n"]

    return work, calls


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_deadlock_victim_is_run_again():
    work, calls = _failing(2, "40P01")
    assert atomic_with_retry(work) == 3
    assert calls["n"] == 3


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_other_errors_and_exhausted_attempts_are_raised():
    work, calls = _failing(1, "42P01")
    with pytest.raises(OperationalError):
        atomic_with_retry(work)
    assert calls["n"] == 1
    work, calls = _failing(5, "40001")
    with pytest.raises(OperationalError):
        atomic_with_retry(work, attempts=3)
    assert calls["n"] == 3


@pytest.mark.django_db
def test_inside_an_outer_transaction_work_runs_once():
    assert connection.in_atomic_block
    work, calls = _failing(1, "40P01")
    with pytest.raises(OperationalError):
        atomic_with_retry(work)
    assert calls["n"] == 1
