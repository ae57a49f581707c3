"""The web service in a cluster: which run keeps which sites (README "Cluster: placement and moves").

With ``web`` hosts in ``cluster.hosts`` every site is placed (``place_sites``: the domain's or
tenant's ``placement: {web: host}``, else the capacity-weighted default by the domain's name,
written once and the directory's afterwards, as the mailboxes' hosts). Compiled: each site with
its ``host`` and a ``webhost.<site>``; which run keeps which is ``WebProvider.reconciles``:

* the central run (no ``ISPCTL_HOST``) keeps ``webhost.<site>`` (``hosts``: the host in the
  directory, a change of a pinned one a move) and no site files;
* a web host's run (``ISPCTL_HOST``) keeps the sites the directory places on it (``HostRun``;
  a site not written there yet: where git places it). So git's new placement neither archives
  the old copy nor serves an empty new one before the move has copied and switched; after the
  switch the old host's run archives its copy and the new host's serves the copied files;
* a run on a host without the ``web`` role keeps nothing of the web service.

No web host in the cluster: every site as before, no ``host``, no ``webhost``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ispctl.providers.web.hosts import KIND as WEBHOST
from ispctl.providers.web.hosts import SCHEMA, WebHosts
from ispctl.providers.web.settings import WEB, WebSettings
from ispctl.providers.web.validate import SiteSet
from ispctl.reconciler.contract import (
    CLUSTER,
    DOMAIN,
    STICKY,
    Catalog,
    DirectoryPart,
    Problem,
    Resource,
    SiteFile,
    address_of,
    place_sites,
)

SCHEMA_PART = DirectoryPart(DOMAIN, {}, schemas=(SCHEMA,))


def placed(catalog: Catalog, sites: SiteSet, resources: list[Resource]) -> tuple[list[Resource], list[Problem]]:
    """The compiled ``site`` resources, each with its ``host``, and a ``webhost`` per site (see
    the module docstring: which run keeps which is ``WebProvider.reconciles``)."""
    placement = place_sites(catalog, {host: site.domain for host, site in sites.sites.items()})
    if not placement.hosts and not placement.problems:
        return resources, []
    out = []
    for site in resources:
        where = placement.hosts.get(site.key)
        if where is None:
            continue  # its placement was refused: the problem says why
        # A default host is written once and is the directory's afterwards (STICKY); a pinned
        # one is compared, a change of it a move. home and docroot say what a move copies: the
        # site's, never compared on the host's record.
        out.append(Resource(WEBHOST, site.key, {"host": where.host, "home": site.attrs.get("home"),
                                                "docroot": site.attrs.get("docroot")},
                            depends_on=(address_of(DOMAIN, sites.sites[site.key].domain),),
                            create_only=frozenset({"home", "docroot"}) | where.create_only, source=site.source,
                            previous=site.previous))
        # On the web host, the site's host is shown when it is made and never compared: every
        # site a host's run keeps is on that host (``HostRun.keeps``).
        out.append(Resource(site.kind, site.key, {**site.attrs, "host": where.host}, parent=site.parent,
                            sensitive=site.sensitive, source=site.source, create_only=STICKY,
                            previous=site.previous))
    return out, placement.problems


@dataclass
class HostRun:
    """A web host's own run (``ISPCTL_HOST``): the sites the directory places on it."""

    this_host: str
    reader: Callable[[], Mapping[str, str]]  # site -> its host in the directory (one search)
    _placed: Mapping[str, str] | None = None

    def keeps(self, site: Resource) -> bool:
        """Where the directory says (a default host written long ago, a pinned one switched by a
        finished move: never an empty site before its files arrived, never an archive before the
        copy), else (a site the central run has not written yet) where git places it."""
        if self._placed is None:
            self._placed = self.reader()
        # A renamed site is where its former name was until the central run writes the new one.
        known = [self._placed[k] for k in (site.key, *site.previous) if k in self._placed]
        return (known[0] if known else site.attrs.get("host")) == self.this_host


def journal_folder(env: Mapping[str, str]) -> Path:
    """The site moves' journal: ``web/`` in the mail moves' folder (``$ISPCTL_MOVE_JOURNAL``, else
    ``$XDG_STATE_HOME/ispctl/moves``)."""
    if env.get("ISPCTL_MOVE_JOURNAL"):
        return Path(env["ISPCTL_MOVE_JOURNAL"]) / "web"
    state = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "ispctl" / "moves" / "web"


def _hosts(site: SiteFile, web: WebSettings, env: Mapping[str, str]) -> WebHosts:
    from ispctl.providers.ldap.connection import LdapSettings  # the directory client, only where needed
    from ispctl.providers.ldap.settings import DIRECTORY
    from ispctl.providers.web.move import Rsync, site_journal

    cluster = site.section(CLUSTER)
    directory = site.section(DIRECTORY)
    locations = {name: cluster.web_files_location(name, web.web_root) for name, _host in cluster.with_role("web")}
    return WebHosts(LdapSettings.from_env(env), directory.base_dn, web.web_root, locations,
                    Rsync(env.get("ISPCTL_RSYNC") or "rsync"), site_journal(journal_folder(env)), directory.page_size)


def cluster_run(site: SiteFile, web: WebSettings,
                env: Mapping[str, str] | None = None) -> tuple[WebHosts | None, HostRun | None]:
    """(the directory side, None) for the central run of a cluster with web hosts, (None, the
    host's run) for a run with ``ISPCTL_HOST``, (None, None) without web hosts."""
    env = os.environ if env is None else env
    cluster = site.section(CLUSTER)
    if not cluster.with_role("web"):
        return None, None
    if cluster.this_host is None:
        return _hosts(site, web, env), None
    return None, HostRun(cluster.this_host, lambda: placed_sites(site, env))


def placed_sites(site: SiteFile, env: Mapping[str, str]) -> dict[str, str]:
    """Every site's web host in the directory (site -> host), in one search: what a web host's
    own run keeps, and what ``ispctl status`` may count per host."""
    hosts = _hosts(site, site.section(WEB), env)
    try:
        return hosts.placed()
    finally:
        hosts.close()
