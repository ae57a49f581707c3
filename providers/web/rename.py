"""A site renamed (``previous:`` on the site: the engine plans an update whose before has the old
host name): its files are moved, never archived and recreated.

Everything of a site goes by its host name: ``<home>/<host>`` (a btrfs subvolume where quotas are
on: a rename(2) keeps the subvolume, its data and its limit), the vhost, the PHP pool, the
htpasswd file, the generated files, the certificate directory and its ``webhost`` value. The apply
(``apply.Run``) renames the folder first, then stages the new name's files and the removal of the
old name's in the same tested batch, so the old vhost goes only once the new configuration passes
the config test; a failure puts the folder back. Each step is idempotent: an apply stopped
anywhere leaves either the old name live (the plan shows the rename again; the folder may already
be moved, which the next run sees and skips) or the new one (its reload pending).
"""

from __future__ import annotations

import os
from dataclasses import replace

from ispctl.reconciler.contract import ProviderError, Resource


def old_host(before: Resource | None, after: Resource | None) -> str | None:
    """The former host name of a renamed site (None: not a rename)."""
    if before is None or after is None or before.key == after.key:
        return None
    return before.key


def site_dirs(before: Resource, after: Resource) -> tuple[str, str]:
    """The old and new ``<home>/<host>`` folders of a renamed site (the same home: a rename stays
    in its tenant's home; a change of tenant as well is refused, it would archive the files)."""
    old_home, home = before.attrs.get("home"), after.attrs.get("home")
    if not isinstance(home, str) or (isinstance(old_home, str) and old_home.rstrip("/") != home.rstrip("/")):
        raise ProviderError(f"{after.address}: renamed from {before.key} and moved to another tenant's home in one "
                            "apply; rename it first, then move it")
    home = home.rstrip("/")
    return f"{home}/{before.key}", f"{home}/{after.key}"


def move_folder(before: Resource, after: Resource) -> bool:
    """Rename the site's folder to its new name; True if this call moved it (False: done before,
    or the old site never had one). Both present is someone else's folder: refused, nothing moved."""
    old, new = site_dirs(before, after)
    if not os.path.lexists(old):
        return False
    if os.path.lexists(new):
        raise ProviderError(f"{after.address}: cannot move {old} to {new}: {new} exists already (not ispctl's: "
                            "move or remove it, then apply again)")
    os.rename(old, new)  # one rename on one filesystem: a btrfs subvolume keeps its id and limit
    return True


def move_folder_back(before: Resource, after: Resource) -> None:
    """Undo ``move_folder`` for a rename whose configuration did not go live (the old name serves on)."""
    old, new = site_dirs(before, after)
    if os.path.lexists(new) and not os.path.lexists(old):
        os.rename(new, old)


def renamed_host(before: Resource, after: Resource) -> Resource:
    """The ``webhost`` value of the new name: the host the files are on. A default (sticky) host
    stays the old one's; a host pinned elsewhere is a move too, which a rename never is."""
    old, new = before.attrs.get("host"), after.attrs.get("host")
    if "host" in after.create_only or old == new:
        return replace(after, attrs={**after.attrs, "host": old})
    raise ProviderError(f"{after.address}: renamed from {before.key} (on {old}) and pinned to {new} in one apply: "
                        "rename it first (keeping its host), then change its placement (a planned move)")
