"""The live state a read command shows: read the way plan reads it, in bulk.

Without a scope every enabled provider makes its one bulk read (``Session.read_live``, what a
full plan reads); with anchors (the object ``show`` shows, the tenant or domain ``list`` and
``report usage`` are narrowed to) the narrowed plan's read (``narrow.read_within``): a subtree
search per anchor, never a request per object.
"""

from __future__ import annotations

from ispctl.reconciler.engine.narrow import read_within
from ispctl.reconciler.engine.resources import Index
from ispctl.reconciler.engine.session import Progress
from ispctl.reconciler.estate.desired import EstateSession


def read_live(session: EstateSession, anchors: frozenset[str] | None = None,
              progress: Progress | None = None) -> Index:
    """What this machine's providers hold: all of it, or what is at and below ``anchors``."""
    if anchors is None:
        return session.read_live(progress)
    return read_within(session.desired, session.compiled, anchors, session.providers, progress).live
