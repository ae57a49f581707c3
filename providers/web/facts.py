"""What the web rules across files read of each domain file (``Service.facts``, ``estate.facts``).

A narrowed plan loads a changed file together with every file sharing a name with it, the
files declaring what those need, and adds the totals of the files it did not load
(``Catalog.outside``). Per rule of ``validate``, ``mailconfig`` and ``placement`` that looks
past its own file, the fact that keeps both ends in one run:

* a host name (a site's, an alias, a derived ``autoconfig.``/``mta-sts.`` site) claimed twice
  anywhere, a former name (``previous:``) claimed now or by two sites: ``host:<ascii>``, named
  by every file that claims or renames it;
* a site's host inside another domain of the estate (a sub-domain with a file of its own):
  ``domain:<name>`` of every name between the host and its domain, named;
* an alias in a domain of the estate, of the same tenant, whose zone ispctl serves for DNS-01:
  ``domain:<name>`` of every name the alias is in, needed (its domain's file must be loaded for
  the alias to be valid at all);
* redirect loops through sites of several files: each URL target's ``host:<ascii>`` and the
  wildcard aliases that could answer it (``host:*.<parent>``), needed, so the sites a chain
  passes are loaded transitively;
* two tenants with sites on one uid: the rule runs over every tenant (all tenant files are
  always loaded), and whether a tenant has sites is the ``sites:<tenant>`` total of its
  domain files, which ``validate`` adds from ``Catalog.outside`` (``sites_key``);
* web hosts' capacity: ``placed:web:<host>`` totals (``placed_key``), the sites of the file
  placed on each host (the estate's placement rule adds them from ``Catalog.outside``).

Docroots, redirects' own rules, logins, HSTS and the rest are checked within the site's own
file; uids, homes and statuses come from the tenant files and ispctl.yaml, which every run loads.
Names are taken from what the file wrote (normalised; a name that does not normalise is left
out, its file has a problem then), so a subset still too small learns from them which files to
add; the placement totals are counted from the compiled sites, which only a valid run's
snapshot keeps.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ispctl.providers.dns import mailconfig as derive
from ispctl.providers.web.compile import KIND
from ispctl.providers.web.settings import DOMAIN_WEB, full_host, inside
from ispctl.providers.web.validate import sites_key
from ispctl.reconciler.contract import Catalog, Compiled, Facts, FactsBuilder, FileFacts, NDomain, placed_key


def host_name(host: str) -> str:
    return f"host:{host}"


def _domain_name(domain: str) -> str:
    return f"domain:{domain}"


def _parents(name: str) -> list[str]:
    """The names ``name`` is in that a domain of the estate could be (each still with a dot)."""
    out = []
    while "." in name:
        name = name.split(".", 1)[1]
        if "." in name:
            out.append(name)
    return out


def _host(written: str, domain: str) -> str | None:
    try:
        return full_host(written, domain)
    except ValueError:
        return None  # validation reports it


def _domain(into: FileFacts, domain: NDomain) -> None:
    name = domain.name
    if derive.eligible(domain):
        # Both derived names, whether the settings derive them or not: a name too many only
        # loads a file more, and the settings are the same for every file.
        into.declared.update(host_name(f"{label}.{name}") for label in (derive.AUTOCONFIG, derive.MTA_STS))
    for key, spec in domain.spec.section(DOMAIN_WEB).effective_sites().items():
        host = _host(key, name)
        if host is None:
            continue
        into.declared.add(host_name(host))
        if host != name and inside(host, name):
            # A domain of its own between the host and this one takes the host (``owner``).
            into.named.update(_domain_name(p) for p in [host, *_parents(host)] if p != name and inside(p, name))
        for written in spec.aliases:
            alias = _host(written, name)
            if alias is None:
                continue
            into.declared.add(host_name(alias))
            bare = alias[2:] if alias.startswith("*.") else alias
            into.used.update(_domain_name(p) for p in [bare, *_parents(bare)] if "." in p and p != name)
        for written in spec.previous:
            old = _host(written, name)
            if old is not None:
                into.named.add(host_name(old))
        for rule in spec.redirects:
            if rule.to.startswith("/"):
                continue  # a path on this same site
            target = (urlsplit(rule.to).hostname or "").rstrip(".")
            found = _host(target, name) if "." in target else None
            if found is not None:
                into.used.add(host_name(found))
                into.used.update(host_name("*." + p) for p in _parents(found))


def web_facts(catalog: Catalog, compiled: Compiled) -> dict[str, Facts]:
    """Every domain file's web facts (module docstring), from the catalog and the compiled sites."""
    out = FactsBuilder()
    of = out.of
    for domain in catalog.domains.values():
        if "web" not in domain.services:
            continue
        into = of(domain.origin.doc.file)
        _domain(into, domain)
        into.count(sites_key(domain.tenant), len(domain.spec.section(DOMAIN_WEB).effective_sites()))
    for resource in compiled.resources:
        host = resource.attrs.get("host") if resource.kind == KIND else None
        if isinstance(host, str) and resource.source is not None:
            of(resource.source.file).count(placed_key("web", host))
    return out.build()


__all__ = ["host_name", "web_facts"]
