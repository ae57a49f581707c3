"""DNS rules: every zone built from the desired state, checked, with file:line problems.

The DNS service's compile hook runs it on the estate's catalog, after the estate's own
cross-file rules; it builds a ``ZoneSet`` (``compile``) and the problems found on the way.

DNS is managed only when ``ispctl.yaml`` has a ``dns:`` section. Then every domain with
the ``dns`` service gets a zone: ``primary`` and ``alias`` domains a primary zone (its
records from the domain's ``dns:`` section plus the derived ones), ``slave`` domains a
secondary zone from their ``primaries``; ``nodns`` domains none.

Names follow zone-file rules: a name with a trailing dot is absolute, one without is
relative to the zone, ``@`` is the apex. A relative name that ends in the zone's own name
(``www.example.net`` in zone example.net) is reported instead of being read as
``www.example.net.example.net.``, the classic zone-file slip. Owner names are folded to
lower-case ASCII (IDNA for Unicode labels), so two spellings of one name are a duplicate.

Rules: CNAME alone at its name and never at the apex; MX, NS and SRV targets inside the
zone are not CNAMEs; owners inside the zone; IP literals of the right family; TTLs
0..2^31-1 (the model); explicitly split TXT strings of at most 255 bytes; no duplicate
values or owners; ``*`` only as the whole leftmost label; nothing that an ``ignore`` rule
gives to other tools; no ``dns:`` section where no zone is managed; DKIM keys present. The
rules of record sets and of a zone's sets together are ``record_rules`` (the checker's base).
"""

from __future__ import annotations

import weakref
from typing import Protocol, runtime_checkable

from ispctl.providers.dns import dkim, mailconfig
from ispctl.providers.dns.compile import RRset, Zone, ZoneSet, derived_rrsets
from ispctl.providers.dns.names import (
    MISSING_KEY,
    RESERVED_OWNER,
    BadValue,
    default_mname,
    default_rname,
    ignored_by,
    is_reserved_owner,
    owner_name,
    primary_address,
    rname_text,
    target_name,
)
from ispctl.providers.dns.record_rules import RecordRules
from ispctl.providers.dns.settings import DNS, DOMAIN_DNS, DnsSettings, DomainDns
from ispctl.reconciler.contract import Catalog, FieldPath, NDomain, Problem

# --- zones ---------------------------------------------------------------------------


@runtime_checkable
class ServedHosts(Protocol):
    """A domain's ``web:`` section as the web service declares it, seen without importing
    that service (which builds on this one: its DNS-01 challenges go through DNS)."""

    def served_hosts(self, domain: str) -> tuple[str, ...]: ...


def web_hosts(domain: NDomain) -> tuple[str, ...]:
    """Every name the domain's web sites answer (ASCII); the apex and www without the web
    service's section (a registry without the web service)."""
    section = getattr(domain.spec, "web", None)
    if isinstance(section, ServedHosts):
        return section.served_hosts(domain.name)
    return (domain.name, "www." + domain.name)


