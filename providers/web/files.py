"""The web host's files: the one walk that reads live sites, safe writes, and archiving.

Reading (``scan``) lists ``sites_dir`` and ``pools_dir`` once, reads only regular files whose
first line is ispctl's marker, and per owned site looks at its htpasswd file, its docroot
(lstat) and, unless ``https: off``, whether its certificate's files are on disk. Nothing is followed
through a symlink and nothing is written.

Writing: directories below the web root are made one component at a time with O_NOFOLLOW
handles, so a symlink a customer plants in their home never leads a root-owned write
elsewhere. Layout of a site (``<home>/<host>``)::

    <home>                  root 0755     the tenant's web home
    <home>/<host>           root:gid 0755 the site; its owner cannot swap what is in it
    <home>/<host>/htdocs    uid:gid       the docroot (mode from the settings)
    <home>/<host>/logs      root:gid 0750 Apache (root) opens these logs: never the customer's dir
    <home>/<host>/tmp       uid:gid 0700  PHP's temporary files

Deleting a site archives ``<home>/<host>`` (and a docroot outside it): one ``rename`` into
``archive_dir/<UTC stamp>--<host>`` after a manifest with a SHA-256 per file is written into
it, never a copy, never a delete. A site directory that is a btrfs subvolume (``quota``) moves
the same way within its filesystem, its limit with it; an archive on another filesystem is refused.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from ispctl.providers.web import generated, quota
from ispctl.providers.web.live import Owner, SiteFiles, owner_of
from ispctl.providers.web.render import Layout, host_of, recorded, tls_paths
from ispctl.reconciler.contract import ProviderError, Resource

MANIFEST = ".ispctl-archive.json"
# Written before an apply swaps files, removed once the daemons reloaded them: an apply killed in
# between leaves it, and the next read and apply know that what is on disk is not served yet.
PENDING = ".ispctl-reload-pending"
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_FILE = 1 << 20  # a rendered file is a few KiB; anything larger is not ours


class WebFileError(ProviderError):
    """A file or directory of the web host cannot be used safely; the message says which."""


# -- reading ---------------------------------------------------------------------------------

def read_small(path: str) -> str | None:
    """A regular file's text (never through a symlink); None when absent or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_FILE:
            return None
        data = os.read(fd, _MAX_FILE + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def owned_files(directory: str) -> dict[str, str]:
    """host -> text for every regular file in ``directory`` that carries the marker."""
    return {host: text for host, (_, text) in owned_entries(directory).items()}


def owned_entries(directory: str) -> dict[str, tuple[str, str]]:
    """host -> (file name, text) for every regular file in ``directory`` that carries the marker
    naming the host its name stands for (``render.conf_name``)."""
    found: dict[str, tuple[str, str]] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return found
    for entry in entries:
        if not entry.name.endswith(".conf") or entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        text = read_small(entry.path)
        owner = owner_of(text) if text is not None else None
        if text is not None and owner is not None and owner[0] == host_of(entry.name):
            found[owner[0]] = (entry.name, text)
    return found


def _dir_owner(path: object) -> Owner | None:
    if not isinstance(path, str):
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return Owner(st.st_uid, st.st_gid) if stat.S_ISDIR(st.st_mode) else None


def scan(layout: Layout) -> list[SiteFiles]:
    """What the live sites are made of: one listing of each directory, the owned files read."""
    vhosts = owned_files(layout.sites_dir)
    pools = owned_files(layout.pools_dir)
    pending = read_pending(layout).hosts
    limits = quota.BtrfsQuotas.probe(layout.web_root) if vhosts else None  # one qgroup listing for all
    found = []
    for host, text in sorted(vhosts.items()):
        lines = text.split("\n", 2)
        meta = recorded(lines[1]) if len(lines) > 1 else None
        meta = meta or {}
        secret = read_small(layout.htpasswd_path(host))
        cert, expires = False, None
        paths = tls_paths(host, meta, layout)
        if paths is not None:
            cert = all(os.path.isfile(p) for p in paths)
            expires = cert_end(paths[0]) if cert and meta.get("https") == "auto" else None
        home = meta.get("home")
        enforced = limits.enforced(f"{home.rstrip('/')}/{host}") if limits and isinstance(home, str) else None
        found.append(SiteFiles(
            host, text, pool=pools.get(host),
            htpasswd=secret if secret is not None and owner_of(secret) is not None else None,
            docroot=_dir_owner(meta.get("docroot")), cert_exists=cert, cert_expires=expires,
            reload_pending=host in pending, quota=enforced))
    return found


def cert_end(path: str) -> datetime | None:
    """When the first certificate of a PEM file ends; None when it cannot be read."""
    text = read_small(path)
    if text is None:
        return None
    # Imported when a certificate is read, not by every command that loads the web service (issue 11).
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(text.encode("ascii")).not_valid_after_utc
    except (ValueError, UnicodeEncodeError):
        return None


@dataclass(frozen=True)
class Pending:
    """What an apply swapped in and which daemons must reload before it is served."""

    hosts: frozenset[str] = frozenset()
    apache: bool = False
    php: bool = False

    def __bool__(self) -> bool:
        return bool(self.hosts) or self.apache or self.php

    def __or__(self, other: Pending) -> Pending:
        return Pending(self.hosts | other.hosts, self.apache or other.apache, self.php or other.php)


def read_pending(layout: Layout) -> Pending:
    text = read_small(f"{layout.sites_dir}/{PENDING}")
    try:
        data = json.loads(text) if text is not None else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        # Unreadable (a kill while it was written is impossible: it is renamed into place): reload all.
        return Pending(apache=True, php=True) if text is not None else Pending()
    hosts = data.get("hosts")
    return Pending(frozenset(h for h in hosts if isinstance(h, str)) if isinstance(hosts, list) else frozenset(),
                   data.get("apache") is True, data.get("php") is True)


def write_pending(layout: Layout, pending: Pending) -> None:
    path = f"{layout.sites_dir}/{PENDING}"
    if not pending:
        remove(path)
        return
    data = {"hosts": sorted(pending.hosts), "apache": pending.apache, "php": pending.php}
    write_atomic(path, json.dumps(data, sort_keys=True) + "\n", 0o600)


# -- directories -------------------------------------------------------------------------------

def _fix(fd: int, mode: int, owner: tuple[int, int]) -> None:
    st = os.fstat(fd)
    if (st.st_uid, st.st_gid) != owner:
        os.fchown(fd, *owner)
    if stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)


