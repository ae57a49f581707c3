"""What a site change writes, for people: the unified diff of its rendered files.

The web provider's ``describe`` (``Provider.describe``): a plan shows, under a site's attribute
changes, how its Apache vhost (``sites/<file>``) and, for a PHP site, its PHP-FPM pool
(``pools/<host>.conf``) change. The htpasswd file is never shown: its lines are password hashes.

Left out on both sides, because they follow from the rest and would put the same noise in
every diff: the ownership marker (it carries a fingerprint), the vhost's recorded-attributes
line (the plan's attribute changes above say the same, readably) and the probe token (a digest
of the file), which is shown as ``PROBE_SHOWN``. Everything else is the file as Apache and
php-fpm read it. Pure functions: the provider hands over the texts.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ispctl.providers.web.render import ATTRS_PREFIX, MARKER, PROBE_HEADER, Rendered, conf_name
from ispctl.reconciler.contract import Resource

PROBE_SHOWN = "(digest of this file)"
_PROBE = re.compile(rf'^(\s*Header always set {re.escape(PROBE_HEADER)} ")[^"]*(")$')
NO_FILE = "/dev/null"  # what a unified diff names the side where a file does not exist


@dataclass(frozen=True)
class SiteText:
    """One side of a site change: its vhost (and file name in ``sites_dir``) and pool, as text;
    None where there is no such file."""

    vhost: str | None = None
    vhost_name: str | None = None
    pool: str | None = None
    host: str = ""

    @classmethod
    def of(cls, rendered: Rendered) -> SiteText:
        return cls(rendered.vhost, rendered.vhost_name, rendered.pool, rendered.host)


def vhost_name(site: Resource) -> str:
    """The name of the site's vhost file in ``sites_dir`` as its attributes have it (``conf_name``)."""
    aliases = site.attrs.get("aliases")
    return conf_name(site.key, aliases if isinstance(aliases, tuple) else ())


def readable(text: str | None) -> list[str]:
    """The lines of a rendered file a person reads (see the module docstring)."""
    if text is None:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    head = 0
    while head < len(lines) and head < 2 and (
            (lines[head][:1] in ("#", ";") and MARKER in lines[head]) or lines[head].startswith(ATTRS_PREFIX)):
        head += 1
    return [_PROBE.sub(rf"\g<1>{PROBE_SHOWN}\g<2>", line) for line in lines[head:]]


def file_diff(old: str | None, new: str | None, old_name: str, new_name: str) -> list[str]:
    """Unified-diff lines from ``old`` to ``new`` (None: no file on that side), or none when
    they read the same."""
    if old is None and new is None:
        return []
    return list(difflib.unified_diff(readable(old), readable(new), old_name if old is not None else NO_FILE,
                                     new_name if new is not None else NO_FILE, lineterm=""))


def site_diff(before: SiteText, after: SiteText) -> tuple[str, ...]:
    """The vhost's diff, then the pool's."""
    old_vhost = f"sites/{before.vhost_name}" if before.vhost_name else NO_FILE
    new_vhost = f"sites/{after.vhost_name}" if after.vhost_name else NO_FILE
    lines = file_diff(before.vhost, after.vhost, old_vhost, new_vhost)
    lines += file_diff(before.pool, after.pool, f"pools/{before.host}.conf", f"pools/{after.host}.conf")
    return tuple(lines)
