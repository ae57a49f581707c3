"""Checks made once, right after connecting and before anything else (the lock included).

A wrong ``directory.base_dn`` or a directory without the ispctl schema used to surface as
a lock error, or as one failure per change at apply; both are said here, plainly, with
what to do about them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import ldap

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.mapping import BASE, KINDS, DirectoryMap
from ispctl.providers.ldap.reader import BASE as SCOPE_BASE
from ispctl.providers.ldap.reader import LOST, Connection, Reader, describe
from ispctl.reconciler.contract import ProviderError

SCHEMA_FILE = Path(__file__).parent / "schema" / "ispctl.ldif"
LOCK_CLASS = "ispctlLock"
# Object classes ispctl writes that come from the standard schemas, and which schema has them.
_STANDARD = {"inetorgperson": "inetorgperson", "posixaccount": "nis", "organization": "core"}
_NAME = re.compile(r"NAME\s+(?:'([^']+)'|\(\s*((?:'[^']+'\s*)+)\))")


def required_classes() -> list[str]:
    names = {LOCK_CLASS}
    for kmap in KINDS.values():
        names.update(kmap.object_classes)
    return sorted(names, key=str.lower)


def defined_classes(definitions: list[str]) -> set[str]:
    """Lower-cased names of the object classes in subschema ``objectClasses`` values."""
    names: set[str] = set()
    for text in definitions:
        found = _NAME.search(text)
        if found is None:
            continue
        names.update(n.lower() for n in re.findall(r"'([^']+)'", found.group(0)))
    return names


def check_directory(conn: Connection, url: str, base_dn: str) -> frozenset[str] | None:
    """The managed base exists and the schema ispctl needs is loaded; ProviderError if not.

    Returns the object classes the server defines (lower-cased; None when it does not let us
    read its schema), for ``missing_classes`` to check the services' parts as they are written:
    a directory needs a service's schema only once an entry is to carry one of its classes.

    Runs on the bulk reader's python-ldap connection (``reader``), which the first read then
    uses: a plan opens one connection and binds once. ``ldap.LDAPError`` from the base check
    propagates (the provider words it)."""
    _check_base(conn, url, base_dn)
    return _check_schema(conn, url)


def check_first(bulk: Reader, settings: LdapSettings, base_dn: str,
                why: Callable[[], str | None]) -> frozenset[str] | None:
    """``check_directory`` on the first connection ``bulk`` opens (kept for its next read), tried
    once; every failure a ProviderError that says what is wrong (``why``: the system's reason a
    connect fails), the connection closed after one."""
    try:
        first = bulk.first()
    except LOST as exc:
        # libldap's detail for a refused connection is "Transport endpoint is not connected":
        # the system's own reason says it better, when there is one.
        reason = why()
        said = f"{describe(exc).split(':')[0]} ({reason})" if reason else describe(exc)
        raise ProviderError(f"cannot connect to the directory at {settings.url} as {settings.bind_dn}: "
                            f"{said}") from None
    try:
        return check_directory(first, settings.url, base_dn)
    except ldap.LDAPError as exc:
        bulk.close()
        raise ProviderError(f"cannot read {base_dn} in the directory at {settings.url}: {describe(exc)}") from None
    except ProviderError:
        bulk.close()
        raise


def missing_classes(url: str, classes: Iterable[str], defined: frozenset[str] | None,
                    dmap: DirectoryMap = BASE) -> str | None:
    """What to say when an entry would carry object classes the server does not define (the
    schema of the service that stores them is not loaded there); None when all are known."""
    if defined is None:
        return None
    missing = sorted({c for c in classes if c.lower() not in defined}, key=str.lower)
    if not missing:
        return None
    wanted = {m.lower() for m in missing}
    files = [str(path) for part in dmap.parts if wanted & {c.lower() for c in part.object_classes}
             for path in part.schemas]
    # One ldapadd per file: ldapadd reads only the last of several -f.
    commands = " && ".join(f"ldapadd -Y EXTERNAL -H ldapi:/// -f {f}" for f in dict.fromkeys(files))
    load = f"load its schema on the LDAP server as root: {commands}" if files else "load the schema that defines it"
    return (f"the directory at {url} does not know the object class{'es' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}, which this entry needs: {load} (README \"The schema, and loading it into a "
            "production directory\"); nothing of this change was written")


def _base_search(conn: Connection, base: str, attributes: list[str],
                 filterstr: str = "(objectClass=*)") -> list[tuple[str, dict[str, list[bytes]]]]:
    data, _controls = conn.result(conn.search(base, SCOPE_BASE, filterstr, attributes))
    return [item for item in data if item[0] is not None]


def _naming_contexts(conn: Connection) -> list[str]:
    try:
        found = _base_search(conn, "", ["namingContexts"])
    except ldap.LDAPError:
        return []
    if not found:
        return []
    values = next((v for k, v in found[0][1].items() if k.lower() == "namingcontexts"), [])
    return [v.decode("utf-8", "replace") for v in values]


def _check_base(conn: Connection, url: str, base_dn: str) -> None:
    try:
        found = bool(_base_search(conn, base_dn, ["1.1"]))
        matched = ""
    except ldap.NO_SUCH_OBJECT as exc:
        info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        found, matched = False, str(info.get("matched") or "")
    if found:
        return
    contexts = _naming_contexts(conn)
    if contexts and not any(dnlib.is_within(base_dn, ctx) for ctx in contexts):
        raise ProviderError(
            f"directory.base_dn {base_dn} is not in the directory at {url}: the server holds "
            f"{', '.join(contexts)}. Fix directory.base_dn in ispctl.yaml (or point ISPCTL_LDAP_URL at "
            "the right server)")
    nearest = f" (its nearest existing parent is {matched})" if matched else ""
    raise ProviderError(
        f"the managed base {base_dn} does not exist in the directory at {url}{nearest}. Create it "
        "(an organizationalUnit, with write access for ispctl's bind DN: README \"The schema, and "
        "loading it\"), or fix directory.base_dn in ispctl.yaml")


def _check_schema(conn: Connection, url: str) -> frozenset[str] | None:
    try:
        found = _base_search(conn, "cn=Subschema", ["objectClasses"], "(objectClass=subschema)")
    except ldap.LDAPError:
        return None  # the server does not let us read its schema: nothing to say about it
    if not found:
        return None
    values = next((v for k, v in found[0][1].items() if k.lower() == "objectclasses"), [])
    defined = defined_classes([v.decode("utf-8", "replace") for v in values])
    if not defined:
        return None
    missing = [name for name in required_classes() if name.lower() not in defined]
    if not missing:
        return frozenset(defined)
    standard = sorted({_STANDARD[m.lower()] for m in missing if m.lower() in _STANDARD})
    ours = [m for m in missing if m.lower() not in _STANDARD]
    parts = []
    if ours:
        parts.append(f"the ispctl schema is not loaded (object class{'es' if len(ours) > 1 else ''} "
                     f"{', '.join(ours)} unknown). Load it on the LDAP server as root: ldapadd -Y EXTERNAL -H "
                     f"ldapi:/// -f {SCHEMA_FILE}")
    if standard:
        parts.append(f"the standard schema{'s' if len(standard) > 1 else ''} {', '.join(standard)} "
                     "(from /etc/ldap/schema) must be loaded first")
    raise ProviderError(f"the directory at {url} cannot hold ispctl's entries: {'; '.join(parts)}. "
                        "See README \"The schema, and loading it into a production directory\"; nothing was "
                        "read or changed")


__all__ = ["SCHEMA_FILE", "check_directory", "check_first", "defined_classes", "missing_classes", "required_classes"]
