"""Safe paths in the mail store: every path ispctl builds from a name goes through here.

Components are printable ASCII only (no ``/``, ``\\``, NUL, leading dot, no Unicode look-alikes
or bidi controls), and a home must resolve to exactly ``<root>/<domain>/<local>``, so neither
a name nor a symlink can lead a write outside the mail root.
"""

from __future__ import annotations

import os

from ispctl.reconciler.contract import ProviderError

# The maildir's attribute naming where a mailbox's mail is before ispctl (``adopt``): the compile
# hook writes it, the provider's create reads it. Here, not in ``adopt`` (which re-exports it):
# compiling the estate then imports no part of the store's writes (issue 11).
ADOPT = "adopt"


class StoreError(ProviderError):
    """The mail store cannot do what was asked without risking mail; the message says why."""


def home_directory(mail_root: str, domain: str, local: str) -> str:
    """The layout: a mailbox's home is ``<mail root>/<domain>/<local part>``."""
    return f"{mail_root.rstrip('/')}/{domain}/{local}"


# -- names and paths ---------------------------------------------------------------------------

def check_component(name: str, what: str = "name") -> str:
    """One path component built from a name; raises StoreError unless it is plainly safe.

    Upstream validation already limits local parts to ASCII dot-atoms and domains to IDNA
    ASCII; this is the last line of defence, so it is deliberately stricter than needed:
    printable ASCII only (which rules out every Unicode look-alike of ``/`` and ``.``, bidi
    controls and invisible characters), no separators, and no leading dot (``.``, ``..`` and
    ispctl's own ``.ispctl-*`` names).
    """
    if not name:
        raise StoreError(f"refusing an empty {what} as a path component")
    shown = ascii(name)
    if name.startswith("."):
        raise StoreError(f"refusing {what} {shown} as a path component: it starts with a dot")
    if len(name.encode("utf-8")) > 255:
        raise StoreError(f"refusing {what} {shown} as a path component: longer than 255 bytes")
    for char in name:
        if not ("!" <= char <= "~") or char in "/\\":
            raise StoreError(
                f"refusing {what} {shown} as a path component: only printable ASCII without "
                "'/' or '\\' is allowed"
            )
    return name


def split_address(address: str) -> tuple[str, str]:
    """(local, domain) of ``local@domain``, each checked as a path component."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        raise StoreError(f"refusing {ascii(address)}: not an address (local@domain)")
    return check_component(local, "local part"), check_component(domain, "domain")


def home_path(root: str, domain: str, local: str) -> str:
    """``<root>/<domain>/<local>``, refused unless it resolves to exactly that below the root.

    The resolved check catches what a name check cannot: a domain directory or home that
    someone replaced with a symlink (to ``/etc``, or to another domain's directory).
    """
    check_component(domain, "domain")
    check_component(local, "local part")
    path = home_directory(root, domain, local)
    real_root = os.path.realpath(root)
    if os.path.realpath(path) != os.path.join(real_root, domain, local):
        raise StoreError(f"refusing {path}: it does not resolve to a directory below the mail root {root}")
    return path


def home_of(root: str, address: str) -> str:
    local, domain = split_address(address)
    return home_path(root, domain, local)


def check_home(root: str, path: str) -> str:
    """A path read back from the store (or a plan) must be a home ``home_path`` would build."""
    parent, local = os.path.split(path)
    domain = os.path.basename(parent)
    if home_directory(root, domain, local) != path:
        raise StoreError(f"refusing {path}: not a home directly below the mail root {root}")
    return home_path(root, domain, local)
