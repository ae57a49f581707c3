"""Test-only launcher: the real ``ispctl`` command with an apply observer that stops it at a point.

    python tests/faults/launcher.py ACTION POINT ispctl-arguments...

ACTION is ``pause`` (say "paused at POINT" on stderr, then wait for a signal: SIGKILL ends
the process there, SIGTERM or SIGINT is handled by ispctl as usual and the apply carries
on to its next change boundary), ``kill`` (SIGKILL itself) or ``term`` (send itself SIGTERM
and carry on).
POINT is ``change:ADDRESS`` (just before that change's provider is called),
``outcome:ADDRESS`` (just after its outcome is recorded), ``commit:BATCH`` (just before a
batch, e.g. a DNS zone's update, is committed); ADDRESS may be ``#N``: the N-th change
started, or ``*``: the first one.

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

    def observe(event: Event) -> None:
        if fired or not matches(event, point, name):
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
    assert action in ("pause", "kill", "term"), action
    sys.argv = ["ispctl", *arguments]
    with observing(observer(action, spec)):
        main()