class _DnsChecker(RecordRules):
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.site = catalog.estate.site
        self.settings: DnsSettings = self.site.section(DNS)
        self.result = ZoneSet(enabled=self.site.has_section(DNS))
        self.problems: list[Problem] = []
        self.web_owners: dict[str, set[str]] = {}

    def section_rules(self, domain: NDomain) -> None:
        if domain.spec.get_section(DOMAIN_DNS) is None:
            return
        if not self.result.enabled:
            self.report(domain.doc, ("dns",), "DNS is not managed by this estate: add a dns: section (at least ns:) to "
                                              "ispctl.yaml")
        elif domain.type in ("nodns", "slave"):
            why = "its DNS is elsewhere" if domain.type == "nodns" else "its zone is a secondary copy of the primaries"
            self.report(domain.doc, ("dns",), f"a {domain.type} domain has no dns: section ({why})")
        elif "dns" not in domain.services:
            self.report(domain.doc, ("dns",), "this domain does not enable the dns service (add 'dns' to services)")

    def run(self) -> ZoneSet:
        domains = list(self.catalog.domains.values())
        for domain in domains:
            self.section_rules(domain)
        if not self.result.enabled:
            return self.result
        self.web_owners = self.site_owners(domains)
        # Alias domains last: their MX follows their target's zone.
        for domain in sorted(domains, key=lambda d: d.type == "alias"):
            if "dns" not in domain.services or domain.type == "nodns":
                continue
            source = domain.doc.location(("domain",))
            if domain.type == "slave":
                primaries = self.primaries(domain)
                self.result.zones[domain.name] = Zone(domain.name, "secondary", source, primaries=primaries)
            else:
                self.result.zones[domain.name] = self.primary(domain)
        return self.result

    def site_owners(self, domains: list[NDomain]) -> dict[str, set[str]]:
        """Zone -> owners (relative) where a web site answers: each name goes to the zone of the
        most specific domain of the estate it is in, when that domain has a primary zone here."""
        primary = {d.name for d in domains if "dns" in d.services and d.type in ("primary", "alias")}
        out: dict[str, set[str]] = {}
        for domain in domains:
            if "web" not in domain.services:
                continue
            for host in web_hosts(domain):
                name = host[2:] if host.startswith("*.") else host
                while "." in name and name not in self.catalog.domains:
                    name = name.split(".", 1)[1]
                if name in primary:
                    owner = "@" if host == name else host[: -len(name) - 1]
                    out.setdefault(name, set()).add(owner)
            mx = self.mail_sites(domain)
            if mx is not None:  # the web service's derived sites (mailconfig)
                out.setdefault(domain.name, set()).update(mailconfig.hosts(self.settings.mail, mx))
        return out

    def mail_sites(self, domain: NDomain) -> tuple[str, ...] | None:
        """The MX the MTA-STS policy names when the web service derives autoconfig and MTA-STS
        sites for the domain (``mailconfig``); None when it derives none."""
        if not mailconfig.eligible(domain) or not isinstance(getattr(domain.spec, "web", None), ServedHosts):
            return None  # a registry without the web service serves no such sites
        return mailconfig.domain_mx(domain, self.settings.mail)

    def mail_txt(self, domain: NDomain) -> dict[str, str]:
        mx = self.mail_sites(domain)
        return mailconfig.txt_records(self.settings.mail, mx) if mx is not None else {}

    def primaries(self, domain: NDomain) -> tuple[str, ...]:
        """A secondary zone's primaries: they go into named's config and the catalog verbatim."""
        found: list[str] = []
        for index, raw in enumerate(domain.primaries):
            try:
                address = primary_address(raw)
            except BadValue as exc:
                self.report(domain.doc, ("primaries", index), str(exc))
                continue
            if address in found:
                self.report(domain.doc, ("primaries", index), f"{raw} is listed twice")
                continue
            found.append(address)
        return tuple(found)

    # -- a primary zone -----------------------------------------------------------------

    def primary(self, domain: NDomain) -> Zone:
        doc, written = domain.doc, domain.spec.get_section(DOMAIN_DNS)
        spec = written or DomainDns()
        zone = domain.name
        settings = self.settings
        ttl = spec.ttl if spec.ttl is not None else settings.default_ttl
        source = doc.location(("dns",) if written is not None else ("domain",))
        ns = self.name_servers(domain, spec)
        soa = self.soa(domain, spec, ns)
        explicit = self.explicit(domain, spec, ttl)
        derived = derived_rrsets(
            zone, settings, domain.services, ttl, doc.location(("domain",)),
            target_mx=self.target_mx(domain), dkim_keys=self.dkim_keys(domain, explicit),
            web_owners=self.web_owners.get(zone, ()), mail_txt=self.mail_txt(domain),
        )
        rrsets: dict[tuple[str, str], RRset] = {}
        cname_owners = {o for (o, t), rr in explicit.items() if t == "CNAME" and rr.records}
        for key, rrset in derived.items():
            if key in explicit or key[0] in cname_owners or ignored_by(settings.ignore, *key) is not None:
                continue
            rrsets[key] = rrset
        rrsets.update((k, rr) for k, rr in explicit.items() if rr.records)
        self.zone_rules(doc, zone, rrsets, ns, spec)
        return Zone(zone, "primary", source, soa=soa, ns=ns, default_ttl=ttl, rrsets=rrsets)

    def name_servers(self, item: NDomain, spec: DomainDns) -> tuple[str, ...]:
        zone = item.name
        if spec.ns is None:
            found = tuple(self.settings.ns)
        else:
            names = []
            for index, raw in enumerate(spec.ns):
                try:
                    names.append(target_name(str(raw), zone))
                except BadValue as exc:
                    self.report(item.doc, ("dns", "ns", index), str(exc))
            found = tuple(names)
            if not spec.ns:
                self.report(item.doc, ("dns", "ns"), "needs at least one name server")
        if not found and spec.ns is None:
            self.report(item.doc, ("domain",), f"zone {zone} has no name servers: list them as dns.ns in ispctl.yaml "
                                               "(or in this file's dns: section)")
        return tuple(sorted(set(found)))

    def soa(self, item: NDomain, spec: DomainDns, ns: tuple[str, ...]) -> str:
        zone, site = item.name, self.settings.soa
        over = spec.soa
        mname = default_mname(self.settings, ns)
        try:
            rname = default_rname(self.settings, zone)
        except BadValue as exc:
            self.report(self.catalog.estate.site_doc, ("dns", "soa", "rname"), str(exc))
            rname = "."
        if over is not None:
            for field_name in ("mname", "rname"):
                raw = getattr(over, field_name)
                if raw is None:
                    continue
                try:
                    value = target_name(raw, zone) if field_name == "mname" else rname_text(raw, zone)
                except BadValue as exc:
                    self.report(item.doc, ("dns", "soa", field_name), str(exc))
                    continue
                if field_name == "mname":
                    mname = value
                else:
                    rname = value
        timers = []
        for field_name in ("refresh", "retry", "expire", "minimum"):
            timer = getattr(over, field_name) if over is not None else None
            timers.append(str(timer if timer is not None else getattr(site, field_name)))
        return " ".join([mname, rname, *timers])

    def target_mx(self, domain: NDomain) -> tuple[str, ...] | None:
        """An alias domain's mail goes where its target's does (our MX, or its override)."""
        if domain.type != "alias" or domain.alias_of is None:
            return None
        target = self.result.zones.get(domain.alias_of)
        if target is None or target.kind != "primary":
            return None
        rrset = target.rrsets.get(("@", "MX"))
        return rrset.records if rrset is not None else ()

    def dkim_keys(self, domain: NDomain, explicit: dict[tuple[str, str], RRset]) -> dict[str, str]:
        """Selector -> TXT value of every current key of the domain (two while it rotates)."""
        settings = self.settings.dkim
        if settings is None or domain.type != "primary" or "mail" not in domain.services:
            return {}
        store = dkim.key_dir(settings.key_dir)
        try:
            selectors = dkim.current_selectors(store, domain.name) or [settings.selector]
            out: dict[str, str] = {}
            for selector in selectors:
                owner = f"{selector}._domainkey"
                if (owner, "TXT") in explicit or ignored_by(self.settings.ignore, owner, "TXT") is not None:
                    continue  # published by hand, or by another tool: no key of ours is needed
                public = dkim.read_public(store, domain.name, selector)
                if public is None:
                    self.result.missing_keys.append((domain.name, selector))
                    self.report(domain.doc, ("domain",), f"no DKIM key for {domain.name} (selector {selector}) in "
                                                         f"{store / domain.name}: run 'ispctl dkim init' to create "
                                                         "it; plan and apply never make keys", code=MISSING_KEY)
                    continue
                out[selector] = dkim.txt_value(public)
        except dkim.DkimError as exc:
            self.report(domain.doc, ("domain",), str(exc))
            return {}
        return out

    def explicit(self, item: NDomain, spec: DomainDns, zone_ttl: int) -> dict[tuple[str, str], RRset]:
        doc, zone = item.doc, item.name
        raw_records = (doc.data.get(DOMAIN_DNS.name) or {}).get("records") or {}
        out: dict[tuple[str, str], RRset] = {}
        owners: dict[str, str] = {}
        for owner_key, types in spec.records.items():
            owner_path: FieldPath = ("dns", "records", owner_key)
            try:
                owner = owner_name(owner_key, zone)
            except BadValue as exc:
                self.report(doc, owner_path, str(exc))
                continue
            if is_reserved_owner(owner):
                self.report(doc, owner_path, f"{RESERVED_OWNER} is where ispctl keeps its fingerprints in the zone; "
                                             "choose another name")
                continue
            if owner in owners:
                first = doc.location(("dns", "records", owners[owner]))
                self.report(doc, owner_path, f"{owner_key!r} names the same owner as {owners[owner]!r} at line "
                                             f"{first.line} ({owner}); merge them")
                continue
            owners[owner] = owner_key
            raw_types = raw_records.get(owner_key) if isinstance(raw_records, dict) else None
            for type_key, rrset in types.items():
                found = self.rrset(doc, zone, owner, owner_key, type_key, rrset, zone_ttl, raw_types)
                if found is not None:
                    out[(owner, found.rdtype)] = found
        return out


