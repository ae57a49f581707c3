"""The Sieve provider: ispctl's Sieve script in each mailbox home that declares one.

It owns one kind, ``sieve.<address>``: ``path`` (``<home>/ispctl.sieve``, Dovecot's
``sieve_before`` for the mailbox), ``uid``/``gid`` (the mail owner) and ``script`` (the text).
Nothing else in a home is ever written or removed: the user's own scripts (``~/sieve/``, the
active ``~/.dovecot.sieve`` that ManageSieve manages) are Dovecot's business, and a file at
ispctl's path that does not start with ispctl's marker is refused, never replaced.

Live state is one walk of the two directory levels below the mail root, opening only
``ispctl.sieve`` in each home; a file counts as ispctl's when its first line is the marker,
and its key is the address the marker names.

``create``/``update`` write the script to a temporary name, compile it with Pigeonhole's
``sievec`` (a compile error fails this mailbox's change and leaves the live script as it
was), then rename the binary and the script into place. ``delete`` removes the script and its
binary -- a script is configuration, not mail, so nothing is archived; the plan says so.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

from ispctl.providers.sieve.script import BINARY_NAME, FILE_NAME, owner_of
from ispctl.reconciler.contract import Provider, ProviderError, Resource, address_of

KIND = "sieve"
MAILDIR = "maildir"
_MAX_SCRIPT = 1 << 20


class SieveError(ProviderError):
    """A Sieve script could not be written or compiled; the message names the mailbox."""


def _read_ours(path: str) -> tuple[str, os.stat_result] | None:
    """The text and stat of ``path`` when it is a regular file (no symlink) ispctl wrote."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        text = handle.read(_MAX_SCRIPT).decode("utf-8", "replace")
    return (text, st) if owner_of(text) is not None else None


def scan(root: str) -> list[tuple[str, str, os.stat_result]]:
    """(path, text, stat) of every ispctl script in a home ``<root>/<domain>/<local>``."""
    found = []
    try:
        domains = [e for e in os.scandir(root) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    for domain in domains:
        with os.scandir(domain.path) as homes:
            for home in homes:
                if home.name.startswith(".") or not home.is_dir(follow_symlinks=False):
                    continue
                path = f"{home.path}/{FILE_NAME}"
                ours = _read_ours(path)
                if ours is not None:
                    found.append((path, *ours))
    return found


class SieveProvider(Provider):
    name: ClassVar[str] = "sieve"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({KIND})

    def __init__(self, root: str, sievec: str = "sievec", config: str | None = None) -> None:
        self.root = root
        self.sievec = sievec
        self.config = config  # a dovecot.conf for sievec other than /etc/dovecot's

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        if KIND not in kinds:
            return []
        try:
            found = scan(self.root)
        except OSError as exc:
            raise SieveError(f"cannot read the mail store {self.root}: {exc.strerror or exc}") from None
        return [
            Resource(KIND, address, {"path": path, "uid": st.st_uid, "gid": st.st_gid, "script": text},
                     depends_on=(address_of(MAILDIR, address),))
            for path, text, st in found
            for address in [owner_of(text) or ""]
        ]

    def describe(self, before: Resource | None, after: Resource | None) -> tuple[str, ...]:
        if after is None and before is not None:
            return (f"removes ispctl's Sieve script {before.attrs.get('path')} (configuration, not mail: nothing "
                    "is archived); the mailbox's own Sieve scripts stay",)
        return ()

    def _create(self, resource: Resource) -> None:
        self._write(resource)

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        self._write(after)
        if before.attrs.get("path") != after.attrs.get("path"):
            self._remove(before)

    def _delete(self, resource: Resource) -> None:
        self._remove(resource)

    # -- files -------------------------------------------------------------------------------

    def _attrs(self, resource: Resource) -> tuple[str, str, int, int]:
        path, script = resource.attrs.get("path"), resource.attrs.get("script")
        uid, gid = resource.attrs.get("uid"), resource.attrs.get("gid")
        if not (isinstance(path, str) and isinstance(script, str) and isinstance(uid, int) and isinstance(gid, int)):
            raise SieveError(f"{resource.address} lacks path, script, uid or gid")
        if os.path.dirname(path).rsplit("/", 2)[0] != self.root.rstrip("/") or os.path.basename(path) != FILE_NAME:
            raise SieveError(f"{resource.address}: {path} is not <mail root>/<domain>/<local>/{FILE_NAME}")
        return path, script, uid, gid

    def compile(self, source: str, binary: str, address: str) -> None:
        """Compile with ``sievec``; a failure raises with Pigeonhole's own words."""
        argv = [shutil.which(self.sievec) or self.sievec]
        if self.config:
            argv += ["-c", self.config]
        try:
            done = subprocess.run([*argv, source, binary], capture_output=True, text=True, timeout=60, check=False)
        except FileNotFoundError:
            raise SieveError(f"{address}: sievec not found (apt-get install dovecot-sieve)") from None
        if done.returncode != 0:
            said = " ".join((done.stdout + done.stderr).split()) or f"exit status {done.returncode}"
            raise SieveError(f"{address}: its Sieve script does not compile, nothing was changed: {said}")

    def _write(self, resource: Resource) -> None:
        path, script, uid, gid = self._attrs(resource)
        home = os.path.dirname(path)
        try:
            if not stat.S_ISDIR(os.lstat(home).st_mode):
                raise SieveError(f"{resource.address}: its home {home} is not a directory")
        except FileNotFoundError:
            raise SieveError(f"{resource.address}: its home {home} does not exist (the mail store makes it)") from None
        if os.path.lexists(path) and _read_ours(path) is None:
            raise SieveError(f"{resource.address}: {path} was not written by ispctl (no marker); it is left alone")
        tmp, tmp_bin = f"{home}/.{FILE_NAME}.new", f"{home}/.{BINARY_NAME}.new"
        try:
            for stale in (tmp, tmp_bin):
                Path(stale).unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(script)
            self.compile(tmp, tmp_bin, resource.address)
            if os.geteuid() == 0:
                for name in (tmp, tmp_bin):
                    os.chown(name, uid, gid, follow_symlinks=False)
            # The binary first: it is then never older than the script, so Dovecot uses it as is.
            os.replace(tmp_bin, f"{home}/{BINARY_NAME}")
            os.replace(tmp, path)
        except OSError as exc:
            raise SieveError(f"{resource.address}: {exc.strerror or exc} ({exc.filename or path})") from None
        finally:
            for stale in (tmp, tmp_bin):
                Path(stale).unlink(missing_ok=True)

    def _remove(self, resource: Resource) -> None:
        path = resource.attrs.get("path")
        if not isinstance(path, str):
            return
        ours = _read_ours(path)
        # Only the file whose marker names this mailbox: after a rename the home may
        # already hold the new address's script.
        if ours is None or owner_of(ours[0]) != resource.key:
            return
        try:
            os.unlink(path)
            Path(os.path.dirname(path), BINARY_NAME).unlink(missing_ok=True)
        except OSError as exc:
            raise SieveError(f"{resource.address}: {exc.strerror or exc} ({path})") from None


def build_options(env: Mapping[str, str]) -> dict[str, str | None]:
    """``ISPCTL_SIEVEC`` (the compiler) and ``ISPCTL_DOVECOT_CONFIG`` (the config it reads)."""
    return {"sievec": env.get("ISPCTL_SIEVEC", "sievec"), "config": env.get("ISPCTL_DOVECOT_CONFIG") or None}
