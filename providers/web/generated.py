"""Files ispctl generates and a site serves at fixed paths (the mail autoconfig XML, the MTA-STS policy).

A site's ``generated`` attribute holds ``"<url-path>\\n<content>"`` entries (``mailconfig`` makes
them). Their files live in ``<sites_dir>/.generated/<host>/``, a directory ispctl owns beside the
vhosts, never in the customer's docroot (which the customer could overwrite); the vhost maps each
path there with ``Alias``. A file's name carries a digest of its content, so a changed content is
a new file and a changed vhost (the plan shows the change, the reload serves it); the files are
written before the vhost that names them goes live, and stale ones are removed
(``files.write_generated``).
"""

from __future__ import annotations

import hashlib
import os
import re

from ispctl.reconciler.contract import ProviderError, Resource

ATTR = "generated"
DIR = ".generated"
_PATH = re.compile(r"^/[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*$")
_TYPES = {".xml": "application/xml", ".txt": "text/plain"}


def directory(sites_dir: str, host: str) -> str:
    return f"{sites_dir}/{DIR}/{host}"


def entries(site: Resource, sites_dir: str) -> tuple[tuple[str, str, str], ...]:
    """``(url-path, file, content)`` for each generated file of ``site``."""
    raw = site.attrs.get(ATTR) or ()
    if not isinstance(raw, tuple):
        raise ProviderError(f"{site.address}: {ATTR} must be a list of '<path>\\n<content>' entries")
    out = []
    for entry in raw:
        path, _, content = str(entry).partition("\n")
        ext = os.path.splitext(path)[1]
        if not _PATH.match(path) or ext not in _TYPES or {".", ".."} & set(path.split("/")):
            raise ProviderError(f"{site.address}: {ATTR} path {path!r} is not a plain .xml or .txt path")
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        out.append((path, f"{directory(sites_dir, site.key)}/{digest}-{os.path.basename(path)}", content))
    return tuple(sorted(out))


def vhost_lines(site: Resource, sites_dir: str) -> list[str]:
    """The vhost lines serving the generated files (none for a site without them)."""
    found = entries(site, sites_dir)
    if not found:
        return []
    where = directory(sites_dir, site.key)
    lines = [f'    Alias "{path}" "{file}"' for path, file, _ in found]
    lines += [f'    <Directory "{where}">', "        Options None", "        AllowOverride None",
              "        Require all granted"]
    lines += [f'        AddType "{kind}" {ext}' for ext, kind in sorted(_TYPES.items())]
    return lines + ["    </Directory>"]

