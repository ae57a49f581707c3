"""Adopting mail ispctl did not make: a home that already exists when its mailbox is created.

A mailbox whose ``maildir: {adopt: <path>}`` names where its mail is today (``ispctl import
ldap`` writes it from the old directory's ``homeDirectory``) is not created empty. At apply:

* **in place** -- the path is the home the estate gives the mailbox
  (``<root>/<domain>/<local>``): the home is checked (a real directory holding ``Maildir/``),
  owner and modes set as for any home, and the marker written. Nothing is moved or
  rewritten; a message file is never opened.
* **moved** -- the path is elsewhere (iRedMail's ``<base>/<domain>/u/s/e/user-<date>/``): the
  marker is written into the old home first, then the whole home is renamed to the estate's path
  in one ``rename(2)``, and owner and modes are set.
  A rename cannot lose or duplicate a message; a move across filesystems is refused (it
  would be a copy), as is a target that holds anything but an empty skeleton.
* **nothing there** (an account that never received mail has no maildir yet) -- the home is
  created empty, as for a new mailbox.

Killed at any point, the next apply converges: before the rename the old home carries this
mailbox's marker (adopted again), after it the home is in place and marked.
``describe`` tells the plan which case it is, how many messages, and an owner change.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from ispctl.providers.mailstore import store
from ispctl.providers.mailstore.paths import ADOPT as ATTR
from ispctl.providers.mailstore.store import MAILDIR, MARKER, StoreError


@dataclass(frozen=True)
class Found:
    """What is at the path to adopt from."""

    kind: str  # "in place", "move" or "nothing"
    messages: int = 0
    owner: tuple[int, int] | None = None


def _real_dir(path: str) -> os.stat_result | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"cannot adopt {path}: it is not a directory (a symlink or a file?)")
    return st


def _count(maildir: str) -> int:
    """Messages in every folder's cur/ and new/ (maildir++: the inbox and each .Folder)."""
    total = 0
    folders = [maildir] + [os.path.join(maildir, e.name) for e in os.scandir(maildir)
                           if e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    for folder in folders:
        for sub in ("cur", "new"):
            try:
                total += sum(1 for e in os.scandir(os.path.join(folder, sub)) if e.is_file(follow_symlinks=False))
            except FileNotFoundError:
                continue
    return total


def inspect(source: str, target: str, address: str) -> Found:
    """Which case adopting ``source`` as the home ``target`` of ``address`` is; StoreError when none is safe."""
    if not os.path.isabs(source) or os.path.normpath(source) != source.rstrip("/"):
        raise StoreError(f"cannot adopt {source!r}: not a plain absolute path")
    source = source.rstrip("/")
    st = _real_dir(source)
    if st is None:
        if source != target and os.path.lexists(target) and store.read_marker(target) is not None:
            return Found("in place")  # moved by an earlier apply that stopped before its last step
        return Found("nothing")
    marker = store.read_marker(source)
    if marker is not None and marker["address"] != address:
        raise StoreError(f"cannot adopt {source} for {address}: it holds the mail of {marker['address']}")
    if not os.path.isdir(os.path.join(source, MAILDIR)) or os.path.islink(os.path.join(source, MAILDIR)):
        raise StoreError(f"cannot adopt {source} for {address}: it has no {MAILDIR}/ folder (ispctl's homes keep "
                         f"their mail in <home>/{MAILDIR}, as Dovecot's mail_location = maildir:~/{MAILDIR} says)")
    found = Found("in place" if source == target else "move", _count(os.path.join(source, MAILDIR)),
                  (st.st_uid, st.st_gid))
    if found.kind == "move" and os.path.lexists(target):
        if store.read_marker(target) is not None or not store.is_skeleton(target):
            raise StoreError(f"cannot move {source} to {target}: the target exists and holds something; ispctl "
                             "never merges or overwrites mail")
    return found


def describe(source: str, target: str, address: str, owner: tuple[int, int]) -> str:
    """One line for the plan: what adopting will do, or why it cannot."""
    try:
        found = inspect(source, target, address)
    except (StoreError, OSError) as exc:
        return f"cannot adopt the existing mail: {exc}"
    chown = ""
    if found.owner is not None and found.owner != owner:
        chown = f"; every file changes owner from {found.owner[0]}:{found.owner[1]} to {owner[0]}:{owner[1]}"
    if found.kind == "nothing":
        return f"nothing at {source} to adopt (no mail yet): a new empty home {target}"
    if found.kind == "in place":
        return (f"adopts the existing mail at {target} in place ({found.messages} messages): marker written, nothing "
                f"moved or rewritten{chown}")
    return f"moves the existing mail {source} -> {target} ({found.messages} messages, one rename){chown}"


def adopt_home(root: str, address: str, source: str, target: str, owner: tuple[int, int],
               fingerprint: str | None) -> None:
    """Adopt (or move, or create) the home of ``address`` as ``inspect`` decides."""
    found = inspect(source, target, address)
    if found.kind == "nothing":
        store.create_home(root, address, target, owner, fingerprint)
        return
    if found.kind == "move":
        source = source.rstrip("/")
        # Checks the target's parents as create does; makes the domain directory if needed.
        _, domain = store.split_address(address)
        store.ensure_top(root, store.ROOT_MODE)
        store.ensure_dir(os.path.join(root, domain), store.DOMAIN_MODE)
        if store.home_of(root, address) != target:
            raise StoreError(f"refusing to move {source} to {target}: the home of {address} is "
                             f"{store.home_of(root, address)}")
        # The marker first: killed before the rename, the next apply finds this mailbox's own home
        # there and moves it; killed after, the home is in place and already fully marked (no
        # intent record to clear: nothing else would ever rewrite it).
        store.write_marker(source, address, fingerprint)
        if os.path.lexists(target):
            store.remove_skeleton(target)
        try:
            os.rename(source, target)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                raise StoreError(f"cannot move {source} to {target}: another filesystem; a move must be one rename "
                                 "(a copy could lose or duplicate mail): move it by hand, or set mail.root on that "
                                 "filesystem") from None
            raise
        store.fsync_dir(os.path.dirname(target))
        store.fsync_dir(os.path.dirname(source))
    else:
        store.check_home(root, target)
    st = os.lstat(target)
    store.fix_home(target, owner, retree=(st.st_uid, st.st_gid) != owner)
    store.write_marker(target, address, fingerprint)


__all__ = ["ATTR", "MARKER", "Found", "adopt_home", "describe", "inspect"]
