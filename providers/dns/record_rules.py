"""DNS rules for one record set and for a zone's record sets together (part of ``validate``).

A record set: its type (upper case, supported, not the SOA, no apex NS or CNAME), not given to
another tool by ``dns.ignore``, each value readable and no duplicates, one CNAME value, and
small enough for one DNS update message. A zone: a CNAME alone at its name, MX/NS/SRV targets
and the name servers inside the zone not CNAMEs (RFC 1034 3.6.2, RFC 2181 10.3).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ispctl.providers.dns.compile import RRset
from ispctl.providers.dns.names import UPDATE_LIMIT, BadValue, ignored_by, record_text, target_of, update_size
from ispctl.providers.dns.settings import RECORD_TYPES, DnsSettings, DomainDns, RecordSet
from ispctl.reconciler.contract import Document, FieldPath, Problem, format_path


class RecordRules:
    """The record rules of the DNS checker (``validate._DnsChecker``), which collects the problems."""

    settings: DnsSettings
    problems: list[Problem]

    def report(self, doc: Document, path: FieldPath, message: str, code: str = "") -> None:
        problem = doc.problem(path, message)
        self.problems.append(replace(problem, code=code) if code else problem)

    def rrset(
        self, doc: Document, zone: str, owner: str, owner_key: str, type_key: str,
        rrset: RecordSet, zone_ttl: int, raw_types: Any,
    ) -> RRset | None:
        path: FieldPath = ("dns", "records", owner_key, type_key)
        rdtype = type_key  # as written: "A\n" is no record type
        if rdtype.upper() in RECORD_TYPES and rdtype != rdtype.upper():
            self.report(doc, path, f"record type {type_key!r} must be upper case: {rdtype.upper()!r}")
            return None
        if rdtype == "SOA":
            self.report(doc, path, "the SOA is set with dns.soa (in ispctl.yaml or this file), not as a record")
            return None
        if rdtype not in RECORD_TYPES:
            self.report(doc, path, f"unsupported record type {type_key!r}; supported: {', '.join(RECORD_TYPES)}")
            return None
        if rdtype == "NS" and owner == "@":
            self.report(doc, path, "the apex NS set is dns.ns (in ispctl.yaml or this file), not a record; NS records "
                                   "here are delegations below the apex")
            return None
        if rdtype == "CNAME" and owner == "@" and rrset.values:
            self.report(doc, path, "a CNAME cannot be at the zone apex (it would hide the SOA and NS); use A/AAAA "
                                   "records")
            return None
        rule = ignored_by(self.settings.ignore, owner, rdtype)
        if rule is not None:
            self.report(doc, path, f"matches ignore rule {rule + 1} of dns.ignore in ispctl.yaml "
                                   f"({self.settings.ignore[rule].name!r}): those records belong to another tool; "
                                   "remove the rule or these records")
            return None
        raw = raw_types.get(type_key) if isinstance(raw_types, dict) else None
        texts: list[str] = []
        seen: dict[str, int] = {}
        for index, value in enumerate(rrset.values):
            vpath = _value_path(path, raw, index)
            try:
                text = record_text(rdtype, value, zone)
            except BadValue as exc:
                self.report(doc, vpath, str(exc))
                continue
            if text in seen:
                self.report(doc, vpath, f"duplicate value: the same record as value {seen[text] + 1} ({text})")
                continue
            seen[text] = index
            texts.append(text)
        if rdtype == "CNAME" and len(rrset.values) > 1:
            self.report(doc, path, "a name has at most one CNAME value")
        ttl = rrset.ttl if rrset.ttl is not None else zone_ttl
        size = update_size(owner, zone, rdtype, texts)
        if size > UPDATE_LIMIT:
            self.report(doc, path, f"this record set is {size:,} bytes in DNS wire format; one DNS update message "
                                   f"carries at most {UPDATE_LIMIT:,} bytes of records (65,535 less the message's "
                                   "own header, prerequisite and signature): split it or shorten the values")
            return None
        return RRset(owner, rdtype, ttl, tuple(sorted(texts)), doc.location(path), format_path(path))

    def zone_rules(self, doc: Document, zone: str, rrsets: dict[tuple[str, str], RRset], ns: tuple[str, ...],
                   spec: DomainDns) -> None:
        by_owner: dict[str, list[str]] = {}
        for owner, rdtype in rrsets:
            by_owner.setdefault(owner, []).append(rdtype)
        for (owner, rdtype), rrset in sorted(rrsets.items()):
            if rdtype == "CNAME" and owner != "@":
                others = sorted(t for t in by_owner[owner] if t != "CNAME")
                if others:
                    self.problems.append(Problem(rrset.source, rrset.field, "a CNAME cannot share its name with other "
                                                                            f"records (here: {', '.join(others)}); RFC "
                                                                            "1034 3.6.2"))
        suffix = "." + zone + "."
        targets = [(rr, target_of(rr.rdtype, text))
                   for rr in rrsets.values() if rr.rdtype in ("MX", "NS", "SRV") for text in rr.records]
        for rr, target in targets:
            cname = _cname_owner(target, zone, suffix, rrsets)
            if cname is not None:
                message = (f"{rr.rdtype} target {target} is a CNAME (at {cname!r}); {rr.rdtype} records must "
                           "point at a name with address records (RFC 2181 10.3)")
                if rr.derived:
                    self.report(doc, ("domain",), "derived " + message)
                else:
                    self.problems.append(Problem(rr.source, rr.field, message))
        for index, name in enumerate(ns):
            cname = _cname_owner(name, zone, suffix, rrsets)
            if cname is not None:
                path: FieldPath = ("dns", "ns", index) if spec.ns is not None else ("domain",)
                self.report(doc, path, f"name server {name} is a CNAME (at {cname!r}); NS records must point at a name "
                                       "with address records")


def _cname_owner(target: str, zone: str, suffix: str, rrsets: dict[tuple[str, str], RRset]) -> str | None:
    if target == zone + ".":
        owner = "@"
    elif target.endswith(suffix):
        owner = target[: -len(suffix)]
    else:
        return None
    return owner if (owner, "CNAME") in rrsets else None


def _value_path(path: FieldPath, raw: Any, index: int) -> FieldPath:
    """Where value ``index`` of a record set was written: full form, list or single value."""
    if isinstance(raw, dict) and "values" in raw:
        return path + ("values", index)
    if isinstance(raw, list):
        return path + (index,)
    return path
