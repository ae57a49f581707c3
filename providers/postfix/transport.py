"""Routing in a cluster: each mailbox's mail goes to the LMTP server of the host storing it.

Every mailbox's entry names its mail_store host (``mailHost``, written from the placement;
README "Cluster: placement and moves"). For each mail_store host of ``cluster:`` one
ldap_table(5) answers the addresses of the active mailboxes placed there with
``lmtp:[address]:port``, that host's ``lmtp`` endpoint: Postfix reads the routing from the
directory at every delivery, so a mailbox moved to another host (its entry switched) is
delivered there from the next message on, with no map to rebuild. They come after the bounce
table in ``transport_maps`` (a suspended mailbox still bounces); an address no table answers
takes ``virtual_transport``. Without mail_store hosts there are no such tables.
"""

from __future__ import annotations

from ispctl.reconciler.contract import CLUSTER, SiteFile


def lmtp_nexthop(endpoint: str) -> str:
    """``host:port`` (or ``[v6]:port``) as a transport(5) result: ``lmtp:[host]:port``."""
    host, _, port = endpoint.rpartition(":") if not endpoint.endswith("]") else (endpoint, "", "")
    if not host:
        host, port = endpoint, ""
    bracketed = host if host.startswith("[") else f"[{host}]"
    return f"lmtp:{bracketed}:{port}" if port else f"lmtp:{bracketed}"


def host_routes(site: SiteFile) -> list[tuple[str, str, str]]:
    """(table name, host, transport) for every mail_store host, in name order."""
    cluster = site.get_section(CLUSTER)  # None: a site made without it (a sandbox's), one host
    if cluster is None:
        return []
    return [(f"transport_host_{name.replace('.', '_').replace('-', '_')}", name,
             lmtp_nexthop(cluster.lmtp_address(name)))
            for name, _host in cluster.with_role("mail_store")]
