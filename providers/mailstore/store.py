"""The mail store on disk: safe paths, the bulk scan, and the few operations that change it.

Layout (the directory's ``homeDirectory`` is the home; Dovecot's
``mail_location = maildir:~/Maildir`` puts the mail below it)::

    <root>/                           0751 if ispctl creates it; otherwise left as the operator made it
    <root>/<domain>/                  0751, owned by the user running ispctl (root)
    <root>/<domain>/<local>/          0700, the mail owner (uid:gid): the home
        .ispctl-maildir               the marker: JSON {address, fingerprint}; written last
        Maildir/{cur,new,tmp}/        0700, the mail owner
    <archive>/<UTC stamp>--<address>/ an archived home, with .ispctl-archive.json (the manifest)

Domain directories belong to ispctl, not to the mail owner, and others may only traverse them:
Dovecot (running as the mail owner) reaches every home but can neither create, rename nor replace
one, so nothing that serves mail can plant a symlink where ispctl works as root, and Dovecot cannot
make a home ispctl did not make.

A home is ours only if it holds the marker. Homes without it are not ours: they are never read
into a plan and never changed. Every path built from names goes through ``home_path``, which
accepts printable ASCII components only (no ``/``, ``\\``, NUL, leading dot, Unicode) and checks
that the resolved path is exactly the expected one below the root, so no name or symlink can
lead a write outside the mail root.

Nothing here deletes mail. Removing a mailbox moves its home into the archive with one
``rename`` after writing a manifest (file list with a SHA-256 per file); the only code that
ever deletes archived mail is ``archive.remove`` (``ispctl archive purge``), run by hand.

Every operation is idempotent and leaves, at each point where the process could be killed, a
state the next plan and apply converge from (see the tests in tests/test_mailstore_store.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ispctl.providers.mailstore.disk import (
    ensure_dir,
    ensure_top,
    fix_dir,
    fsync_dir,
    is_real_dir,
    read_json,
    write_json,
)
from ispctl.providers.mailstore.manifest import FORMAT, MANIFEST, TMP_SUFFIX, inventory, iso, manifest, stamp
from ispctl.providers.mailstore.paths import (
    StoreError,
    check_component,
    check_home,
    home_directory,
    home_of,
    home_path,
    split_address,
)

# The store's API includes the safe-path and manifest helpers it is built on.
__all__ = [
    "ARCHIVE_DIRNAME", "FORMAT", "MAILDIR", "MANIFEST", "MARKER", "TMP_SUFFIX", "Home", "StoreError",
    "archive_home", "check_component", "check_home", "create_home", "ensure_archive", "ensure_dir", "ensure_top",
    "fix_dir", "fix_home", "fsync_dir", "home_directory", "home_of", "is_skeleton", "remove_skeleton",
    "home_path", "inventory", "iso", "manifest", "move_home", "read_json", "read_marker", "scan", "split_address",
    "stamp", "write_json", "write_marker",
]

MARKER = ".ispctl-maildir"
ARCHIVE_DIRNAME = ".ispctl-archive"
MAILDIR = "Maildir"
SUBDIRS = ("cur", "new", "tmp")
ROOT_MODE = 0o751
DOMAIN_MODE = 0o751
HOME_MODE = 0o700
ARCHIVE_MODE = 0o700
# What an unmarked home may hold and still be taken over by create: nothing but the
# skeleton (and marker temp file) that a create killed half-way leaves behind.
_SKELETON = frozenset({"", MAILDIR, *(f"{MAILDIR}/{s}" for s in SUBDIRS)})


# -- markers and the live scan -----------------------------------------------------------------

@dataclass(frozen=True)
class Home:
    """A home that holds ispctl's marker, as found on disk."""

    address: str
    path: str
    uid: int
    gid: int
    fingerprint: str | None
    # An apply's intent record, left when it stopped inside a move: (new address, new path).
    moving: tuple[str, str] | None = None


def read_marker(home: str) -> dict[str, Any] | None:
    data = read_json(os.path.join(home, MARKER))
    if data is None or not isinstance(data.get("address"), str):
        return None
    try:
        split_address(data["address"])
    except StoreError:
        return None
    return data


def write_marker(home: str, address: str, fingerprint: str | None,
                 moving: tuple[str, str] | None = None) -> None:
    """The marker; with ``moving`` it also records a move about to start (new address, new path),
    so a move stopped half-way reads as ispctl's own unfinished work, not as drift."""
    data: dict[str, Any] = {"format": FORMAT, "address": address, "fingerprint": fingerprint}
    if moving is not None:
        data["moving"] = {"address": moving[0], "path": moving[1]}
    write_json(home, MARKER, data)


