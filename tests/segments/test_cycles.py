"""Segment cycles: concurrent edits cannot close one, and recompute never follows a stored one."""

import contextlib
import threading

import pytest
from django.conf import settings
from django.db import connection

from segments import services
from segments.errors import SegmentCycle
from segments.models import RunStatus, Segment, SegmentRun
from segments.tasks import recompute_segment_task
from segments.validation import stored_cycle

LEAD = {"attr": "lifecycle_stage", "op": "eq", "value": "lead"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS))
def test_two_concurrent_edits_cannot_make_segments_refer_to_each_other(monkeypatch):
    """Each edit adds one edge of c ⇄ d. The edits are held after their cycle check until both
    have checked (or a second has passed): without the graph lock both would pass and commit."""
    original = services.validate_definition
    attempts = 5
    for attempt in range(attempts):
        c = Segment.objects.create(slug=f"c{attempt}", name="C", rules=LEAD, refresh="manual")
        d = Segment.objects.create(slug=f"d{attempt}", name="D", rules=LEAD, refresh="manual")
        barrier = threading.Barrier(2, timeout=1.5)

        def held_after_check(*args, _barrier=barrier, **kwargs):
            original(*args, **kwargs)
            # Broken after the timeout when the other edit is waiting for the graph lock.
            with contextlib.suppress(threading.BrokenBarrierError):
                _barrier.wait()

        monkeypatch.setattr(services, "validate_definition", held_after_check)
        outcomes: dict[str, str] = {}

        def edit(segment_id, target, _outcomes=outcomes):
            try:
                segment = Segment.objects.get(pk=segment_id)
                segment.rules = {"segment": target, "is": "member"}
                services.save_segment(segment=segment)
                _outcomes[target] = "saved"
            except SegmentCycle:
                _outcomes[target] = "cycle"
            except Exception as exc:  # surfaced by the assertion below
                _outcomes[target] = repr(exc)
            finally:
                connection.close()

        threads = [
            threading.Thread(target=edit, args=(c.pk, d.slug)),
            threading.Thread(target=edit, args=(d.pk, c.slug)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert sorted(outcomes.values()) == ["cycle", "saved"], (attempt, outcomes)
        assert stored_cycle(c.pk) is None and stored_cycle(d.pk) is None


def _store_cycle():
    c = Segment.objects.create(slug="c", name="C", rules=LEAD, refresh="realtime")
    d = Segment.objects.create(slug="d", name="D", rules={"segment": "c", "is": "member"}, refresh="realtime")
    # Written past the service (as a raced edit or a hand-made row would be).
    Segment.objects.filter(pk=c.pk).update(rules={"segment": "d", "is": "member"})
    return Segment.objects.get(pk=c.pk), d


@pytest.mark.django_db
def test_recompute_refuses_a_stored_cycle_and_queues_nothing(celery_eager):
    c, d = _store_cycle()
    assert stored_cycle(c.pk) == ["c", "d", "c"]
    before = SegmentRun.objects.count()
    run = services.request_recompute(segment=c, trigger="manual")
    recompute_segment_task.delay(c.pk, run_id=run.pk, trigger="manual")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "cycle" in run.error and "c → d → c" in run.error
    # No recompute of the dependant was queued, so nothing goes round and round.
    assert set(SegmentRun.objects.values_list("segment__slug", flat=True)[before:]) <= {"c"}
    assert SegmentRun.objects.filter(segment=d).count() == 0


@pytest.mark.django_db
def test_recompute_refuses_a_stored_parent_cycle():
    a = Segment.objects.create(slug="a", name="A", rules=LEAD, refresh="manual")
    b = Segment.objects.create(slug="b", name="B", rules=LEAD, parent=a, refresh="manual")
    Segment.objects.filter(pk=a.pk).update(parent=b)
    with pytest.raises(SegmentCycle):
        services.recompute_segment(segment=Segment.objects.get(pk=a.pk), trigger="manual")
    assert a.runs.get().status == RunStatus.FAILED
