"""Adopt an existing zone: read it, and the ``dns:`` section that reproduces it.

``ispctl import dns --zone Z [--from-file F] [--out FILE]`` (``commands``).

The zone is read from a BIND zone file or, without ``--from-file``, by AXFR from the live
server (``axfr.axfr_source``, the DNS provider's connection settings). The
domain's ``dns:`` section is written so that the next plan is empty:

* the zone's default TTL is the TTL of its SOA record (what the DNS provider reads as
  ``default_ttl``), written as ``ttl:`` when it differs from the site's;
* apex NS and SOA timers are written as overrides only where they differ from the site;
* a record set equal to the one ispctl would derive is left out (it stays derived); one
  that differs is written (it overrides); a derived one the zone lacks is written as
  ``TYPE: []`` (explicitly none), so adopting a zone never adds records by surprise;
* names are written relative to the zone where they are inside it (``www``, ``@``);
* record sets that ``dns.ignore`` gives to other tools, the provider's fingerprints and
  types the desired state cannot express (DNSSEC records, ...) are not imported: the
  provider leaves them alone too.

An existing domain file is updated in place with ruamel's round-trip mode, so its
comments and layout outside ``dns:`` stay as they were. After writing, the estate is
validated and compiled again and the zone compared with what was read: the import
checks its own promise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdataset
import dns.rdatatype
import dns.zone
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ispctl.providers.dns import dkim
from ispctl.providers.dns.axfr import axfr_source
from ispctl.providers.dns.compile import RRset, ZoneSet, canonical, derived_rrsets, split_txt
from ispctl.providers.dns.names import default_mname, default_rname, ignored_by, is_reserved_owner
from ispctl.providers.dns.settings import RECORD_TYPES, DnsSettings
from ispctl.reconciler.contract import Catalog, IspctlError, Location, format_duration

FLOW_WIDTH = 72  # lists longer than this are written one item per line


class ImportFailed(IspctlError):
    """The zone cannot be read or written as asked; the message says why."""


@dataclass
class ImportedZone:
    name: str
    origin: dns.name.Name
    soa: tuple[str, str, int, int, int, int]  # mname, rname, refresh, retry, expire, minimum
    soa_ttl: int
    ns: tuple[str, ...]
    rrsets: dict[tuple[str, str], dns.rdataset.Rdataset] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def texts(self, key: tuple[str, str]) -> tuple[str, ...]:
        texts = (r.to_text(origin=self.origin, relativize=False) for r in self.rrsets[key])
        return tuple(sorted(canonical(key[1], text) for text in texts))


# --- reading ----------------------------------------------------------------------------

def load_zone_file(path: Path, zone: str) -> dns.zone.Zone:
    try:
        return dns.zone.from_file(str(path), origin=zone + ".", relativize=True)
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportFailed(f"{path}: {exc.strerror}") from None
    except dns.zone.NoSOA:
        raise ImportFailed(f"{path}: the zone has no SOA record at {zone}. (is it the zone file of {zone}?)") from None
    except dns.zone.NoNS:
        raise ImportFailed(f"{path}: the zone has no NS records at its apex") from None
    except dns.exception.DNSException as exc:
        raise ImportFailed(f"{path}: not a valid zone file for {zone}: {exc}") from None


def axfr_zone(zone: str) -> dns.zone.Zone:
    """The live zone, by AXFR with the DNS provider's connection settings (``ISPCTL_DNS_*``)."""
    try:
        return axfr_source(zone)
    except IspctlError:
        raise
    except dns.exception.DNSException as exc:
        raise ImportFailed(f"zone transfer of {zone} failed: {exc}") from None


