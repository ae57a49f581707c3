"""A Postfix-LDAP directory (iRedMail's convention by default) as an ispctl estate.

Entries are sorted by object class through the ``Mapping`` (never by where they sit in the
tree): mail domains become domain files (their alias domains files of their own, ``type:
alias``), mail users mailboxes, mail aliases and mailing lists the domain's aliases. All
domains go under one reseller (``mapping.tenant``), or each under a client of it
(``clients: per_domain``). Values ispctl spells differently are converted and commented at
their line (a status, a forward listing the account itself, a respelled hash); what ispctl
does not model is left out and listed in the report with its DN; a value that cannot be read
(a status the mapping does not know, a quota that is not a number) stops the import, every
such problem named at once with its file and line (LDIF) or DN (live).

Where each account's mail is (``homeDirectory``, or ``storageBaseDirectory`` +
``mailMessageStore``) becomes its ``maildir: {adopt: ...}``: see ``homes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ruamel.yaml.comments import CommentedMap

from ispctl.providers.adopt import homes
from ispctl.providers.adopt.hashes import judge
from ispctl.providers.adopt.mapping import UNIT_BYTES, Mapping
from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, WEAK_HASHES, ImportReport
from ispctl.providers.adopt.source import SourceEntry
from ispctl.providers.adopt.writer import ImportedDomain, ImportedEstate, ImportedTenant, commented, tenant_slug
from ispctl.reconciler.contract import InvalidName, IspctlError, format_size, normalise_address, normalise_domain

UNSUPPORTED_HASHES = "unsupported_hashes"
UNSUPPORTED_TITLE = "Password hashes not every consumer accepts (mailbox imported without password)"
# Entries that only structure the tree: skipped without a word.
_CONTAINERS = frozenset({"top", "organizationalunit", "organization", "dcobject", "domain", "extensibleobject"})


class ImportFailed(IspctlError):
    """Values the import cannot read; every one named with where it is."""


@dataclass
class _Domain:
    name: str
    entry: SourceEntry
    data: CommentedMap
    tenant: str
    mailboxes: CommentedMap = field(default_factory=CommentedMap)
    aliases: CommentedMap = field(default_factory=CommentedMap)


class Converter:
    def __init__(self, mapping: Mapping, report: ImportReport, settings: homes.HomeSettings) -> None:
        self.m = mapping
        self.report = report
        self.homes = homes.Homes(settings, report)
        self.problems: list[str] = []
        self.domains: dict[str, _Domain] = {}
        self.alias_domains: dict[str, tuple[str, SourceEntry]] = {}
        self.claimed: dict[str, str] = {}  # address -> DN that has it
        self.lists: dict[str, list[str]] = {}  # list address -> member addresses

    # -- small readers ---------------------------------------------------------------------------

    def _status(self, entry: SourceEntry, attribute: str) -> str | None:
        raw = entry.get(attribute)
        status = self.m.status_of(raw)
        if status is None:
            known = ", ".join(self.m.status) or "none"
            self.problems.append(f"{entry.where(attribute)}: {raw!r} is not a status of the mapping ({known}); add it "
                                 "to status: in the mapping file")
        return status

    def _size(self, entry: SourceEntry, attribute: str, unit: str) -> int | None:
        raw = entry.get(attribute)
        if raw is None:
            return None
        if not raw.strip().isdigit():
            self.problems.append(f"{entry.where(attribute)}: {raw!r} is not a whole number ({unit})")
            return None
        return int(raw.strip()) * UNIT_BYTES[unit]

    def _address(self, entry: SourceEntry, attribute: str, raw: str | None = None) -> tuple[str, str] | None:
        value = raw if raw is not None else entry.get(attribute)
        if value is None:
            self.problems.append(f"{entry.where(attribute)}: missing")
            return None
        if value.startswith("@"):
            return "", value[1:].lower()
        try:
            address = normalise_address(value)
        except InvalidName as exc:
            self.problems.append(f"{entry.where(attribute)}: {exc}")
            return None
        local, _, domain = address.rpartition("@")
        return local, domain

    def _located(self, entry: SourceEntry, attribute: str, what: str,
                 catch_all: str | None) -> tuple[str, _Domain] | None:
        """(local part, its imported domain) of an account; a catch-all (``@domain``) is handled here."""
        parts = self._address(entry, attribute)
        if parts is None:
            return None
        local, domain_name = parts
        target = self.domains.get(domain_name)
        if target is None or (not local and catch_all is None):
            self.report.add(NOT_IMPORTED, entry.dn, f"{what} of {domain_name}, which is not an imported domain")
            return None
        if not local:
            assert catch_all is not None
            self.catch_all(entry, target, catch_all)
            return None
        return local, target

    def _claim(self, address: str, entry: SourceEntry) -> bool:
        other = self.claimed.get(address)
        if other is not None:
            self.report.add(NOT_IMPORTED, entry.dn, f"{address} is already {other}'s address")
            return False
        self.claimed[address] = entry.dn
        return True

    def _not_modelled(self, entry: SourceEntry, names: Iterable[str]) -> None:
        for name in names:
            if entry.get(name) is not None:
                self.report.add(NOT_IMPORTED, entry.dn, f"{name} (not modelled)")

    # -- domains -----------------------------------------------------------------------------------

    def domain(self, entry: SourceEntry) -> None:
        dm = self.m.domains
        raw = entry.get(dm.name)
        if raw is None:
            self.problems.append(f"{entry.where(dm.name)}: missing")
            return
        try:
            name = normalise_domain(raw).ascii
        except InvalidName as exc:
            self.problems.append(f"{entry.where(dm.name)}: {exc}")
            return
        if (entry.get(dm.backup_mx) or "").lower() == "yes":
            self.report.add(NOT_IMPORTED, entry.dn, f"{dm.backup_mx}: yes (a backup MX relay, not a hosted domain)")
            return
        transport = entry.get(dm.transport)
        if transport is not None and transport not in dm.local_transports:
            self.report.add(NOT_IMPORTED, entry.dn, f"{dm.transport} {transport} (ispctl delivers to Dovecot)")
        self._not_modelled(entry, dm.not_modelled)
        data = commented({"domain": name, "type": "nodns", "services": ["mail"]},
                         {"type": "the directory holds no DNS for it"})
        data.yaml_set_start_comment(f"Imported by ispctl import ldap from {entry.dn}")
        status = self._status(entry, dm.status)
        if status == "suspended":
            data["status"] = "suspended"
            data.yaml_add_eol_comment(f"{dm.status}: {entry.get(dm.status)}", "status")
        quota = self._size(entry, dm.default_quota, dm.default_quota_unit)
        if quota:
            data["mail"] = commented({"default_quota": format_size(quota)},
                                     {"default_quota": f"{dm.default_quota}: {entry.get(dm.default_quota)} "
                                                       f"({dm.default_quota_unit})"})
        tenant = self.m.tenant if self.m.clients == "none" else tenant_slug(name)
        self.domains[name] = _Domain(name, entry, data, tenant)
        for alias in entry.all(dm.alias_domains):
            try:
                self.alias_domains[normalise_domain(alias).ascii] = (name, entry)
            except InvalidName as exc:
                self.problems.append(f"{entry.where(dm.alias_domains)}: {exc}")
        self.report.count("domains")

    # -- mailboxes ---------------------------------------------------------------------------------

    def mailbox(self, entry: SourceEntry) -> None:
        mm = self.m.mailboxes
        found = self._located(entry, mm.address, "a mailbox", catch_all=mm.forward)
        if found is None:
            return
        local, target = found
        domain_name = target.name
        address = f"{local}@{domain_name}"
        if not self._claim(address, entry):
            return
        box = CommentedMap()
        services = {s.lower() for s in entry.all(mm.services)}
        name = entry.get(mm.name)
        if name and name not in (local, address):
            box["name"] = name
        self._password(entry, box, target, local)
        self._quota(entry, box, target)
        status = self._status(entry, mm.status)
        if status == "suspended":
            box["status"] = "suspended"
            box.yaml_add_eol_comment(f"{mm.status}: {entry.get(mm.status)}", "status")
        elif mm.mail_service is not None and mm.mail_service not in services:
            box["status"] = "suspended"
            box.yaml_add_eol_comment(f"{mm.services} has no {mm.mail_service}: no mail, no login", "status")
            self.report.add(CONVERTED, entry.dn, f"{mm.services} without {mm.mail_service}: imported as suspended")
        self._services(entry, box, services)
        self._shadow(entry, box, target, address)
        self._forward(entry, box, address, services)
        for group in entry.all(mm.groups):
            self.lists.setdefault(group.lower(), []).append(address)
        self._not_modelled(entry, mm.not_modelled)
        adopt = self.homes.adopt(entry, mm, domain_name, local)
        if adopt is not None:
            box["maildir"] = CommentedMap({"adopt": adopt})
        target.mailboxes[local] = box
        self.report.count("mailboxes")

    def _password(self, entry: SourceEntry, box: CommentedMap, target: _Domain, local: str) -> None:
        values = entry.all(self.m.mailboxes.password)
        if not values:
            return
        if len(values) > 1:
            self.report.add(CONVERTED, entry.dn, f"{len(values)} password values: the first is kept")
        verdict = judge(values[0])
        if verdict.value is not None:
            box["password"] = verdict.value
            if verdict.note is not None:
                box.yaml_add_eol_comment(verdict.note.split(" (")[0], "password")
                self.report.add(CONVERTED, entry.dn, verdict.note)
            return
        target.mailboxes.yaml_add_eol_comment(f"no password imported: the directory's is {verdict.scheme}; set one "
                                              "with 'ispctl passwd'", local)
        if verdict.weak:
            self.report.add(WEAK_HASHES, entry.dn, f"{verdict.scheme}: left out, rotate it")
        else:
            self.report.add(UNSUPPORTED_HASHES, entry.dn, f"{verdict.scheme}: left out", title=UNSUPPORTED_TITLE)

    def _quota(self, entry: SourceEntry, box: CommentedMap, target: _Domain) -> None:
        mm = self.m.mailboxes
        quota = self._size(entry, mm.quota, mm.quota_unit)
        if quota is None:
            return
        default = target.data.get("mail", {}).get("default_quota")
        if quota == 0:
            box["quota"] = 0
            box.yaml_add_eol_comment(f"{mm.quota}: 0, no limit", "quota")
        elif format_size(quota) != default:
            box["quota"] = format_size(quota)

    def _services(self, entry: SourceEntry, box: CommentedMap, services: set[str]) -> None:
        flags = CommentedMap()
        for flag in ("imap", "pop3", "smtp"):
            wanted = [v.lower() for v in getattr(self.m.services, flag)]
            granted = [v for v in wanted if v in services]
            if not granted:
                flags[flag] = False
            elif len(granted) < len(wanted):
                self.report.add(CONVERTED, entry.dn, f"{flag}: only {', '.join(granted)} of {', '.join(wanted)} in "
                                                     f"{self.m.mailboxes.services}: {flag} enabled")
        if flags:
            box["services"] = flags

    def _shadow(self, entry: SourceEntry, box: CommentedMap, target: _Domain, address: str) -> None:
        extras = []
        for raw in entry.all(self.m.mailboxes.aliases):
            parts = self._address(entry, self.m.mailboxes.aliases, raw)
            if parts is None:
                continue
            local, domain_name = parts
            other = self.domains.get(domain_name)
            if self.alias_domains.get(domain_name, ("",))[0] == target.name and local == address.split("@")[0]:
                # The alias domain delivers x@alias to x@domain already: nothing is lost.
                self.report.add(CONVERTED, entry.dn, f"{self.m.mailboxes.aliases} {local}@{domain_name}: left to the "
                                                     f"alias domain {domain_name}")
            elif other is None or other.tenant != target.tenant:
                self.report.add(NOT_IMPORTED, entry.dn, f"{self.m.mailboxes.aliases} {local}@{domain_name}: not in an "
                                                        "imported domain of the same tenant")
            elif self._claim(f"{local}@{domain_name}", entry):
                extras.append(local if domain_name == target.name else f"{local}@{domain_name}")
        if extras:
            box["aliases"] = sorted(extras)

    def _forward(self, entry: SourceEntry, box: CommentedMap, address: str, services: set[str]) -> None:
        mm = self.m.mailboxes
        targets = [t.lower() for t in entry.all(mm.forward)]
        if not targets:
            return
        if mm.forward_service is not None and mm.forward_service not in services:
            self.report.add(NOT_IMPORTED, entry.dn, f"{mm.forward} without {mm.forward_service} in {mm.services} (not "
                                                    "in effect)")
            return
        own = {address, *(f"{a}@{address.split('@')[1]}" if "@" not in a else a for a in box.get("aliases", ()))}
        keep = any(t in own for t in targets)
        others = sorted(dict.fromkeys(t for t in targets if t not in own))
        if not others:
            return  # only itself: plain delivery
        box["forward"] = commented({"to": others, "keep_copy": keep} if keep else {"to": others},
                                   {"keep_copy": f"{mm.forward} listed the mailbox itself"} if keep else {})

    # -- aliases, lists, catch-all -------------------------------------------------------------------

    def catch_all(self, entry: SourceEntry, target: _Domain, attribute: str) -> None:
        targets = [t.lower() for t in entry.all(attribute)]
        if len(targets) != 1:
            self.report.add(NOT_IMPORTED, entry.dn, f"catch-all with {len(targets)} targets (ispctl's catch_all has "
                                                    "one)")
            return
        mail = target.data.setdefault("mail", CommentedMap())
        mail["catch_all"] = targets[0].removesuffix(f"@{target.name}")
        self.report.count("catch-alls")

    def alias(self, entry: SourceEntry) -> None:
        am = self.m.aliases
        found = self._located(entry, am.address, "an alias", catch_all=am.to)
        if found is None:
            return
        local, target = found
        to = sorted(dict.fromkeys(t.lower() for t in entry.all(am.to)))
        if not to:
            self.report.add(NOT_IMPORTED, entry.dn, f"an alias without {am.to}")
            return
        if self._claim(f"{local}@{target.name}", entry):
            self._add_alias(target, local, to, self._status(entry, am.status), entry.get(am.description))
            self.report.count("aliases")

    def mail_list(self, entry: SourceEntry) -> None:
        lm = self.m.lists
        found = self._located(entry, lm.address, "a list", catch_all=None)
        if found is None:
            return
        local, target = found
        address = f"{local}@{target.name}"
        members = sorted(dict.fromkeys(self.lists.get(address, [])))
        self._not_modelled(entry, lm.not_modelled)
        if not members:
            self.report.add(NOT_IMPORTED, entry.dn, "a mailing list without members")
            return
        if self._claim(address, entry):
            self._add_alias(target, local, members, self._status(entry, lm.status), entry.get(lm.description))
            self.report.count("mailing lists")

    def _add_alias(self, target: _Domain, local: str, to: list[str], status: str | None,
                   description: str | None) -> None:
        short = [t.removesuffix(f"@{target.name}") for t in to]
        if status != "suspended" and not description:
            target.aliases[local] = short[0] if len(short) == 1 else short
            return
        spec = CommentedMap({"to": short})
        if status == "suspended":
            spec["status"] = "suspended"
        if description:
            spec["description"] = description
        target.aliases[local] = spec

    # -- the estate ------------------------------------------------------------------------------

    def estate(self, base_dn: str) -> ImportedEstate:
        estate = ImportedEstate()
        estate.tenants[self.m.tenant] = ImportedTenant(None, commented({"name": self.m.tenant_name}))
        for domain in self.domains.values():
            if domain.tenant != self.m.tenant and domain.tenant not in estate.tenants:
                estate.tenants[domain.tenant] = ImportedTenant(self.m.tenant, commented({"name": domain.name}))
            if domain.mailboxes:
                domain.data["mailboxes"] = domain.mailboxes
            if domain.aliases:
                domain.data["aliases"] = domain.aliases
            estate.domains[domain.name] = ImportedDomain(domain.tenant, domain.data)
        for alias, (of, entry) in sorted(self.alias_domains.items()):
            if alias in self.domains:
                self.report.add(NOT_IMPORTED, entry.dn, f"alias domain {alias} is also a mail domain of its own")
                continue
            data = commented({"domain": alias, "type": "alias", "alias_of": of, "services": ["mail"]})
            data.yaml_set_start_comment(f"Imported by ispctl import ldap: {self.m.domains.alias_domains} of {of}")
            estate.domains[alias] = ImportedDomain(self.domains[of].tenant, data)
            self.report.count("alias domains")
        estate.site_extra = commented({"directory": {"base_dn": base_dn}, "mail": self.homes.site_settings()})
        self.report.count("tenants", len(estate.tenants))
        return estate


def convert(entries: list[SourceEntry], mapping: Mapping, report: ImportReport, settings: homes.HomeSettings,
            base_dn: str) -> ImportedEstate:
    """The estate of ``entries``; ``ImportFailed`` naming every value that cannot be read."""
    conv = Converter(mapping, report, settings)
    classes = {name: getattr(mapping, part).object_class.lower() for name, part in
               (("domain", "domains"), ("mailbox", "mailboxes"), ("alias", "aliases"), ("list", "lists"))}
    external = mapping.lists.external_class.lower()
    ignored = {k.lower(): v for k, v in mapping.not_modelled_classes.items()}
    sorted_entries: dict[str, list[SourceEntry]] = {k: [] for k in classes}
    for entry in entries:
        found = entry.classes
        kind = next((k for k, c in classes.items() if c in found), None)
        if kind is not None:
            sorted_entries[kind].append(entry)
        elif external in found:
            for group in entry.all(mapping.mailboxes.groups):
                address = entry.get(mapping.lists.external_address)
                if address:
                    conv.lists.setdefault(group.lower(), []).append(address.lower())
        elif found & ignored.keys():
            conv.report.add(NOT_IMPORTED, entry.dn, ignored[next(iter(sorted(found & ignored.keys())))])
        elif not found <= _CONTAINERS:
            conv.report.add(NOT_IMPORTED, entry.dn, "not a mail account (" + ", ".join(sorted(found)) + ")")
    for kind, method in (("domain", conv.domain), ("mailbox", conv.mailbox), ("alias", conv.alias),
                         ("list", conv.mail_list)):
        for entry in sorted_entries[kind]:
            method(entry)
    if conv.problems:
        raise ImportFailed(f"{len(conv.problems)} value(s) cannot be imported:\n  " + "\n  ".join(conv.problems))
    return conv.estate(base_dn)
