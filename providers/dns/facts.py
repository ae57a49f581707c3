"""What the DNS rules read across domain files (``Service.facts``; see ``estate.facts``).

A zone is one domain file's (its ``dns:`` section and the derived records), except in two ways
(``validate._DnsChecker``), which are what this declares:

* a web site's host or alias is published in the zone of the most specific domain of the estate
  it is in (``site_owners``), which may be another file's (a site alias ``shop.other.example``;
  a subdomain's file takes the names below it, and when it goes the next zone up does);
* an alias domain's MX is its target's (``target_mx``), and the rules of its zone check it.

Every domain file names ``dnsname:<domain>`` (it declares the name) and needs ``zone:<domain>``,
which every other file whose hosts land in its zone names: whenever the zone is compiled (its
file loaded), they are loaded with it and the zone gets all its records. A host names each name
it passes on its way up to the zone it lands in (one of them becoming a domain moves it); when
that zone is another file's, the host's file names ``zone:<it>`` and needs its ``dnsname:`` and
that of every domain above it (the next zone up takes the host if that file goes). Within its
own domain a host needs nothing: the zone is there as long as the file is. An alias domain with
a zone needs its target's ``dnsname:``. A file never needs a name it declares (a narrowed run
looks a need up among the files that name it without needing it).

Nothing else of a zone depends on another file: the owners of explicit records are checked
against the zone's own name only, and the DKIM keys come from the key store by the domain's own
name. Without a ``dns:`` section in ``ispctl.yaml`` there are no zones and the only rules left
are a file's own (its ``dns:`` section refused), so there are no facts.
"""

from __future__ import annotations

from collections.abc import Mapping

from ispctl.providers.dns.settings import DNS
from ispctl.providers.dns.validate import web_hosts
from ispctl.reconciler.contract import Catalog, Compiled, Facts, FactsBuilder, NDomain

NAME = "dnsname:"  # a domain's name, as its file declares it and as hosts pass or need it
ZONE = "zone:"  # the zone a host of another file is published in


def dns_facts(catalog: Catalog, compiled: Compiled) -> dict[str, Facts]:
    """Each domain file's names and needs of the zones (module docstring)."""
    if not catalog.estate.site.has_section(DNS):
        return {}
    out = FactsBuilder()
    domains = catalog.domains
    for domain in domains.values():
        file = domain.doc.file
        out.name(file, NAME + domain.name)
        out.need(file, ZONE + domain.name)
        if domain.type == "alias" and domain.alias_of is not None and "dns" in domain.services:
            out.need(file, NAME + domain.alias_of)
        if "web" in domain.services:
            for host in web_hosts(domain):
                _host(out, file, domain, host, domains)
    return out.build()


def _host(out: FactsBuilder, file: str, domain: NDomain, host: str, domains: Mapping[str, NDomain]) -> None:
    """The names a web host's way up to its zone passes, as ``site_owners`` walks it."""
    name = host[2:] if host.startswith("*.") else host
    landed = False
    while "." in name:
        if name in domains:
            if name == domain.name:
                return  # its own zone (there while this file is), or the file's own name above it
            if not landed:
                out.name(file, ZONE + name)
                landed = True
            out.need(file, NAME + name)
        elif not landed:
            out.name(file, NAME + name)
        name = name.split(".", 1)[1]
