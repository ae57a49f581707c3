"""Rules that span files, and the normalised catalog they produce.

Per-file shape is checked by the models (``ispctl.reconciler.estate.model``); here we
check what only the whole estate can tell: an address exists once; a domain belongs to
one tenant; alias-domain, catch-all and internal forwarding targets exist; limits and
quota pools hold. Every problem names the file, line, column and field where it can be
fixed. Each object is built once (``build``) and its references resolved in later passes
(``resolve``), once every address of the estate is known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from types import MappingProxyType

from ispctl.reconciler.engine.errors import Problem
from ispctl.reconciler.estate.catalog import Catalog, NAlias, NDomain, NMailbox, NTenant, Origin
from ispctl.reconciler.estate.delivery import check_delivery
from ispctl.reconciler.estate.limits import check_limits
from ispctl.reconciler.estate.loader import DomainDecl, Estate
from ispctl.reconciler.estate.names import (
    InvalidName,
    check_address_length,
    normalise_address,
    normalise_domain,
    normalise_local,
)
from ispctl.reconciler.estate.tenant_rename import check_tenant_renames
from ispctl.reconciler.estate.uncertain import Uncertain
from ispctl.reconciler.estate.yamlload import FieldPath

MAIL_FLAGS = ("imap", "pop3", "smtp", "ftp", "dialup")
_flags = attrgetter(*MAIL_FLAGS)  # a mailbox's written flags (None: not written), in MAIL_FLAGS order


class _Checker:
    def __init__(self, estate: Estate, uncertain: Uncertain = Uncertain()) -> None:
        self.estate = estate
        self.uncertain = uncertain
        self.catalog = Catalog(estate)
        self.problems: list[Problem] = []
        self.address_origin: dict[str, Origin] = {}
        self.previous_origin: dict[str, Origin] = {}
        self.services: dict[tuple[bool, ...], Mapping[str, bool]] = {}

    def report(self, origin: Origin, path: FieldPath, message: str) -> None:
        self.problems.append(origin.doc.problem(path, message))

    # -- building: each object once, its names normalised once -----------------------------

    def tenants(self) -> None:
        defaults = self.estate.site.defaults
        for name, decl in sorted(self.estate.tenants.items()):
            origin = Origin(decl.doc)
            contact = decl.spec.contact
            if contact is not None:
                try:
                    contact = normalise_address(contact)
                except InvalidName as exc:
                    self.report(origin, ("contact",), str(exc))
            self.catalog.tenants[name] = NTenant(
                name=name, parent=decl.parent, spec=decl.spec, origin=origin, contact=contact,
                status=decl.spec.status or defaults.status,
            )

    def domains(self) -> None:
        defaults = self.estate.site.defaults
        for decl in self.estate.domain_files:
            spec, origin = decl.spec, Origin(decl.doc)
            try:
                name = normalise_domain(spec.domain)
            except InvalidName as exc:
                self.report(origin, ("domain",), str(exc))
                continue
            first = self.catalog.domains.get(name.ascii)
            if first is not None:
                self.report(origin, ("domain",), f"domain {name.ascii} is already declared in "
                                                 f"{first.doc.location(('domain',))}; a domain belongs to exactly one "
                                                 "tenant")
                continue
            self.catalog.domains[name.ascii] = NDomain(
                name=name.ascii, display=name.unicode, tenant=decl.tenant, spec=spec, origin=origin,
                services=tuple(sorted(set(spec.services if spec.services is not None else defaults.domain_services))),
                status=spec.status or defaults.status,
                default_quota=defaults.mailbox_quota if spec.mail.default_quota is None else spec.mail.default_quota,
            )

    def mail_objects(self, domain: NDomain) -> None:
        site = self.estate.site
        origin = domain.origin
        defaults = tuple(bool(value) for value in _flags(site.defaults.mailbox_services))
        for local, box in domain.spec.mailboxes.items():
            path: FieldPath = ("mailboxes", local)
            claimed = self._new_address(domain, local, path)
            if claimed is None:
                continue
            local_n, address, where = claimed
            flags = tuple(value if value is not None else default
                          for value, default in zip(_flags(box.services), defaults, strict=True))
            # One read-only mapping per combination of flags, shared by the mailboxes that have it.
            services = self.services.get(flags)
            if services is None:
                services = self.services[flags] = MappingProxyType(dict(zip(MAIL_FLAGS, flags, strict=True)))
            for flag in ("ftp", "dialup"):
                if getattr(box.services, flag) and flag not in domain.services:
                    self.report(origin, path + ("services", flag), f"the domain does not enable the {flag} service")
            self.catalog.mailboxes[address] = NMailbox(
                address=address, local=local_n, domain=domain.name, spec=box, origin=where,
                quota=box.quota if box.quota is not None else domain.default_quota,
                status=box.status or site.defaults.status, services=services,
            )
        for local, spec in domain.spec.aliases.items():
            path = ("aliases", local)
            claimed = self._new_address(domain, local, path)
            if claimed is not None:
                _local, address, where = claimed
                self.catalog.aliases[address] = NAlias(
                    address=address, domain=domain.name, spec=spec, origin=where,
                    status=spec.status or site.defaults.status,
                )

    def _new_address(self, domain: NDomain, local: str, path: FieldPath) -> tuple[str, str, Origin] | None:
        """The normalised local part of a mailbox or alias, its address and its origin, once the
        address is claimed (one string and one origin, shared by the catalog's indexes)."""
        try:
            local_n = normalise_local(local)
        except InvalidName as exc:
            self.report(domain.origin, path, str(exc))
            return None
        address = f"{local_n}@{domain.name}"
        try:
            check_address_length(address)
        except InvalidName as exc:
            self.report(domain.origin, path, str(exc))
            return None
        where = Origin(domain.origin.doc, path)
        return (local_n, address, where) if self.claim(address, address, where, path) else None

    def claim(self, address: str, owner: str, origin: Origin, path: FieldPath) -> bool:
        if address in self.catalog.addresses:
            first = self.address_origin[address]
            self.report(origin, path, f"address {address} is already used at {first.doc.location(first.path)}")
            return False
        self.catalog.addresses[address] = owner
        self.address_origin[address] = origin if origin.path == path else Origin(origin.doc, path)
        return True

    # -- per-domain rules ------------------------------------------------------------------

    def domain_rules(self, domain: NDomain) -> None:
        spec, origin = domain.spec, domain.origin
        if spec.type == "alias":
            if not spec.alias_of:
                self.report(origin, ("alias_of",), "an alias domain needs alias_of: <target domain>")
            else:
                self._alias_target(domain, spec.alias_of)
            for section in ("mailboxes", "aliases"):
                if getattr(spec, section):
                    self.report(origin, (section,), f"an alias domain has no {section} of its own: mail to "
                                                    f"x@{domain.name} goes to x@{spec.alias_of}")
            if spec.mail.catch_all:
                self.report(origin, ("mail", "catch_all"), "an alias domain cannot have its own catch-all")
        elif spec.alias_of:
            self.report(origin, ("alias_of",), "alias_of is only allowed with type: alias (this domain is "
                                               f"{spec.type})")
        if spec.type == "slave" and not spec.primaries:
            self.report(origin, ("primaries",), "a slave domain needs the IP addresses of its primary servers")
        if spec.type != "slave" and spec.primaries:
            self.report(origin, ("primaries",), "primaries is only allowed with type: slave (this domain is "
                                                f"{spec.type})")
        if "mail" not in domain.services:
            for section in ("mailboxes", "aliases"):
                if getattr(spec, section):
                    self.report(origin, (section,), "this domain does not enable the mail service (add 'mail' to "
                                                    "services)")
            if spec.mail.catch_all and spec.type != "alias":
                self.report(origin, ("mail", "catch_all"), "this domain does not enable the mail service (add 'mail' "
                                                           "to services)")

    def _alias_target(self, domain: NDomain, target: str) -> None:
        try:
            ascii_target = normalise_domain(target).ascii
        except InvalidName as exc:
            self.report(domain.origin, ("alias_of",), str(exc))
            return
        other = self.catalog.domains.get(ascii_target)
        if ascii_target == domain.name:  # before the alias check: it is an alias domain too
            self.report(domain.origin, ("alias_of",), "a domain cannot be an alias of itself")
        elif other is None:
            self.report(domain.origin, ("alias_of",), f"target domain {ascii_target} is not declared in the estate")
        elif other.type == "alias":
            self.report(domain.origin, ("alias_of",), f"target domain {ascii_target} is itself an alias domain; point "
                                                      "at its target")
        elif self._reseller(other.tenant) != self._reseller(domain.tenant):
            # Mail for every address of this domain would land in another reseller's mailboxes,
            # which that reseller never agreed to in its own files. (Within one reseller's tree,
            # e.g. a client's domain as an alias of the reseller's, one owner decides both.)
            self.report(domain.origin, ("alias_of",), f"target domain {ascii_target} belongs to tenant {other.tenant} "
                                                      f"of reseller {self._reseller(other.tenant)}; an alias domain "
                                                      "must point at a domain of its own reseller's tree")
        else:
            domain.alias_of = ascii_target

    def _reseller(self, tenant: str) -> str:
        chain = self.catalog.tenant_chain(tenant)
        return chain[-1].name if chain else tenant

    # -- references, resolved once every address is known ----------------------------------

    def _resolve(self, target: str, domain: str, origin: Origin, path: FieldPath) -> str | None:
        """A target written as a bare local part means one in the same domain."""
        text = target if "@" in target else f"{target}@{domain}"
        try:
            return normalise_address(text)
        except InvalidName as exc:
            self.report(origin, path, str(exc))
            return None

    def extra_addresses(self, box: NMailbox) -> None:
        tenant = self.catalog.domains[box.domain].tenant
        extras = []
        for index, extra in enumerate(box.spec.aliases):
            path = box.origin.path + ("aliases", index)
            full = self._resolve(extra, box.domain, box.origin, path)
            if full is None:
                continue
            extra_domain = self.catalog.domains.get(full.split("@", 1)[1])
            if full == box.address:
                self.report(box.origin, path, f"{full} is this mailbox's own address; list only extra addresses")
            elif extra_domain is None:
                self.report(box.origin, path, f"{full}: extra addresses must be in a domain of this estate")
            elif extra_domain.tenant != tenant:
                self.report(box.origin, path, f"{full}: domain {extra_domain.name} belongs to tenant "
                                              f"{extra_domain.tenant}, not {tenant}")
            elif extra_domain.type == "alias" or "mail" not in extra_domain.services:
                self.report(box.origin, path, f"{full}: domain {extra_domain.name} cannot hold addresses (alias domain "
                                              "or no mail service)")
            elif self.claim(full, box.address, box.origin, path):
                extras.append(full)
        box.aliases = tuple(sorted(extras))

    def previous_addresses(self, box: NMailbox) -> None:
        """Renames: each earlier address must be free now, claimed by one mailbox only, and the
        tenant's own: a rename moves the entry and its mail, so naming another tenant's address
        would take that tenant's mailbox. (An address of a domain no longer in the estate is
        checked again at plan time, against the live tenant it is under.)"""
        found = []
        tenant = self.catalog.domains[box.domain].tenant
        for index, old in enumerate(box.spec.previous):
            path = box.origin.path + ("previous", index)
            full = self._resolve(old, box.domain, box.origin, path)
            if full is None:
                continue
            old_domain = self.catalog.domains.get(full.split("@", 1)[1])
            if old_domain is not None and old_domain.tenant != tenant:
                self.report(box.origin, path, f"{full} is in domain {old_domain.name} of tenant {old_domain.tenant}, "
                                              f"not {tenant}: a mailbox can only be renamed from an address of its own "
                                              "tenant (a rename moves the mailbox and its mail)")
            elif full in self.catalog.addresses:
                user = self.address_origin[full]
                self.report(box.origin, path, f"{full} is in use at {user.doc.location(user.path)}; a mailbox can only "
                                              "be renamed from an address nothing else uses")
            elif full in self.previous_origin:
                first = self.previous_origin[full]
                self.report(box.origin, path, f"{full} is already named as the previous address of the mailbox at "
                                              f"{first.doc.location(first.path)}")
            else:
                self.previous_origin[full] = Origin(box.origin.doc, path)
                found.append(full)
        box.previous = tuple(found)

    def deliverable(self, address: str) -> bool:
        """True if mail to ``address`` would land somewhere inside the estate."""
        if address in self.catalog.addresses:
            return True
        local, dom = address.split("@", 1)
        target = self.catalog.domains.get(dom)
        if target is None:
            return False
        if target.alias_of:
            return self.deliverable(f"{local}@{target.alias_of}")
        return target.catch_all is not None

    def check_target(self, target: str, domain: str, origin: Origin, path: FieldPath, what: str) -> str | None:
        full = self._resolve(target, domain, origin, path)
        if full is None:
            return None
        dom = full.split("@", 1)[1]
        if dom in self.catalog.domains and not self.unsure(dom) and not self.deliverable(full):
            self.report(origin, path, f"{what} {full} does not exist in the estate (no mailbox, alias or catch-all "
                                      "takes it)")
            return None
        return full

    def unsure(self, name: str) -> bool:
        """Whether addresses of domain ``name`` (or of the domain it is an alias of) may have
        been declared in a file that failed to load whole."""
        seen: set[str] = set()
        domain = self.catalog.domains.get(name)
        while domain is not None and domain.name not in seen:
            if domain.tenant in self.uncertain.tenants:
                return True
            seen.add(domain.name)
            domain = self.catalog.domains.get(domain.alias_of or domain.spec.alias_of or "")
        return False

    def catch_alls(self, domains: list[NDomain]) -> None:
        # Assign every catch-all before checking any, since one may point into another.
        pending = []
        for domain in domains:
            # Without the mail service the catch-all is already refused (domain_rules).
            if domain.spec.mail.catch_all and domain.spec.type != "alias" and "mail" in domain.services:
                path: FieldPath = ("mail", "catch_all")
                full = self._resolve(domain.spec.mail.catch_all, domain.name, domain.origin, path)
                if full is not None:
                    domain.catch_all = full
                    pending.append((domain, path, full))
        for domain, path, full in pending:
            if full.split("@", 1)[1] == domain.name and full not in self.catalog.addresses:
                self.report(domain.origin, path, f"catch-all target {full} must be a mailbox or alias of this domain")
                domain.catch_all = None
            elif self.check_target(full, domain.name, domain.origin, path, "catch-all target") is None:
                domain.catch_all = None

    def forwards(self, box: NMailbox) -> None:
        if box.spec.forward is None:
            return
        found = []
        written: dict[str, FieldPath] = {}
        for index, target in enumerate(box.spec.forward.to):
            path = box.origin.path + ("forward", "to", index)
            full = self.check_target(target, box.domain, box.origin, path, "forwarding target")
            if full == box.address or (full and self.catalog.addresses.get(full) == box.address):
                self.report(box.origin, path, "a mailbox cannot forward to itself; use keep_copy: true to keep a copy")
            elif full:
                found.append(full)
                written.setdefault(full, path)
        box.forward = tuple(sorted(set(found)))
        if written:
            box.written = written

    def alias_targets(self, alias: NAlias) -> None:
        found = []
        for index, target in enumerate(alias.spec.to):
            path = alias.origin.path + ("to", index)
            full = self.check_target(target, alias.domain, alias.origin, path, "alias target")
            if full == alias.address:
                self.report(alias.origin, path, "an alias cannot point at itself")
            elif full:
                found.append(full)
                alias.written.setdefault(full, path)
        alias.targets = tuple(sorted(set(found)))

    def delivery(self) -> None:
        for found in check_delivery(self.catalog, maybe_internal=self.uncertain.maybe_internal):
            self.report(found.origin, found.path, found.message)

    def run(self) -> Catalog:
        self.tenants()
        self.domains()
        domains = list(self.catalog.domains.values())
        for domain in domains:
            self.domain_rules(domain)
            self.mail_objects(domain)
        boxes = list(self.catalog.mailboxes.values())
        for box in boxes:
            self.extra_addresses(box)
        for box in boxes:
            self.previous_addresses(box)
        self.catch_alls(domains)
        for box in boxes:
            self.forwards(box)
        for alias in self.catalog.aliases.values():
            self.alias_targets(alias)
        self.delivery()
        self.problems += check_limits(self.catalog)
        self.problems += check_tenant_renames(self.catalog)
        return self.catalog


def build_catalog(estate: Estate, loaded: Sequence[Problem] = (),
                  outside: Mapping[str, int] | None = None) -> tuple[Catalog, list[Problem]]:
    """The catalog and every cross-file problem of the estate's own objects; ``loaded`` are the
    problems loading the files found (what they leave unknown is not reported again);
    ``outside``: ``Catalog.outside`` of a catalog of part of the estate (``estate.incremental``)."""
    checker = _Checker(estate, Uncertain.of(estate, loaded))
    if outside:
        checker.catalog.outside = outside
    return checker.run(), checker.problems


__all__ = ["DomainDecl", "MAIL_FLAGS", "Uncertain", "build_catalog"]
