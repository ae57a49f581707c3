"""The directory's replicas: has every consumer the provider's ``contextCSN``?

syncrepl keeps the state of a replicated database in the ``contextCSN`` of its suffix entry:
one value per provider (server id), the CSN of the newest change it holds. A consumer stores
the provider's as its cookie, so a consumer is in sync when, for every server id the provider
has, its own value is at least the provider's (CSNs of one server compare as text:
``YYYYmmddHHMMSS.ffffffZ#count#sid#mod``). How far behind it is in time is the difference of
the two CSNs' times: the age of the newest change it has not got.

The watch reads the provider's values once, right after the apply (through the connection
ispctl applied with), then asks each ``directory_replica`` host of the cluster with the same
account and TLS settings: a replica holds the same accounts, since it holds the whole suffix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap.connection import LdapSettings, connect
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.reconciler.contract import CLUSTER, ProviderError, ReplicaState, SiteFile

if TYPE_CHECKING:
    import ldap3

# ldap3 is imported where this connects (after an apply, in ``ispctl status``), not with the
# module: the registry imports it for every command, a plan included (issue 11).
ROLE = "directory_replica"
SERVICE = "ldap"


def parse_csns(values: list[str]) -> dict[str, str]:
    """``{server id: CSN}`` from ``contextCSN`` values (the newest per server id)."""
    found: dict[str, str] = {}
    for value in values:
        parts = value.split("#")
        if len(parts) != 4:
            continue  # not a CSN: nothing to compare
        sid = parts[2]
        found[sid] = max(found.get(sid, value), value)
    return found


def csn_time(csn: str) -> datetime | None:
    try:
        return datetime.strptime(csn.split("#", 1)[0], "%Y%m%d%H%M%S.%fZ")
    except ValueError:
        return None


def compare(provider: Mapping[str, str], replica: Mapping[str, str]) -> tuple[int, float | None]:
    """How many server ids the replica is behind on, and by how many seconds of changes at most
    (None when it has nothing of a server id the provider has)."""
    behind, lag = 0, 0.0
    unknown = False
    for sid, csn in provider.items():
        mine = replica.get(sid)
        if mine is not None and mine >= csn:
            continue
        behind += 1
        newest, have = csn_time(csn), csn_time(mine) if mine is not None else None
        if newest is None or have is None:
            unknown = True
        else:
            lag = max(lag, (newest - have).total_seconds())
    if not behind:
        return 0, None
    return behind, None if unknown else lag


def read_context_csn(conn: ldap3.Connection, base_dn: str) -> tuple[str, dict[str, str]]:
    """The suffix holding ``base_dn`` (a naming context of the server) and its contextCSN values."""
    import ldap3
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["namingContexts"])
    contexts = [str(v) for v in (conn.response[0].get("attributes", {}).get("namingContexts") or [])] \
        if conn.response else []
    suffix = next((c for c in contexts if dnlib.is_within(base_dn, c)), None)
    if suffix is None:
        raise ProviderError(f"the server holds no naming context above {base_dn} (it has: "
                            f"{', '.join(contexts) or 'none it shows'})")
    conn.search(suffix, "(objectClass=*)", ldap3.BASE, attributes=["contextCSN"])
    values = conn.response[0].get("raw_attributes", {}).get("contextCSN", []) if conn.response else []
    return suffix, parse_csns([v.decode("ascii", "replace") if isinstance(v, bytes) else str(v) for v in values])


class DirectoryReplicas:
    """The provider's contextCSN right after the apply, and each replica's compared with it."""

    def __init__(self, settings: LdapSettings, base_dn: str, replicas: list[tuple[str, str]]) -> None:
        self.settings = settings
        self.base_dn = base_dn
        self.replicas = replicas  # (host, LDAP URL)
        from ldap3.core.exceptions import LDAPException

        conn = connect(settings)
        try:
            self.suffix, self.target = read_context_csn(conn, base_dn)
        except LDAPException as exc:
            raise ProviderError(f"cannot read the contextCSN at {settings.url}: {exc}") from None
        finally:
            conn.unbind()
        if not self.target:
            raise ProviderError(f"the directory at {settings.url} has no contextCSN on {self.suffix}: it is not a "
                                "syncrepl provider (README \"Replication\": syncprov)")
        self._conns: dict[str, ldap3.Connection] = {}

    def poll(self) -> list[ReplicaState]:
        return [self._one(host, url) for host, url in self.replicas]

    def _one(self, host: str, url: str) -> ReplicaState:
        from ldap3.core.exceptions import LDAPException

        state = ReplicaState(SERVICE, host, ROLE, url, in_sync=False)
        try:
            conn = self._conns.get(url)
            if conn is None or conn.closed:
                conn = self._conns[url] = connect(replace(self.settings, url=url))
            suffix, mine = read_context_csn(conn, self.base_dn)
        except (ProviderError, LDAPException) as exc:
            self._drop(url)
            return replace(state, behind=len(self.target), error=str(exc))
        behind, lag = compare(self.target, mine)
        detail = {"provider_csn": sorted(self.target.values()), "replica_csn": sorted(mine.values()),
                  "suffix": suffix,
                  "summary": f"contextCSN {max(mine.values()) if mine else 'none'} < "
                             f"provider's {max(self.target.values())}"}
        return replace(state, in_sync=not behind, behind=behind, lag_seconds=lag, detail=detail)

    def _drop(self, url: str) -> None:
        conn = self._conns.pop(url, None)
        if conn is not None:
            from ldap3.core.exceptions import LDAPException

            try:
                conn.unbind()
            except LDAPException:
                pass

    def close(self) -> None:
        for url in list(self._conns):
            self._drop(url)


def replicas(site: SiteFile, env: Mapping[str, str]) -> DirectoryReplicas | None:
    """``Service.replicas`` of the directory: None when the cluster names no directory replica."""
    cluster = site.section(CLUSTER)
    hosts = [(name, cluster.directory_url(name)) for name, _host in cluster.with_role(ROLE)]
    if not hosts:
        return None
    return DirectoryReplicas(LdapSettings.from_env(env), site.section(DIRECTORY).base_dn, hosts)
