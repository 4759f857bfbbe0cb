"""Holding the cyclic garbage collector back while a bulk operation builds its short-lived objects.

A 1,000-item ingest batch allocates tens of thousands of small dicts, tuples and strings that
all live until the batch ends; the collector's generation-0 threshold (700 allocations) makes it
run hundreds of times per batch, walking the same live objects again and again (a fifth to a
quarter of the batch's Python time, measured). Reference counting still frees everything at
once; cycles made meanwhile are collected as soon as the collector runs again, right after.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic collector off for the block; nested or concurrent (threads) blocks are
    counted, and the collector is switched back on, if it was on, when the last one ends."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