def _moving(marker: dict[str, Any]) -> tuple[str, str] | None:
    intent = marker.get("moving")
    if not isinstance(intent, dict):
        return None
    address, path = intent.get("address"), intent.get("path")
    return (address, path) if isinstance(address, str) and isinstance(path, str) else None


def _subdirs(path: str) -> Iterator[os.DirEntry[str]]:
    """Real subdirectories with names a home could have (sorted, so reads are deterministic)."""
    with os.scandir(path) as entries:
        found = sorted(entries, key=lambda e: e.name)
    for entry in found:
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            check_component(entry.name)
        except StoreError:
            continue  # dot-dirs (the archive), odd names: not ours
        yield entry


def scan(root: str) -> list[Home]:
    """Every marked home below ``root``: two directory levels, lstat only, nothing followed."""
    try:
        domains = list(_subdirs(root))
    except FileNotFoundError:
        return []
    found: list[Home] = []
    for domain in domains:
        for home in _subdirs(domain.path):
            marker = read_marker(home.path)
            if marker is None:
                continue
            st = home.stat(follow_symlinks=False)
            fingerprint = marker.get("fingerprint")
            found.append(Home(marker["address"], home_directory(root, domain.name, home.name),
                              st.st_uid, st.st_gid, fingerprint if isinstance(fingerprint, str) else None,
                              _moving(marker)))
    return found


# -- creating and fixing homes -----------------------------------------------------------------

def _unmarked_state(home: str) -> str:
    """Whether an unmarked home holds only what a killed create leaves ("skeleton") or more ("other")."""
    for current, dirs, files in os.walk(home):
        rel = os.path.relpath(current, home)
        rel = "" if rel == "." else rel
        if rel not in _SKELETON:
            return "other"
        for name in dirs:
            if os.path.islink(os.path.join(current, name)):
                return "other"
        if any(not (rel == "" and name == MARKER + TMP_SUFFIX) for name in files):
            return "other"
    return "skeleton"


def is_skeleton(home: str) -> bool:
    return _unmarked_state(home) == "skeleton"


def _claim(home: str, address: str) -> None:
    """Make sure ``home`` is free for ``address``: absent, our skeleton, or already its home."""
    if not os.path.lexists(home):
        return
    if not is_real_dir(home):
        raise StoreError(f"{home} exists but is not a directory (or is a symlink); move it away and apply again")
    marker = read_marker(home)
    if marker is not None:
        if marker["address"] != address:
            raise StoreError(f"{home} already holds the mail of {marker['address']}; ispctl will not mix two mailboxes")
        return
    if _unmarked_state(home) != "skeleton":
        damaged = os.path.lexists(os.path.join(home, MARKER))
        why = "its marker is damaged" if damaged else "ispctl did not create it (no .ispctl-maildir marker)"
        raise StoreError(
            f"{home} exists and is not empty, and {why}; ispctl does not take over mail it did not make. "
            f"Move it aside, or if it is the mail of {address}, adopt it by writing "
            f"{{\"address\": \"{address}\"}} to {home}/{MARKER} and run apply again"
        )


def create_home(root: str, address: str, path: str, owner: tuple[int, int], fingerprint: str | None) -> None:
    """Create (or finish creating) the home of ``address``; the marker is written last."""
    if home_of(root, address) != path:
        raise StoreError(f"refusing to create {path}: the home of {address} below {root} is {home_of(root, address)}")
    _, domain = split_address(address)
    ensure_top(root, ROOT_MODE)
    domain_dir = os.path.join(root, domain)
    if ensure_dir(domain_dir, DOMAIN_MODE):
        fsync_dir(root)
    home_path(root, domain, split_address(address)[0])  # again, now that the domain directory exists
    _claim(path, address)
    ensure_dir(path, HOME_MODE, owner)
    fix_home(path, owner, retree=False)
    write_marker(path, address, fingerprint)
    fsync_dir(domain_dir)


def fix_home(home: str, owner: tuple[int, int], retree: bool) -> None:
    """Modes and owner of the home and its Maildir skeleton (restored if missing).

    With ``retree`` every file below gets the owner too (the site's mail owner changed):
    lchown, never following a symlink the mail owner may have put there.
    """
    fix_dir(home, HOME_MODE, owner)
    maildir = os.path.join(home, MAILDIR)
    ensure_dir(maildir, HOME_MODE, owner)
    fix_dir(maildir, HOME_MODE, owner)
    for sub in SUBDIRS:
        path = os.path.join(maildir, sub)
        ensure_dir(path, HOME_MODE, owner)
        fix_dir(path, HOME_MODE, owner)
    if retree:
        for current, dirs, files in os.walk(home):
            for name in dirs + files:
                if current == home and name.startswith(MARKER):
                    continue
                os.chown(os.path.join(current, name), *owner, follow_symlinks=False)


