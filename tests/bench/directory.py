"""The benchmark's directory side: the OpenLDAP tools, the equivalent LDIF, the refresh peer.

Everything here talks to the bench's own slapd as its root DN over ``ldap://127.0.0.1``,
the path ispctl uses too.
"""

from __future__ import annotations

import base64
import re
import subprocess
import threading
from collections.abc import Mapping
from typing import Any

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap import mapping
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.resources import Resource

# What a Terraform-style refresh runs in parallel (terraform's default -parallelism).
REFRESH_PARALLELISM = 10
_SAFE_LDIF = re.compile(r"[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*")


class BenchError(RuntimeError):
    """A step did not do what it must for its timing to mean anything."""


def tool(slapd: SlapdInstance, name: str, *args: str, input: str | None = None,
         stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """One OpenLDAP client call, bound as the root DN over TCP: the path ispctl uses too."""
    argv = [name, "-x", "-H", slapd.url, "-D", slapd.bind_dn, "-y", str(slapd.password_file), *args]
    return subprocess.run(argv, input=input, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)


def tool_argv(slapd: SlapdInstance, name: str, *args: str, url: str | None = None) -> list[str]:
    return [name, "-x", "-H", url or slapd.url, "-D", slapd.bind_dn, "-y", str(slapd.password_file), *args]


def _dns(ldif: str) -> list[str]:
    found = []
    for line in ldif.splitlines():
        if line.startswith("dn:: "):
            found.append(base64.b64decode(line[5:]).decode("utf-8"))
        elif line.startswith("dn: "):
            found.append(line[4:])
    return found


def managed_children(slapd: SlapdInstance) -> list[str]:
    result = tool(slapd, "ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-s", "one",
                  "-b", slapd.managed_base, "(objectClass=*)", "1.1")
    if result.returncode != 0:
        raise BenchError(f"ldapsearch of {slapd.managed_base} failed: {result.stderr}")
    return _dns(result.stdout)


def managed_entries(slapd: SlapdInstance) -> list[str]:
    """The DN of every entry ispctl manages (the provider's filter), read with ldapsearch."""
    result = tool(slapd, "ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-E", "pr=1000/noprompt",
                  "-b", slapd.managed_base, mapping.SEARCH_FILTER, "1.1")
    if result.returncode != 0:
        raise BenchError(f"listing the entries under {slapd.managed_base} failed: {result.stderr}")
    return _dns(result.stdout)


def count_managed(slapd: SlapdInstance) -> int:
    return len(managed_entries(slapd))


def clear_managed(slapd: SlapdInstance) -> None:
    """Delete everything below the managed base, keeping the base itself."""
    children = managed_children(slapd)
    if children:
        result = tool(slapd, "ldapdelete", "-r", "-c", input="\n".join(children) + "\n")
        if result.returncode != 0:
            raise BenchError(f"ldapdelete -r failed: {result.stderr}")
    if managed_children(slapd):
        raise BenchError(f"{slapd.managed_base} still has entries after clearing it")


def ldif_line(attr: str, value: str) -> str:
    # RFC 2849: values that are not SAFE-STRINGs go base64-encoded.
    if value and _SAFE_LDIF.fullmatch(value) and not value.endswith(" "):
        return f"{attr}: {value}\n"
    return f"{attr}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}\n"


def _depth(resource: Resource, index: Mapping[str, Resource]) -> int:
    depth, parent = 0, resource.parent
    while parent is not None:
        depth += 1
        parent = index[parent].parent
    return depth


def equivalent_ldif(desired: Mapping[tuple[str, str], Resource], base_dn: str) -> str:
    """The entries an apply creates, as LDIF: same DNs, same attributes, parents first."""
    by_address = {r.address: r for r in desired.values()}
    ordered = sorted(desired.values(), key=lambda r: (_depth(r, by_address), r.address))
    dn_of: dict[str, str] = {}
    records = []
    for resource in ordered:
        parent_dn = base_dn if resource.parent is None else dn_of[resource.parent]
        entry_dn = dnlib.child(mapping.KINDS[resource.kind].rdn_attr, resource.key, parent_dn)
        dn_of[resource.address] = entry_dn
        lines = [ldif_line("dn", entry_dn)]
        for attr, values in mapping.entry_attributes(resource).items():
            lines += [ldif_line(attr, str(value)) for value in values]
        records.append("".join(lines))
    return "\n".join(records)


def refresh_peer(slapd: SlapdInstance, dns: list[str], parallelism: int = REFRESH_PARALLELISM,
                 url: str | None = None) -> int:
    """A Terraform-style refresh: one base-scope read per entry, ``parallelism`` at a time.

    Each worker has its own connection (python-ldap, the C client the provider's bulk read
    uses) and reads the same attributes with the same filter as the provider; returns how
    many entries came back, which must be all of them. ``url`` (default: slapd's own) lets
    it go through the latency relay.
    """
    import ldap  # here: only this peer needs it

    attrs = mapping.search_attributes()
    found = [0] * parallelism
    failures: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            conn: Any = ldap.initialize(url or slapd.url)
            conn.protocol_version = 3
            conn.simple_bind_s(slapd.bind_dn, slapd.password)
            try:
                for entry_dn in dns[slot::parallelism]:
                    found[slot] += len(conn.search_ext_s(entry_dn, ldap.SCOPE_BASE, mapping.SEARCH_FILTER, attrs))
            finally:
                conn.unbind_s()
        except BaseException as exc:  # reported by the caller, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(parallelism)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise BenchError(f"the refresh peer failed: {failures[0]!r}")
    return sum(found)
