"""One apply run's stop requests: SIGTERM and Ctrl-C become a reason to stop at a change
boundary while changes are written, and so does a lost lock."""

from __future__ import annotations

import os
import signal

import pytest

from ispctl.reconciler.cli.runs import EXIT_CODES, stop_on_signals


class Lock:
    def __init__(self) -> None:
        self.why: str | None = None

    @property
    def id(self) -> str:
        return "L1"

    def lost(self) -> str | None:
        return self.why


@pytest.mark.parametrize(("signum", "reason"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C (SIGINT)")])
def test_a_signal_during_the_writes_is_a_reason_to_stop_not_an_exit(signum: int, reason: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signum)
    with stop_on_signals(None) as stop:
        assert stop() is None
        os.kill(os.getpid(), signum)  # handled in this thread before kill returns to Python code
        os.kill(os.getpid(), signum)  # a second one changes nothing and is not announced again
        assert stop() == reason
    assert signal.getsignal(signum) == before  # restored once the writes are over
    assert capsys.readouterr().err.count("stopping after the change in progress (never inside one)") == 1
    assert EXIT_CODES[reason] in (130, 143)


def test_a_lost_lock_is_a_reason_to_stop() -> None:
    lock = Lock()
    with stop_on_signals(lock) as stop:
        assert stop() is None
        lock.why = "it was removed (force-unlock?)"
        assert stop() == "the estate lock was lost (it was removed (force-unlock?))"
        lock.why = None
        assert stop() is not None  # once a reason, always that reason
