"""engine/heap.py: the cyclic collector paused for a block and restored as it was."""

from __future__ import annotations

import gc

import pytest

from ispctl.reconciler.engine.heap import collector_paused


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_inside_and_restored_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with collector_paused():
            assert not gc.isenabled()
            with collector_paused():  # nested pauses do not turn it back on early
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_restored_when_the_block_raises() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("a failed read")
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_what_the_block_built_is_in_the_oldest_generation_and_still_collectable() -> None:
    import weakref

    class Node:
        other: object = None

    was = gc.isenabled()
    try:
        gc.enable()
        with collector_paused():
            kept = [Node() for _ in range(1000)]
            first, second = Node(), Node()
            first.other, second.other = second, first  # garbage only the cyclic collector frees
            cycle = weakref.ref(first)
            del first, second
        assert gc.get_freeze_count() == 0  # handed over, not frozen for good
        assert not any(o is kept for o in gc.get_objects(generation=0))
        assert any(o is kept for o in gc.get_objects(generation=2))
        assert cycle() is not None
        gc.collect()
        assert cycle() is None
    finally:
        (gc.enable if was else gc.disable)()
