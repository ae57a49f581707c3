"""DNS zones as resources, and the records ispctl derives for a domain.

``validate`` builds a ``ZoneSet`` (every zone with its final record sets, explicit and
derived, already checked); ``zone_resources`` turns each zone into resources of the two
kinds of the DNS provider, and ``compile_dns`` is the service's compile hook:

* ``dns_zone.<zone>`` -- attrs ``type`` (primary | secondary), ``primaries`` (secondary
  only), ``soa`` ("MNAME RNAME REFRESH RETRY EXPIRE MINIMUM", no serial: the serial is
  the server's business), ``ns`` (the apex NS set) and ``default_ttl``;
* ``dns.<zone>/<owner>/<TYPE>`` -- one record set: ``ttl`` and ``records`` (dnspython's
  canonical rdata text, absolute names with trailing dots, TXT as quoted strings of at
  most 255 bytes each). Apex NS and SOA are never ``dns`` resources.

Derived records (``derived_rrsets``), unless an explicit record set at the same owner and
type (or an explicit CNAME at the owner) overrides them, for domains with the mail
service: MX and SPF at the apex, DMARC at ``_dmarc``, RFC 6186 SRV records
``_imaps._tcp``/``_submission._tcp``/``_pop3s._tcp``, MTA-STS's ``_mta-sts`` and TLS-RPT's
``_smtp._tls`` TXT (primary domains with web too: ``mailconfig`` computes them) and the
DKIM key at ``<selector>._domainkey`` (primary domains only: an alias domain signs nothing);
for web sites: A/AAAA at every name a site of the estate answers that is in the zone (its host and aliases, declared in
this zone's domain file or, as an alias, in another file of the same tenant; a domain with
the web service and no sites has the apex and ``www``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from ispctl.providers.dns.settings import DnsSettings
from ispctl.reconciler.contract import DOMAIN, Location, Resource, address_of

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).

TXT_CHUNK = 255  # RFC 1035 3.3: a character-string holds at most 255 bytes


@dataclass(frozen=True)
class RRset:
    owner: str                  # relative to the zone: "@", "www", "*.dev", "_dmarc"
    rdtype: str
    ttl: int
    records: tuple[str, ...]    # canonical rdata text; empty = explicitly none
    source: Location
    field: str = ""             # field path of the explicit record set, "" if derived
    derived: bool = False


@dataclass
class Zone:
    name: str                   # ASCII, no trailing dot
    kind: str                   # "primary" | "secondary"
    source: Location
    primaries: tuple[str, ...] | None = None
    soa: str | None = None
    ns: tuple[str, ...] | None = None
    default_ttl: int | None = None
    rrsets: dict[tuple[str, str], RRset] = field(default_factory=dict)


@dataclass
class ZoneSet:
    """What validation found out about DNS, for compile, import and the dkim commands."""

    enabled: bool = False
    zones: dict[str, Zone] = field(default_factory=dict)
    # (domain, selector) pairs whose DKIM key is missing from the key store
    missing_keys: list[tuple[str, str]] = field(default_factory=list)


@lru_cache(maxsize=65536)
def canonical(rdtype: str, text: str) -> str:
    """dnspython's canonical text of one rdata whose names are already absolute.

    Cached: the derived records of thousands of domains share most of their values.
    """
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    rdata = dns.rdata.from_text(
        dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text, origin=dns.name.root, relativize=False,
    )
    return rdata.to_text()


def split_txt(value: str) -> list[bytes]:
    """A long TXT value as character-strings of at most 255 bytes (as DKIM keys need)."""
    raw = value.encode("utf-8")
    return [raw[i:i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]


def txt_text(strings: Iterable[bytes]) -> str:
    import dns.rdataclass
    import dns.rdatatype
    from dns.rdtypes.ANY.TXT import TXT

    return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, list(strings)).to_text()


def derived_rrsets(
    zone: str,
    settings: DnsSettings,
    services: Iterable[str],
    ttl: int,
    source: Location,
    *,
    target_mx: tuple[str, ...] | None = None,
    dkim_keys: Mapping[str, str] | None = None,
    web_owners: Iterable[str] | None = None,
    mail_txt: Mapping[str, str] | None = None,
) -> dict[tuple[str, str], RRset]:
    """The record sets a domain gets from its services and the site settings.

    ``target_mx`` replaces the site's MX (an alias domain follows its target's MX);
    ``dkim_keys`` maps each current DKIM selector of the domain to its TXT value;
    ``web_owners`` are the owners (relative to the zone) that web sites answer at; None
    means the apex and ``www`` when the domain has the web service; ``mail_txt`` maps owners
    to the MTA-STS and TLS-RPT TXT values of a primary domain with mail and web (``mailconfig``).
    """
    out: dict[tuple[str, str], RRset] = {}
    active = set(services)

    def add(owner: str, rdtype: str, texts: Iterable[str]) -> None:
        records = tuple(sorted({canonical(rdtype, t) for t in texts}))
        if records:
            out[(owner, rdtype)] = RRset(owner, rdtype, ttl, records, source, derived=True)

    if "mail" in active:
        mail = settings.mail
        add("@", "MX", target_mx if target_mx is not None else [f"{m.priority} {m.host}" for m in mail.mx])
        if mail.spf:
            add("@", "TXT", [txt_text(split_txt(mail.spf))])
        if mail.dmarc:
            add("_dmarc", "TXT", [txt_text(split_txt(mail.dmarc))])
        if mail.imap:
            add("_imaps._tcp", "SRV", [f"0 1 993 {mail.imap}"])
        if mail.submission:
            add("_submission._tcp", "SRV", [f"0 1 587 {mail.submission}"])
        if mail.pop3:
            add("_pop3s._tcp", "SRV", [f"0 1 995 {mail.pop3}"])
        for owner, value in sorted((mail_txt or {}).items()):
            add(owner, "TXT", [txt_text(split_txt(value))])
        if settings.dkim is not None:
            for selector, value in sorted((dkim_keys or {}).items()):
                add(f"{selector}._domainkey", "TXT", [txt_text(split_txt(value))])
    if web_owners is None:
        web_owners = ("@", "www") if "web" in active else ()
    for owner in sorted(set(web_owners)):
        add(owner, "A", settings.web.a)
        add(owner, "AAAA", settings.web.aaaa)
    return out


def rrset_key(zone: str, owner: str, rdtype: str) -> str:
    return f"{zone}/{owner}/{rdtype}"


def zone_resources(zone: Zone) -> list[Resource]:
    parent = address_of("dns_zone", zone.name)
    out = [Resource(
        "dns_zone", zone.name,
        {
            "type": zone.kind,
            "primaries": zone.primaries,
            "soa": zone.soa,
            "ns": zone.ns,
            "default_ttl": zone.default_ttl,
        },
        # Every zone is a domain's: scopes (--tenant, --changed-since) and per-tenant plan
        # views reach DNS through it, and a domain is created before its zone, removed after.
        depends_on=(address_of(DOMAIN, zone.name),),
        source=zone.source,
    )]
    for (owner, rdtype), rrset in sorted(zone.rrsets.items()):
        if not rrset.records:
            continue
        out.append(Resource(
            "dns", rrset_key(zone.name, owner, rdtype),
            {"ttl": rrset.ttl, "records": rrset.records},
            parent=parent,
            source=rrset.source,
        ))
    return out


def zoneset_resources(zones: ZoneSet) -> list[Resource]:
    """Resources for every zone validation built (none when DNS is not managed)."""
    out: list[Resource] = []
    for _, zone in sorted(zones.zones.items()):
        out.extend(zone_resources(zone))
    return out
