"""cxhub.gcpause: the cyclic collector is held back for a block and comes back as it was."""

import gc
import threading

from cxhub.gcpause import collector_paused


def test_collector_is_off_inside_and_back_on_after_nested_blocks():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()


def test_collector_comes_back_after_an_error():
    try:
        with collector_paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_blocks_in_threads_switch_it_back_on_once_the_last_ends():
    first_in, second_in, first_may_leave = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with collector_paused():
            first_in.set()
            first_may_leave.wait(5)
        seen["after_first"] = gc.isenabled()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with collector_paused():
        second_in.set()
        first_may_leave.set()
        thread.join(5)
        assert seen["after_first"] is False  # this block still holds it
    assert gc.isenabled()
