"""Mail delivered to a renamed mailbox's new home before its old home was moved there.

A rename changes the directory entry (its address and ``homeDirectory``) first and moves the
home after: the two live in different services, and no order of the two is free of a window.
A message delivered in that window makes Dovecot create a fresh home at the new path, and the
move would then find its target taken. That home can only hold mail for the renamed mailbox:
the plan saw nothing at the new path (a home already there would have been planned as its
own object, not as the target of a rename), so whatever is there now was delivered during
this apply. Its messages are moved into the old home, one rename each, and what remains --
Dovecot's index and cache files, which it rebuilds -- goes to the mail archive: nothing is
deleted, and the home is then moved as planned.

Anything that is not a delivered message or a Dovecot file of its own (a file elsewhere, a
symlink, a message still being written in ``tmp/``) stops the merge with the old error: a
person must look, and the next apply tries again.
"""

from __future__ import annotations

import os
from datetime import datetime

from ispctl.providers.mailstore.store import StoreError, ensure_dir

# Files Dovecot writes beside the messages of a maildir (indexes, caches, uid lists,
# subscriptions, keyword lists, folder markers, the Maildir++ quota file): all rebuilt from
# the messages themselves.
_DOVECOT_FILES = ("dovecot", "subscriptions", "maildirfolder", "maildirsize")
_MESSAGE_DIRS = ("cur", "new")


def delivered_messages(home: str) -> list[str] | None:
    """The messages of a home Dovecot made on delivery (paths relative to it), or None when
    it holds anything else."""
    messages = []
    for current, dirs, files in os.walk(home):
        rel = os.path.relpath(current, home)
        parts = [] if rel == "." else rel.split(os.sep)
        if parts[:1] not in ([], ["Maildir"]):
            return None
        if any(os.path.islink(os.path.join(current, d)) for d in dirs):
            return None
        for name in files:
            path = os.path.join(current, name)
            if os.path.islink(path) or not os.path.isfile(path):
                return None
            if parts[-1:] and parts[-1] in _MESSAGE_DIRS and parts[0] == "Maildir":
                messages.append(os.path.join(rel, name))
            elif parts[-1:] == ["tmp"]:
                return None  # a delivery still being written: not ours to move
            elif not name.startswith(_DOVECOT_FILES):
                return None
    return sorted(messages)


def merge_delivered(target: str, source: str, archive: str, address: str, now: datetime) -> str:
    """Move the messages delivered into ``target`` into ``source``, and the rest of ``target``
    into ``archive``; returns where the rest went. Raises StoreError if ``target`` holds
    anything else (nothing has been moved then)."""
    messages = delivered_messages(target)
    if messages is None:
        raise StoreError(f"cannot move {source} to {target}: the target exists and holds something other than mail "
                         "delivered to it during this rename; ispctl never overwrites mail")
    taken = [rel for rel in messages if os.path.lexists(os.path.join(source, rel))]
    if taken:  # checked before anything moves: a merge is all or nothing
        raise StoreError(f"cannot merge {os.path.join(target, taken[0])} into {source}: a message of that name is "
                         "already there; ispctl never overwrites mail")
    stat = os.stat(source)
    owner = (stat.st_uid, stat.st_gid)
    for rel in messages:
        destination = os.path.join(source, rel)
        for step in _ancestors(source, os.path.dirname(destination)):
            ensure_dir(step, 0o700, owner)  # a folder the old home lacks (Dovecot made it on delivery)
        os.rename(os.path.join(target, rel), destination)
    left = os.path.join(archive, f"{address}.delivered-during-rename.{now:%Y%m%dT%H%M%S%fZ}")
    os.rename(target, left)
    return left


def _ancestors(top: str, folder: str) -> list[str]:
    """The directories from just below ``top`` down to ``folder``, outermost first."""
    rel = os.path.relpath(folder, top)
    steps, current = [], top
    for part in [] if rel == "." else rel.split(os.sep):
        current = os.path.join(current, part)
        steps.append(current)
    return steps