def move_home(root: str, old_path: str, address: str, new_path: str) -> None:
    """Rename a home to ``new_path`` (the home of ``address``): one atomic rename, same filesystem.

    The target may only be absent or an empty skeleton (removed with rmdir, which cannot
    remove mail); a target holding anything else stops the move with a clear error.
    """
    check_home(root, old_path)
    if home_of(root, address) != new_path:
        raise StoreError(f"refusing to move {old_path} to {new_path}: the home of {address} below {root} is "
                         f"{home_of(root, address)}")
    if old_path == new_path:
        return
    if not is_real_dir(old_path):
        raise StoreError(f"cannot move {old_path}: it is no longer there")
    local, domain = split_address(address)
    if os.path.lexists(new_path):
        if read_marker(new_path) is not None or not is_real_dir(new_path) or _unmarked_state(new_path) != "skeleton":
            raise StoreError(f"cannot move {old_path} to {new_path}: the target exists and holds something; "
                             "ispctl never merges or overwrites mail")
        remove_skeleton(new_path)
    if ensure_dir(os.path.join(root, domain), DOMAIN_MODE):
        fsync_dir(root)
    home_path(root, domain, local)
    os.rename(old_path, new_path)
    fsync_dir(os.path.dirname(new_path))
    fsync_dir(os.path.dirname(old_path))


def remove_skeleton(home: str) -> None:
    tmp = os.path.join(home, MARKER + TMP_SUFFIX)
    if os.path.lexists(tmp):
        os.unlink(tmp)  # our own temp marker: it never holds mail
    for current, dirs, _files in os.walk(home, topdown=False):
        for name in dirs:
            os.rmdir(os.path.join(current, name))
    os.rmdir(home)


# -- archiving ------------------------------------------------------------------------------------

def ensure_archive(root: str, archive: str) -> None:
    """The archive directory (0700), which must share a filesystem with the mail root."""
    ensure_top(root, ROOT_MODE)
    parent = os.path.dirname(archive.rstrip("/")) or "/"
    if not os.path.isdir(parent):
        raise StoreError(f"the mail archive's parent {parent} does not exist; create it or set mail.archive")
    ensure_top(archive, ARCHIVE_MODE)
    # Devices of the real directories: a rename works between them only if they are equal.
    if os.stat(archive).st_dev != os.stat(root).st_dev:
        raise StoreError(f"the mail archive {archive} is on another filesystem than the mail root {root}; "
                         "archiving must be a rename (never a copy and delete): put it on the same filesystem")


def archive_home(root: str, archive: str, path: str, address: str, now: datetime) -> str:
    """Move the home of ``address`` into the archive; returns the archived path.

    First a manifest (which address, where it was, when, and a SHA-256 for every file) is
    written into the home, then the home is renamed into the archive in one step. Killed
    before the rename, the home is still live and marked, so the next apply archives it
    again (writing a fresh manifest); killed after it, the archive is complete.
    """
    check_home(root, path)
    marker = read_marker(path)
    if marker is None or marker["address"] != address:
        found = marker["address"] if marker else "no ispctl marker"
        raise StoreError(f"refusing to archive {path} as {address}: it holds {found}")
    ensure_archive(root, archive)
    st = os.lstat(path)
    owner = (st.st_uid, st.st_gid)
    write_json(path, MANIFEST, manifest(address, path, now, inventory(path), owner), mode=0o600)
    base = f"{stamp(now)}--{address}"
    check_component(base, "archive entry")
    target = os.path.join(archive, base)
    counter = 1
    while os.path.lexists(target):
        counter += 1
        target = os.path.join(archive, f"{base}-{counter}")
    os.rename(path, target)
    fsync_dir(archive)
    fsync_dir(os.path.dirname(path))
    # Mail delivered (or moved between cur/ and new/) while the manifest was being written
    # came along with the rename; record it, now that nothing serves this directory any more.
    listed = read_json(os.path.join(target, MANIFEST)) or {}
    if [(f["path"], f["size"]) for f in listed.get("files", [])] != [
        (f["path"], f["size"]) for f in inventory(target, with_hashes=False)
    ]:
        write_json(target, MANIFEST, manifest(address, path, now, inventory(target), owner), mode=0o600)
    return target
