"""Kind ``webhost``: each site's web host in the directory, and a move when it changes.

In a cluster with ``web`` hosts every site is placed on one (``placement``). The central run
(no ``ISPCTL_HOST``) keeps ``webhost.<site>`` (attribute ``host``) as a value
``"<site> <host>"`` of ``ispctlWebHost`` on the site's domain entry (auxiliary class
``ispctlWebHosted``, ``schema/ispctl-web.ldif``: ISPMan's ``webHost``, per site). Created with
the site (nothing to copy yet); an update from one host to another is a move (``move``: copy,
switch this value, sync again); a delete (the site is gone, or the cluster no longer places
sites) removes the value. It is a kind of its own because the switch is the middle step of the
move and must wait for the copy, and so the plan shows ``host: A -> B``.

The live state is one paged search for the domain entries holding ``ispctlWebHost`` and the
move journal: an interrupted move shows as the live attribute ``moving: A -> B`` (never
desired), so the plan proposes to finish it towards the host git says now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ispctl.providers.ldap.connection import LdapSettings, OnDemandConnection, first_value, paged_entries
from ispctl.providers.ldap.dn import escape_filter

# The move journal's helpers are looked up on the contract when a function runs: the journal's
# module loads then, not with the registry (issue 11; a plan without hosts never needs it).
from ispctl.reconciler import contract
from ispctl.reconciler.contract import DOMAIN, ProviderError, Resource, address_of

if TYPE_CHECKING:
    import ldap3

    from ispctl.providers.web.move import Rsync
    from ispctl.reconciler.contract import MoveJournal

KIND = "webhost"
CLASS = "ispctlWebHosted"
ATTR = "ispctlWebHost"
SCHEMA = Path(__file__).parent / "schema" / "ispctl-web.ldif"  # defines both


class WebHosts(OnDemandConnection):
    """The directory side of ``webhost`` and the moves (the web provider's central run)."""

    def __init__(self, ldap: LdapSettings, base_dn: str, web_root: str, locations: Mapping[str, str],
                 rsync: Rsync, journal: MoveJournal, page_size: int = 1000) -> None:
        self.ldap = ldap
        self.base_dn = base_dn
        self.web_root = web_root
        self.locations = dict(locations)  # web host -> its web root as rsync reaches it
        self.rsync = rsync
        self.journal = journal
        self.page_size = page_size
        self._conn: ldap3.Connection | None = None

    def read(self) -> list[Resource]:
        pending = self.journal.pending()
        found: list[Resource] = []
        for entry in self._search(f"(&(objectClass=ispctlDomain)({ATTR}=*))", ["associatedDomain", ATTR]):
            domain = first_value(entry, "associatedDomain")
            for value in entry.get(ATTR) or []:
                site, _, host = str(value).partition(" ")
                if not site or not host or domain is None:
                    continue
                moving = pending.get(site)
                found.append(Resource(KIND, site, contract.moving_attrs(host, moving),
                                      depends_on=(address_of(DOMAIN, domain),),
                                      interrupted=moving.describe() if moving else None))
        return found

    def placed(self) -> dict[str, str]:
        """Every site's host in the directory (site -> host), in one search."""
        return {r.key: str(r.attrs["host"]) for r in self.read()}

    def _search(self, filterstr: str, attrs: list[str]) -> Iterable[Mapping[str, Any]]:
        return paged_entries(self.conn, self.base_dn, filterstr, attrs, self.page_size, "web hosts")

    def _write(self, site: str, domain: str | None, host: str | None) -> None:
        """The site's one value on its domain entry: ``host`` (None: no value). Any other entry
        holding a value for the site (its domain was another before: a sub-domain got a file of
        its own) loses it, so a site has one value in the whole directory."""
        import ldap3  # here, not with the module: the registry imports it for every command (issue 11)
        from ldap3.core.exceptions import LDAPException

        holding = f"({ATTR}={escape_filter(site)} *)"
        which = f"(|(associatedDomain={escape_filter(domain)}){holding})" if domain else holding
        found = list(self._search(f"(&(objectClass=ispctlDomain){which})", ["objectClass", "associatedDomain", ATTR]))
        if host is not None and not any(first_value(e, "associatedDomain") == domain for e in found):
            raise ProviderError(f"the directory has no domain entry for {domain} (site {site})")
        for entry in found:
            values = [str(v) for v in entry.get(ATTR) or []]
            keep = [v for v in values if v.partition(" ")[0] != site]
            mine = host is not None and first_value(entry, "associatedDomain") == domain
            new = keep + ([f"{site} {host}"] if mine else [])
            if sorted(new) == sorted(values):
                continue
            classes = {str(c).lower() for c in entry.get("objectClass") or []}
            changes: dict[str, list[tuple[str, list[str]]]] = {ATTR: [(ldap3.MODIFY_REPLACE, new)]}
            if new and CLASS.lower() not in classes:
                changes["objectClass"] = [(ldap3.MODIFY_ADD, [CLASS])]
            elif not new and CLASS.lower() in classes:
                changes["objectClass"] = [(ldap3.MODIFY_DELETE, [CLASS])]
            try:
                ok = self.conn.modify(str(entry["dn"]), changes)
                reason = "" if ok else str(self.conn.result.get("description"))
            except LDAPException as exc:
                ok, reason = False, str(exc)
            if not ok:
                raise ProviderError(f"site {site}: cannot write {ATTR}: {reason}{_schema_hint(reason)}")

    def create(self, resource: Resource) -> None:
        self._write(resource.key, _domain(resource), contract.placed_host(resource))

    def delete(self, resource: Resource) -> None:
        self._write(resource.key, _domain(resource), None)

    def update(self, before: Resource, after: Resource) -> None:
        source, target = contract.placed_host(before), contract.placed_host(after)
        earlier = contract.interrupted_hosts(before)
        domain = _domain(after)
        if source == target and not earlier:
            self._write(after.key, domain, target)
            return
        # A move's modules (rsync, the journal's steps) load when a site moves, not with the provider.
        from ispctl.providers.web.move import MoveError, SiteFilesToMove, move_site

        home, docroot = after.attrs.get("home"), after.attrs.get("docroot")
        if not isinstance(home, str) or not isinstance(docroot, str):
            raise MoveError(f"moving {after.key}: its home and docroot are not known")
        files = SiteFilesToMove.of(after.key, home, docroot, self.web_root)
        move_site(files, source, target, self.locations, self.rsync, self.journal,
                  lambda: self._write(after.key, domain, target), also=earlier)


def _schema_hint(reason: str) -> str:
    """What to do when the directory does not know the attribute or class (its schema is not loaded)."""
    if "undefinedAttributeType" in reason or "objectClassViolation" in reason:
        return f" (the directory lacks the web service's schema: ldapadd -Y EXTERNAL -H ldapi:/// -f {SCHEMA})"
    return ""


def describe(before: Resource | None, after: Resource | None) -> tuple[str, ...]:
    if before is None or after is None:
        return ()
    source, target = contract.placed_host(before), contract.placed_host(after)
    if source == target:
        moving = before.attrs.get("moving")
        return (f"finishes the interrupted move ({moving}): copies the site's files to {target} again",) \
            if moving else ()
    return (f"copies the site's files from {source} to {target} with rsync, switches "
            f"{ATTR} once the copy is complete, syncs again; the old copy is archived by the web run on "
            f"{source}",)


def _domain(resource: Resource) -> str | None:
    for dep in resource.depends_on:
        if dep.startswith(DOMAIN + "."):
            return dep[len(DOMAIN) + 1:]
    return None
