"""Adopt an existing zone: ``ispctl import dns --zone Z [--from-file F] [--out FILE]``.

The zone is read from a BIND zone file or, without ``--from-file``, by AXFR from the live
server (``providers.dns.axfr.axfr_source``, the DNS provider's connection settings). The
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

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdataset
import dns.rdatatype
import dns.zone
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from . import dkim, output
from .catalog import Catalog
from .compile_dns import RRset, canonical, derived_rrsets, split_txt
from .errors import ConfigError, IspctlError, Location
from .model_dns import RECORD_TYPES, DnsSettings, format_duration
from .names import NameError_, normalise_domain
from .dns_names import default_mname, default_rname, ignored_by, is_reserved_owner
from .validate_dns import is_missing_key_problem

FLOW_WIDTH = 72  # lists longer than this are written one item per line


class ImportFailed(IspctlError):
    """The zone cannot be read or written as asked; the message says why."""


@dataclass
class LiveZone:
    name: str
    origin: dns.name.Name
    soa: tuple[str, str, int, int, int, int]  # mname, rname, refresh, retry, expire, minimum
    soa_ttl: int
    ns: tuple[str, ...]
    rrsets: dict[tuple[str, str], dns.rdataset.Rdataset] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def texts(self, key: tuple[str, str]) -> tuple[str, ...]:
        return tuple(sorted(canonical(key[1], r.to_text(origin=self.origin, relativize=False)) for r in self.rrsets[key]))


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
    """The live zone, by AXFR through the DNS provider (imported only when needed)."""
    try:
        from providers.dns.axfr import axfr_source
    except ImportError as exc:
        raise ImportFailed(
            f"importing from the live server needs the DNS provider (providers.dns.axfr: {exc}); "
            "import a zone file with --from-file instead"
        ) from None
    try:
        return axfr_source(zone)
    except IspctlError:
        raise
    except dns.exception.DNSException as exc:
        raise ImportFailed(f"zone transfer of {zone} failed: {exc}") from None


def read_zone(live: dns.zone.Zone, zone: str, settings: DnsSettings) -> LiveZone:
    origin = live.origin
    if origin is None:
        raise ImportFailed(f"zone {zone} has no origin")
    soa_set = live.get_rdataset("@", "SOA")
    ns_set = live.get_rdataset("@", "NS")
    if soa_set is None or ns_set is None:
        raise ImportFailed(f"zone {zone} has no SOA or no NS records at its apex")
    soa = soa_set[0]
    found = LiveZone(
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
        raise ImportFailed(f"TXT at {where} holds bytes that are not UTF-8 text; ispctl cannot keep it in YAML") from None


def _values(live: LiveZone, key: tuple[str, str]) -> list[Any]:
    owner, rdtype = key
    out: list[Any] = []
    for rdata in sorted(live.rrsets[key], key=lambda r: r.to_text()):
        if rdtype == "TXT":
            out.append(_txt_value(list(rdata.strings), f"{owner}.{live.name}"))
        else:
            out.append(rdata.to_text(origin=live.origin, relativize=True))
    return out


def plan_section(
    live: LiveZone, settings: DnsSettings, derived: dict[tuple[str, str], RRset],
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
    for name, value in zip(("refresh", "retry", "expire", "minimum"), timers):
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


# --- the command -------------------------------------------------------------------------

def _catalog(root: Path) -> Catalog:
    """The estate, valid apart from missing DKIM keys (the import may adopt the live key)."""
    from .validate import validate_estate

    return validate_estate(root, tolerate=is_missing_key_problem)


def _file_of(root: Path, display: str) -> Path:
    """The real path of a document named ``<root name>/<relative path>`` in problems."""
    return root.joinpath(*Path(display).parts[1:])


def _target(catalog: Catalog, root: Path, zone: str, out: Path | None) -> tuple[Path, bool, tuple[str, ...], str, str | None]:
    """(file, exists, services, type, alias target) of the domain the zone belongs to."""
    domain = catalog.domains.get(zone)
    if domain is not None:
        path = _file_of(root, domain.origin.doc.file)
        if out is not None and out.resolve() != path.resolve():
            raise ImportFailed(f"{zone} is declared in {path}; leave out --out to update that file")
        if domain.type in ("slave", "nodns"):
            raise ImportFailed(f"{zone} is a {domain.type} domain: ispctl keeps no records for it")
        if "dns" not in domain.services:
            raise ImportFailed(f"{zone} does not enable the dns service: add 'dns' to its services first")
        return path, True, domain.services, domain.type, domain.alias_of
    if out is None:
        raise ImportFailed(f"{zone} is not in the estate yet: say where its file goes with --out {root}/tenants/<tenant>/{zone}.yaml")
    tenants = (root / "tenants").resolve()
    folder = out.resolve().parent
    if out.suffix not in (".yaml", ".yml") or tenants not in folder.parents or not (folder / "tenant.yaml").is_file():
        raise ImportFailed(f"--out must be a .yaml file in a tenant's folder ({root}/tenants/<tenant>/[<client>/])")
    if out.exists():
        raise ImportFailed(f"{out} exists but does not declare {zone}")
    services = tuple(catalog.estate.site.defaults.domain_services)
    if "dns" not in services:
        raise ImportFailed("the site's default services do not include dns: create the domain file with services: [..., dns] first")
    return out, False, services, "primary", None


def _derived(catalog: Catalog, zone: str, services: tuple[str, ...], dtype: str, alias_of: str | None, ttl: int) -> dict[tuple[str, str], RRset]:
    settings = catalog.estate.site.dns
    target_mx = None
    if dtype == "alias" and alias_of is not None:
        target = catalog.dns.zones.get(alias_of) if catalog.dns is not None else None
        if target is not None and target.kind == "primary":
            mx = target.rrsets.get(("@", "MX"))
            target_mx = mx.records if mx is not None else ()
    dkim_value = None
    if settings.dkim is not None and dtype == "primary" and "mail" in services:
        public = dkim.read_public(dkim.key_dir(settings.dkim.key_dir), zone, settings.dkim.selector)
        dkim_value = dkim.txt_value(public) if public is not None else None
    found = derived_rrsets(zone, settings, services, ttl, Location(""), target_mx=target_mx, dkim_value=dkim_value)
    return {k: rr for k, rr in found.items() if ignored_by(settings.ignore, *k) is None}


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long TXT value (a DKIM key) over lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _last_leaf(node: Any) -> tuple[Any, Any]:
    """The container and key of the last scalar in a section (ruamel hangs the comments
    that follow a section on it)."""
    parent, key = None, None
    while isinstance(node, (CommentedMap, CommentedSeq)) and len(node):
        parent = node
        key = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        node = node[key]
    return parent, key


def _carry_tail_comment(old: Any, new: CommentedMap) -> None:
    """Keep the full-line comments that followed the replaced section (they belong to
    whatever comes after it), not the end-of-line comment of its last value."""
    parent, key = _last_leaf(old)
    if parent is None:
        return
    slot = 2 if isinstance(parent, CommentedMap) else 0
    entry = parent.ca.items.get(key)
    token = entry[slot] if entry and len(entry) > slot else None
    if token is None or "\n" not in token.value:
        return
    rest = token.value.split("\n", 1)[1]
    if not rest.strip():
        return
    target, tkey = _last_leaf(new)
    if target is None:
        return
    comment = CommentToken("\n" + rest, CommentMark(0))
    if isinstance(target, CommentedMap):
        target.ca.items[tkey] = [None, None, comment, None]
    else:
        target.ca.items[tkey] = [comment, None]


def write_section(path: Path, display_name: str, section: CommentedMap) -> str | None:
    """Put ``section`` as ``dns:`` into the domain file; returns the previous text (None: new)."""
    yaml = _yaml()
    previous = path.read_text(encoding="utf-8") if path.exists() else None
    if previous is not None:
        data = yaml.load(previous)
        if not isinstance(data, CommentedMap):
            raise ImportFailed(f"{path} is not a mapping")
        if "dns" in data:
            _carry_tail_comment(data["dns"], section)
        data["dns"] = section
    else:
        data = CommentedMap([("domain", display_name), ("dns", section)])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    os.replace(tmp, path)
    return previous


def _verify(root: Path, live: LiveZone, path: Path, previous: str | None) -> list[str]:
    """Validate again and compare the zone with what was read; returns remaining problems."""
    from .loader import load_estate
    from .validate import build_catalog

    estate, problems = load_estate(root)
    catalog = None
    if estate is not None:
        catalog, more = build_catalog(estate, incomplete=bool(problems))
        problems += more
    zone = catalog.dns.zones.get(live.name) if catalog is not None and catalog.dns is not None else None
    if zone is None or any(not is_missing_key_problem(p) for p in problems):
        return [str(p) for p in sorted(set(problems))] or [f"{live.name} has no zone after the import"]
    expected = {key: (rds.ttl, live.texts(key)) for key, rds in live.rrsets.items()}
    got = {key: (rr.ttl, rr.records) for key, rr in zone.rrsets.items()}
    soa = " ".join(str(v) for v in live.soa)
    if got != expected or zone.soa != soa or zone.ns != live.ns or zone.default_ttl != live.soa_ttl:
        # A bug of the import itself: put the file back as it was.
        if previous is None:
            path.unlink()
        else:
            path.write_text(previous, encoding="utf-8")
        differ = sorted(set(got) ^ set(expected) | {k for k in got if k in expected and got[k] != expected[k]})
        raise IspctlError(f"internal error: the imported section would not reproduce zone {live.name} (differs at {differ}); the file was left unchanged")
    return [str(p) for p in problems]


def import_dns_cmd(root: Path, zone_arg: str, from_file: Path | None, out: Path | None) -> int:
    catalog = _catalog(root)
    settings = catalog.estate.site.dns
    if "dns" not in catalog.estate.site.model_fields_set:
        raise ConfigError("DNS is not managed by this estate: add a dns: section (at least ns:) to ispctl.yaml first")
    try:
        name = normalise_domain(zone_arg)
    except NameError_ as exc:
        raise ImportFailed(str(exc)) from None
    zone = name.ascii
    path, exists, services, dtype, alias_of = _target(catalog, root, zone, out)
    source = load_zone_file(from_file, zone) if from_file is not None else axfr_zone(zone)
    live = read_zone(source, zone, settings)
    derived = _derived(catalog, zone, services, dtype, alias_of, live.soa_ttl)
    section, counts = plan_section(live, settings, derived)
    previous = write_section(path, name.unicode, section)
    remaining = _verify(root, live, path, previous)
    verb = "Updated" if exists else "Wrote"
    output.out().print(
        f"{verb} the dns: section of {zone} in {path}: {counts['explicit']} record set(s) written, "
        f"{counts['derived']} left to derivation, {counts['none']} derived set(s) marked as none.",
        markup=False,
    )
    for item in live.skipped:
        output.out().print(f"  not imported: {item}", markup=False)
    if remaining:
        for problem in remaining:
            output.err().print(problem, markup=False, style="red")
        if all("ispctl dkim init" in p for p in remaining):
            output.err().print("Run 'ispctl dkim init' to create the missing DKIM key(s), then plan.", markup=False)
        return 1
    output.out().print("Run 'ispctl plan': it should show no changes for this zone.", markup=False)
    return 0