def read_imported(live: dns.zone.Zone, zone: str, settings: DnsSettings) -> ImportedZone:
    origin = live.origin
    if origin is None:
        raise ImportFailed(f"zone {zone} has no origin")
    soa_set = live.get_rdataset("@", "SOA")
    ns_set = live.get_rdataset("@", "NS")
    if soa_set is None or ns_set is None:
        raise ImportFailed(f"zone {zone} has no SOA or no NS records at its apex")
    soa = soa_set[0]
    found = ImportedZone(
        zone, origin,
        (soa.mname.derelativize(origin).to_text().lower(), soa.rname.derelativize(origin).to_text().lower(),
         soa.refresh, soa.retry, soa.expire, soa.minimum),
        soa_set.ttl,
        tuple(sorted(canonical("NS", r.to_text(origin=origin, relativize=False)) for r in ns_set)),
    )
    for name, node in live.nodes.items():
        relative = name.relativize(origin) if name.is_absolute() else name
        owner = relative.to_text().lower()
        for rdataset in node.rdatasets:
            rdtype = dns.rdatatype.to_text(rdataset.rdtype)
            if owner == "@" and rdtype in ("SOA", "NS") or is_reserved_owner(owner):
                continue
            if rdtype not in RECORD_TYPES:
                found.skipped.append(f"{owner} {rdtype} (a type ispctl does not manage)")
            elif ignored_by(settings.ignore, owner, rdtype) is not None:
                found.skipped.append(f"{owner} {rdtype} (dns.ignore gives it to another tool)")
            else:
                found.rrsets[(owner, rdtype)] = rdataset
    return found


# --- the dns: section ----------------------------------------------------------------

