"""Test-only launcher: the real ``ispctl`` command with an apply observer that stops it at a point.

    python tests/faults/launcher.py ACTION POINT ispctl-arguments...

ACTION is ``pause`` (say "paused at POINT" on stderr, then wait for a signal: SIGKILL ends
the process there, SIGUSR1 lets it carry on, SIGTERM or SIGINT is handled by ispctl as
usual and the apply carries on to its next change boundary, where it stops), ``kill``
(SIGKILL itself) or ``term`` (send itself SIGTERM and carry on); ``trace`` writes every
event to stderr and never stops.
POINT is ``change:ADDRESS`` (just before that change's provider is called),
``outcome:ADDRESS`` (just after its outcome is recorded), ``commit:BATCH`` (just before a
batch, e.g. a DNS zone's update, is committed); ADDRESS may be ``#N``: the N-th change
started, or ``*``: the first one. ``phase:K`` is a phase boundary: just before the K-th
write (change or commit) whose provider differs from the previous write's (``phase:0``:
before the first write of all).

This replaces an environment variable the product itself used to read: the hook exists only
in this file, so nothing an operator sets can make a real apply pause while holding the lock.
"""

from __future__ import annotations

import os
import signal
import sys

from ispctl.reconciler.cli.app import main
from ispctl.reconciler.engine.apply import Event, Observer, observing


def matches(event: Event, point: str, name: str) -> bool:
    if event.point != point:
        return False
    if point == "commit":
        return name in ("*", event.batch)
    if name == "*":
        return True
    if name.startswith("#"):
        return event.point == "change" and event.index == int(name[1:])
    return event.change is not None and event.change.address == name


def observer(action: str, spec: str) -> Observer:
    point, _, name = spec.partition(":")
    fired: list[bool] = []
    writers: list[str] = []  # the provider of each phase so far

    def at_point(event: Event) -> bool:
        if point != "phase":
            return matches(event, point, name)
        if event.point == "outcome" or (writers and writers[-1] == event.provider):
            return False
        writers.append(event.provider)
        return len(writers) == int(name) + 1

    def observe(event: Event) -> None:
        if action == "trace":
            what = event.change.address if event.change else event.batch
            sys.stderr.write(f"event {event.point} {event.provider} {what} #{event.index}\n")
            return
        if fired or not at_point(event):
            return
        fired.append(True)
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "term":
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            sys.stderr.write(f"paused at {spec}\n")
            sys.stderr.flush()
            signal.pause()

    return observe


if __name__ == "__main__":
    action, spec, *arguments = sys.argv[1:]
    assert action in ("pause", "kill", "term", "trace"), action
    sys.argv = ["ispctl", *arguments]
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: None)  # ends a pause, nothing else
    with observing(observer(action, spec)):
        main()