def ensure_dir(path: str, mode: int, owner: tuple[int, int], *, fix: bool = True) -> None:
    """``path`` as a real directory with ``mode`` and ``owner`` (made if missing; ``fix`` False
    leaves an existing one as it is). Refuses a symlink or a file in its place."""
    try:
        os.mkdir(path, mode)
        created = True
    except FileExistsError:
        created = False
    except FileNotFoundError:
        raise WebFileError(f"cannot create {path}: its parent directory does not exist") from None
    try:
        fd = os.open(path, _NOFOLLOW_DIR)
    except OSError:
        raise WebFileError(f"{path} is not a directory ispctl can use (a symlink or a file?)") from None
    try:
        if created or fix:
            _fix(fd, mode, owner)
    finally:
        os.close(fd)


def ensure_tree(top: str, path: str, mode: int, owner: tuple[int, int]) -> None:
    """Every missing directory from ``top`` (which must exist) down to ``path``, each checked."""
    rel = os.path.relpath(path, top)
    if rel.startswith("..") or os.path.isabs(rel):
        raise WebFileError(f"refusing {path}: it is not below {top}")
    current = top
    for part in [] if rel == "." else rel.split("/"):
        current = f"{current}/{part}"
        ensure_dir(current, mode, owner, fix=False)


def prepare_site(layout: Layout, host: str, home: str, docroot: str, owner: tuple[int, int],
                 retree: bool = False, subvolume: bool = False) -> None:
    """The site's directories, owners and modes (see the module docstring); existing content is kept.
    With ``retree`` (the site's owner changed) everything below the docroot and tmp changes hands
    too (lchown: never through a symlink the customer left there). With ``subvolume`` (btrfs with
    quotas on) a missing site directory is made a btrfs subvolume, so its quota can be enforced."""
    root = (0, 0)
    site_group = (0, owner[1])
    web_root = layout.web_root.rstrip("/")
    if not (home + "/").startswith(web_root + "/") or home == web_root:
        raise WebFileError(f"site {host}: its home {home} is not inside the web root {web_root}")
    if not os.path.isdir(web_root):
        os.makedirs(web_root, 0o755, exist_ok=True)
    ensure_tree(web_root, home, 0o755, root)
    site = f"{home}/{host}"
    if subvolume and not os.path.lexists(site):
        try:
            quota.create_subvolume(site)
        except quota.QuotaError as exc:
            raise WebFileError(f"site {host}: {exc}") from None
    ensure_dir(site, 0o755, site_group)
    ensure_dir(f"{site}/logs", 0o750, site_group)
    ensure_dir(f"{site}/tmp", 0o700, owner)
    if not (docroot + "/").startswith(home + "/"):
        raise WebFileError(f"site {host}: its docroot {docroot} is not inside its home {home}")
    parent = os.path.dirname(docroot)
    ensure_tree(home, parent, 0o755, owner)
    ensure_dir(docroot, layout.docroot_mode, owner)
    if retree:
        for top in (docroot, f"{site}/tmp"):
            for current, dirs, names in os.walk(top):
                for name in dirs + names:
                    os.chown(f"{current}/{name}", *owner, follow_symlinks=False)