def _seq(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    if all(isinstance(i, (str, int)) for i in items) and sum(len(str(i)) + 2 for i in items) <= FLOW_WIDTH:
        seq.fa.set_flow_style()
    return seq


def _txt_value(strings: list[bytes], where: str) -> str | CommentedSeq:
    """One TXT record as written in YAML: one string when ispctl's own split gives it back."""
    joined = b"".join(strings)
    try:
        text = joined.decode("utf-8")
        if split_txt(text) == strings:
            return text
        parts = CommentedSeq([s.decode("utf-8") for s in strings])
        parts.fa.set_flow_style()  # one record: its strings on one line
        return parts
    except UnicodeDecodeError:
        raise ImportFailed(f"TXT at {where} holds bytes that are not UTF-8 text; ispctl cannot keep it in "
                           "YAML") from None


def _values(live: ImportedZone, key: tuple[str, str]) -> list[Any]:
    owner, rdtype = key
    out: list[Any] = []
    for rdata in sorted(live.rrsets[key], key=lambda r: r.to_text()):
        if rdtype == "TXT":
            out.append(_txt_value(list(rdata.strings), f"{owner}.{live.name}"))
        else:
            out.append(rdata.to_text(origin=live.origin, relativize=True))
    return out


def plan_section(
    live: ImportedZone, settings: DnsSettings, derived: dict[tuple[str, str], RRset],
) -> tuple[CommentedMap, dict[str, int]]:
    """The ``dns:`` section that reproduces ``live``, and counts for the summary."""
    section = CommentedMap()
    zone_ttl = live.soa_ttl
    if zone_ttl != settings.default_ttl:
        section["ttl"] = format_duration(zone_ttl)
    if set(live.ns) != set(settings.ns):
        section["ns"] = _seq(list(live.ns))
    soa = CommentedMap()
    mname, rname, *timers = live.soa
    if mname != default_mname(settings, live.ns):
        soa["mname"] = mname
    if rname != default_rname(settings, live.name):
        soa["rname"] = rname
    for name, value in zip(("refresh", "retry", "expire", "minimum"), timers, strict=True):
        if value != getattr(settings.soa, name):
            soa[name] = format_duration(value)
    if soa:
        section["soa"] = soa
    counts = {"derived": 0, "explicit": 0, "none": 0}
    written: dict[tuple[str, str], Any] = {}
    cnames = {owner for owner, rdtype in live.rrsets if rdtype == "CNAME"}
    for key in live.rrsets:
        mine = derived.get(key)
        if mine is not None and mine.records == live.texts(key) and mine.ttl == live.rrsets[key].ttl:
            counts["derived"] += 1
            continue
        values = _values(live, key)
        ttl = live.rrsets[key].ttl
        if ttl != zone_ttl:
            full = CommentedMap([("ttl", format_duration(ttl)), ("values", _seq(values))])
            written[key] = full
        elif len(values) == 1 and not isinstance(values[0], list):
            written[key] = values[0]
        else:
            written[key] = _seq(values)
        counts["explicit"] += 1
    for key in derived:
        if key not in live.rrsets and key[0] not in cnames:
            written[key] = _seq([])
            counts["none"] += 1
    records = CommentedMap()
    for owner, rdtype in sorted(written, key=lambda k: (k[0] != "@", k[0], k[1])):
        records.setdefault(owner, CommentedMap())[rdtype] = written[(owner, rdtype)]
    if records:
        section["records"] = records
    return section, counts


# --- where the section goes ----------------------------------------------------------------

def _file_of(root: Path, display: str) -> Path:
    """The real path of a document named ``<root name>/<relative path>`` in problems."""
    return root.joinpath(*Path(display).parts[1:])


@dataclass(frozen=True)
class Target:
    """The domain file an imported zone is written to, and what its domain says."""

    path: Path
    exists: bool
    services: tuple[str, ...]
    type: str
    alias_of: str | None


def import_target(catalog: Catalog, root: Path, zone: str, out: Path | None) -> Target:
    """The file of the domain the zone belongs to (or ``out`` for a domain not in the estate)."""
    domain = catalog.domains.get(zone)
    if domain is not None:
        path = _file_of(root, domain.origin.doc.file)
        if out is not None and out.resolve() != path.resolve():
            raise ImportFailed(f"{zone} is declared in {path}; leave out --out to update that file")
        if domain.type in ("slave", "nodns"):
            raise ImportFailed(f"{zone} is a {domain.type} domain: ispctl keeps no records for it")
        if "dns" not in domain.services:
            raise ImportFailed(f"{zone} does not enable the dns service: add 'dns' to its services first")
        return Target(path, True, domain.services, domain.type, domain.alias_of)
    if out is None:
        raise ImportFailed(f"{zone} is not in the estate yet: say where its file goes with --out "
                           f"{root}/tenants/<tenant>/{zone}.yaml")
    tenants = (root / "tenants").resolve()
    folder = out.resolve().parent
    if out.suffix not in (".yaml", ".yml") or tenants not in folder.parents or not (folder / "tenant.yaml").is_file():
        raise ImportFailed(f"--out must be a .yaml file in a tenant's folder ({root}/tenants/<tenant>/[<client>/])")
    if out.exists():
        raise ImportFailed(f"{out} exists but does not declare {zone}")
    services = tuple(catalog.estate.site.defaults.domain_services)
    if "dns" not in services:
        raise ImportFailed("the site's default services do not include dns: create the domain file with services: "
                           "[..., dns] first")
    return Target(out, False, services, "primary", None)


def derived_for(target: Target, zones: ZoneSet, settings: DnsSettings, zone: str, ttl: int, *,
                web_owners: tuple[str, ...] | None = None,
                mail_txt: dict[str, str] | None = None) -> dict[tuple[str, str], RRset]:
    """The record sets the domain would get derived, which the import leaves out when equal."""
    target_mx = None
    if target.type == "alias" and target.alias_of is not None:
        found = zones.zones.get(target.alias_of)
        if found is not None and found.kind == "primary":
            mx = found.rrsets.get(("@", "MX"))
            target_mx = mx.records if mx is not None else ()
    dkim_keys: dict[str, str] = {}
    if settings.dkim is not None and target.type == "primary" and "mail" in target.services:
        store = dkim.key_dir(settings.dkim.key_dir)
        for selector in dkim.current_selectors(store, zone) or [settings.dkim.selector]:
            public = dkim.read_public(store, zone, selector)
            if public is not None:
                dkim_keys[selector] = dkim.txt_value(public)
    derived = derived_rrsets(zone, settings, target.services, ttl, Location(""),
                             target_mx=target_mx, dkim_keys=dkim_keys, web_owners=web_owners, mail_txt=mail_txt)
    return {k: rr for k, rr in derived.items() if ignored_by(settings.ignore, *k) is None}