# --- entry points ----------------------------------------------------------------------

# The zones of the last estate checked: the DNS service's compile and the OpenDKIM service's (it
# signs for the zones that publish a key of ours) both need them, and building them twice cost
# 0.6-1.0 s at 1,000 domains with DKIM. One entry, dropped with its catalog.
_LAST: list[tuple[weakref.ref[Catalog], ZoneSet, list[Problem]]] = []


def check_zones(catalog: Catalog) -> tuple[ZoneSet, list[Problem]]:
    """Build and check every zone of the estate (once per catalog)."""
    if _LAST and _LAST[0][0]() is catalog:
        return _LAST[0][1], list(_LAST[0][2])
    checker = _DnsChecker(catalog)
    zones = checker.run()
    _LAST[:] = [(weakref.ref(catalog), zones, list(checker.problems))]
    return zones, checker.problems


def web_derivations(catalog: Catalog, zone: str) -> tuple[tuple[str, ...] | None, dict[str, str]]:
    """What the web service adds to the records ``zone`` derives, as its zone gets them: the
    owners its sites answer at and the MTA-STS/TLS-RPT TXT values (``derived_rrsets``'s
    ``web_owners`` and ``mail_txt``). For a domain the estate does not have: (None, {})."""
    domain = catalog.domains.get(zone)
    if domain is None:
        return None, {}
    checker = _DnsChecker(catalog)
    owners = checker.site_owners(list(catalog.domains.values())).get(zone, set())
    return tuple(sorted(owners)), checker.mail_txt(domain)


def dkim_domains(zones: ZoneSet, settings: DnsSettings) -> list[tuple[str, str]]:
    """(domain, first selector) of every zone that publishes a key of ours (present or missing)."""
    if settings.dkim is None:
        return []
    pairs = {(name, settings.dkim.selector) for name, _ in zones.missing_keys}
    for name, zone in zones.zones.items():
        if any(t == "TXT" and o.endswith("._domainkey") and r.derived for (o, t), r in zone.rrsets.items()):
            pairs.add((name, settings.dkim.selector))
    return sorted(pairs)
