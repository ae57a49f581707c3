"""The web service in a cluster: which run keeps which sites (README "Cluster: placement and moves").

With ``web`` hosts in ``cluster.hosts`` every site is placed (``place_sites``: the domain's or
tenant's ``placement: {web: host}``, else the capacity-weighted default by the site's name):

* the central run (no ``ISPCTL_HOST``) keeps ``webhost.<site>`` (``hosts``: the host in the
  directory, a change of it a move) and no site files;
* a web host's run (``ISPCTL_HOST`` naming a host with the ``web`` role) keeps the sites placed
  on it (vhosts, pools, docroots, certificates), each with its ``host`` shown; a site placed
  elsewhere is not desired there, so that run archives its files (after the move copied them);
* a run on a host without the ``web`` role keeps nothing of the web service.

No web host in the cluster: every site as before, no ``host``, no ``webhost``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ispctl.providers.web.hosts import KIND as WEBHOST
from ispctl.providers.web.hosts import WebHosts
from ispctl.providers.web.move import MoveJournal, Rsync
from ispctl.providers.web.settings import WebSettings
from ispctl.providers.web.validate import SiteSet
from ispctl.reconciler.contract import (
    CLUSTER,
    DOMAIN,
    Catalog,
    DirectoryPart,
    Problem,
    Resource,
    SiteFile,
    address_of,
    place_sites,
)

SCHEMA = Path(__file__).parent / "schema" / "ispctl-web.ldif"
SCHEMA_PART = DirectoryPart(DOMAIN, {}, schemas=(SCHEMA,))


def placed(catalog: Catalog, sites: SiteSet, resources: list[Resource]) -> tuple[list[Resource], list[Problem]]:
    """The run's web resources from the compiled ``site`` resources (see the module docstring)."""
    placement = place_sites(catalog, {host: site.domain for host, site in sites.sites.items()})
    if not placement.hosts and not placement.problems:
        return resources, []
    this_host = catalog.estate.site.section(CLUSTER).this_host
    if this_host is None:
        out = []
        for site in resources:
            where = placement.hosts.get(site.key)
            if where is None:
                continue
            # home and docroot say what a move copies; they are the site's, not compared here.
            out.append(Resource(WEBHOST, site.key, {"host": where.host, "home": site.attrs.get("home"),
                                                    "docroot": site.attrs.get("docroot")},
                                depends_on=(address_of(DOMAIN, sites.sites[site.key].domain),),
                                create_only=frozenset({"home", "docroot"}), source=site.source))
        return out, placement.problems
    mine = []
    for site in resources:
        where = placement.hosts.get(site.key)
        if where is not None and where.host == this_host:
            mine.append(Resource(site.kind, site.key, {**site.attrs, "host": this_host}, parent=site.parent,
                                 sensitive=site.sensitive, source=site.source))
    return mine, placement.problems


def journal_folder(env: Mapping[str, str]) -> Path:
    """The site moves' journal: ``web/`` in the mail moves' folder (``$ISPCTL_MOVE_JOURNAL``, else
    ``$XDG_STATE_HOME/ispctl/moves``)."""
    if env.get("ISPCTL_MOVE_JOURNAL"):
        return Path(env["ISPCTL_MOVE_JOURNAL"]) / "web"
    state = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "ispctl" / "moves" / "web"


def central_hosts(site: SiteFile, web: WebSettings, env: Mapping[str, str] | None = None) -> WebHosts | None:
    """The directory side for the central run of a cluster with web hosts; None for any other run."""
    from ispctl.providers.ldap.connection import LdapSettings  # the directory client, only where needed
    from ispctl.providers.ldap.settings import DIRECTORY

    env = os.environ if env is None else env
    cluster = site.section(CLUSTER)
    hosts = cluster.with_role("web")
    if not hosts or cluster.this_host is not None:
        return None
    directory = site.section(DIRECTORY)
    locations = {name: cluster.web_files_location(name, web.web_root) for name, _host in hosts}
    return WebHosts(LdapSettings.from_env(env), directory.base_dn, web.web_root, locations,
                    Rsync(env.get("ISPCTL_RSYNC") or "rsync"), MoveJournal(journal_folder(env)), directory.page_size)
