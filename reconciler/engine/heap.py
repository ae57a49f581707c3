"""Cyclic garbage collection paused while a run builds large object graphs that live on.

An estate, its live state and its plan are hundreds of thousands of small objects that stay
alive until the run ends and make no reference cycles (what is dropped goes by reference
counting). Python's cyclic collector does not know that: every full collection walks all of
them again, so the time spent collecting grows with the heap *and* with what is allocated
after it (a plan of 30,000 mailboxes against an empty directory: 1.1-1.5 s of CPU with the
collector paused, 3.8-4.3 s with it running; building the estate: a quarter of validate's
time at 10,000 mailboxes). Each heavy step of a run (building the estate, reading live state,
diffing, applying) pauses it with ``collector_paused`` and restores it as it was, failure or
not.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection for the block; afterwards, as it was before.

    On the way out what the block built is handed to the oldest generation as it is
    (``settle``): left in the youngest, the first collections after the pause would walk all
    of it, and again on its way up (at 100,000 mailboxes two walks of 0.8-1 s each). In the
    oldest generation it is still collected by the next full collection: nothing is leaked,
    only not walked over and over while it is young.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        settle()
        if was_enabled:
            gc.enable()


def settle() -> None:
    """Every object the collector tracks into its oldest generation, without walking them.

    ``freeze`` moves the generations' lists onto the permanent one and ``unfreeze`` moves that
    onto the oldest (both splice lists: a constant cost, whatever the heap's size), so the
    young generations start empty and the objects stay collectable. ispctl freezes nothing
    for good before its command has finished (``cli.app.main`` freezes the heap only for the
    interpreter's shutdown), so nothing else is thawed here.
    """
    gc.freeze()
    gc.unfreeze()