def group_id(name: str) -> int:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise WebFileError(f"group {name!r} (web.listen_group: Apache's worker group) does not exist") from None


# -- files -----------------------------------------------------------------------------------

def write_atomic(path: str, text: str, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` in one rename: a fresh temp file beside it (a name no include matches)."""
    directory, name = os.path.split(path)
    tmp = f"{directory}/.ispctl-new-{name}.tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.write(fd, text.encode("utf-8"))
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def keep_previous(path: str, previous: str) -> bool:
    """Hard-link the live ``path`` as ``previous`` (replacing an older one); False if there is none."""
    if not os.path.lexists(path):
        return False
    tmp = previous + ".tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.link(path, tmp, follow_symlinks=False)
    os.replace(tmp, previous)
    return True


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- archiving ---------------------------------------------------------------------------------

def _inventory(top: str) -> Iterator[dict[str, object]]:
    for current, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = f"{current}/{name}"
            rel = os.path.relpath(path, top)
            if rel == MANIFEST:
                continue
            st = os.lstat(path)
            entry: dict[str, object] = {"path": rel, "size": st.st_size}
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256()
                with open(path, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
                entry["sha256"] = digest.hexdigest()
            yield entry


def _same_filesystem(one: str, other: str) -> bool:
    """Whether a rename can move ``other`` into ``one``: the same device, or (btrfs, where each
    subvolume has its own device number) the same mount."""
    if os.stat(one).st_dev == os.stat(other).st_dev:
        return True
    a, b = quota.filesystem_of(one), quota.filesystem_of(other)
    return a is not None and b is not None and a.fstype == "btrfs" and a == b


def archive_site(layout: Layout, host: str, home: str, docroot: str | None, now: datetime) -> str | None:
    """Move the site's directory (and a docroot outside it) into the archive; returns where.
    None when there is nothing on disk to keep."""
    site = f"{home.rstrip('/')}/{host}"
    moving = [p for p in (site, docroot) if p is not None and os.path.isdir(p) and not os.path.islink(p)]
    if docroot is not None and (docroot + "/").startswith(site + "/"):
        moving = [p for p in moving if p != docroot]
    if not moving:
        return None
    os.makedirs(layout.archive_dir, 0o700, exist_ok=True)
    if not _same_filesystem(layout.archive_dir, moving[0]):
        raise WebFileError(f"site {host}: the web archive {layout.archive_dir} is on another filesystem than "
                           f"{moving[0]}; archiving must be a rename (never a copy and delete)")
    base = f"{now.strftime('%Y%m%dT%H%M%SZ')}--{host}"
    target = f"{layout.archive_dir}/{base}"
    counter = 1
    while os.path.lexists(target):
        counter += 1
        target = f"{layout.archive_dir}/{base}-{counter}"
    os.mkdir(target, 0o700)
    manifest = {"site": host, "archived_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "moved": {}}
    for index, path in enumerate(moving):
        name = "site" if index == 0 and path == site else "docroot"
        manifest["moved"][name] = {"from": path, "files": list(_inventory(path))}  # type: ignore[index]
    write_atomic(f"{target}/{MANIFEST}", json.dumps(manifest, indent=2, sort_keys=True) + "\n", 0o600)
    for index, path in enumerate(moving):
        os.rename(path, f"{target}/{'site' if index == 0 and path == site else 'docroot'}")
    return target


def write_generated(site: Resource, sites_dir: str) -> None:
    """The site's generated files on disk (readable by Apache), stale ones of the site removed."""
    found = generated.entries(site, sites_dir)
    where = generated.directory(sites_dir, site.key)
    me = (os.geteuid(), os.getegid())  # root on a web host
    if found:
        ensure_dir(f"{sites_dir}/{generated.DIR}", 0o755, me)
        ensure_dir(where, 0o755, me)
    wanted = {os.path.basename(file): content for _, file, content in found}
    for name, content in wanted.items():
        if read_small(f"{where}/{name}") != content:
            write_atomic(f"{where}/{name}", content, 0o644, me)
    if os.path.isdir(where) and not os.path.islink(where):
        for name in os.listdir(where):
            if name not in wanted:
                remove(f"{where}/{name}")
