"""Rules that span files, and the normalised catalog they produce.

Per-file shape is checked by the models (``reconciler.model``); here we check what only
the whole estate can tell: an address exists once; a domain belongs to one tenant;
alias-domain, catch-all and internal forwarding targets exist; limits and quota pools
hold. Every problem names the file, line, column and field where it can be fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .catalog import Catalog, NAlias, NDomain, NMailbox, NTenant, Origin
from .errors import Problem, ValidationFailed
from .loader import DomainDecl, Estate, load_estate
from .names import NameError_, normalise_address, normalise_domain, normalise_local
from .units import format_size
from .validate_dns import check_dns
from .yamlload import FieldPath

MAIL_FLAGS = ("imap", "pop3", "smtp", "ftp", "dialup")


class _Checker:
    def __init__(self, estate: Estate, incomplete: bool = False) -> None:
        self.estate = estate
        # With files that failed to load, "target does not exist" would be noise.
        self.incomplete = incomplete
        self.catalog = Catalog(estate)
        self.problems: list[Problem] = []
        self.address_origin: dict[str, Origin] = {}
        self.domain_origin: dict[str, Origin] = {}
        self.previous_origin: dict[str, Origin] = {}

    def report(self, origin: Origin, path: FieldPath, message: str) -> None:
        self.problems.append(origin.doc.problem(path, message))

    # -- building ----------------------------------------------------------------------

    def tenants(self) -> None:
        defaults = self.estate.site.defaults
        for name, decl in sorted(self.estate.tenants.items()):
            origin = Origin(decl.doc, ())
            contact = decl.spec.contact
            if contact is not None:
                try:
                    contact = normalise_address(contact)
                except NameError_ as exc:
                    self.report(origin, ("contact",), str(exc))
            self.catalog.tenants[name] = NTenant(
                name, decl.parent, decl.spec.name, contact, decl.spec.status or defaults.status,
                decl.spec.limits, origin, decl.spec.protect,
            )

    def domains(self) -> None:
        defaults = self.estate.site.defaults
        for decl in self.estate.domain_files:
            spec, origin = decl.spec, Origin(decl.doc, ())
            try:
                name = normalise_domain(spec.domain)
            except NameError_ as exc:
                self.report(origin, ("domain",), str(exc))
                continue
            if name.ascii in self.catalog.domains:
                first = self.domain_origin[name.ascii]
                self.report(origin, ("domain",), f"domain {name.ascii} is already declared in {first.doc.location(('domain',))}; a domain belongs to exactly one tenant")
                continue
            services = tuple(sorted(set(spec.services if spec.services is not None else defaults.domain_services)))
            self.domain_origin[name.ascii] = origin
            self.catalog.domains[name.ascii] = NDomain(
                name.ascii, name.unicode, decl.tenant, spec.type, None, services,
                spec.status or defaults.status,
                spec.mail.default_quota if spec.mail.default_quota is not None else defaults.mailbox_quota,
                None, tuple(spec.primaries), spec.description, origin, spec.protect,
            )

    def domain_rules(self, decl: DomainDecl, domain: NDomain) -> None:
        spec, origin = decl.spec, domain.origin
        if spec.type == "alias":
            if not spec.alias_of:
                self.report(origin, ("alias_of",), "an alias domain needs alias_of: <target domain>")
            else:
                self._alias_target(domain, spec.alias_of)
            for section in ("mailboxes", "aliases"):
                if getattr(spec, section):
                    self.report(origin, (section,), f"an alias domain has no {section} of its own: mail to x@{domain.name} goes to x@{spec.alias_of}")
            if spec.mail.catch_all:
                self.report(origin, ("mail", "catch_all"), "an alias domain cannot have its own catch-all")
        elif spec.alias_of:
            self.report(origin, ("alias_of",), f"alias_of is only allowed with type: alias (this domain is {spec.type})")
        if spec.type == "slave" and not spec.primaries:
            self.report(origin, ("primaries",), "a slave domain needs the IP addresses of its primary servers")
        if spec.type != "slave" and spec.primaries:
            self.report(origin, ("primaries",), f"primaries is only allowed with type: slave (this domain is {spec.type})")
        if "mail" not in domain.services:
            for section in ("mailboxes", "aliases"):
                if getattr(spec, section):
                    self.report(origin, (section,), "this domain does not enable the mail service (add 'mail' to services)")
            if spec.mail.catch_all and spec.type != "alias":
                self.report(origin, ("mail", "catch_all"), "this domain does not enable the mail service (add 'mail' to services)")

    def _alias_target(self, domain: NDomain, target: str) -> None:
        try:
            ascii_target = normalise_domain(target).ascii
        except NameError_ as exc:
            self.report(domain.origin, ("alias_of",), str(exc))
            return
        other = self.catalog.domains.get(ascii_target)
        if ascii_target == domain.name:  # before the alias check: it is an alias domain too
            self.report(domain.origin, ("alias_of",), "a domain cannot be an alias of itself")
        elif other is None:
            self.report(domain.origin, ("alias_of",), f"target domain {ascii_target} is not declared in the estate")
        elif other.type == "alias":
            self.report(domain.origin, ("alias_of",), f"target domain {ascii_target} is itself an alias domain; point at its target")
        else:
            domain.alias_of = ascii_target

    def claim(self, address: str, owner: str, origin: Origin, path: FieldPath) -> bool:
        if address in self.catalog.addresses:
            first = self.address_origin[address]
            self.report(origin, path, f"address {address} is already used at {first.doc.location(first.path)}")
            return False
        self.catalog.addresses[address] = owner
        self.address_origin[address] = Origin(origin.doc, path)
        return True

    def mail_objects(self, decl: DomainDecl, domain: NDomain) -> None:
        site = self.estate.site
        origin = domain.origin
        for local, box in decl.spec.mailboxes.items():
            path: FieldPath = ("mailboxes", local)
            try:
                local_n = normalise_local(local)
            except NameError_ as exc:
                self.report(origin, path, str(exc))
                continue
            address = f"{local_n}@{domain.name}"
            if not self.claim(address, address, origin, path):
                continue
            services = {}
            for flag in MAIL_FLAGS:
                value = getattr(box.services, flag)
                services[flag] = value if value is not None else bool(getattr(site.defaults.mailbox_services, flag))
            for flag, service in (("ftp", "ftp"), ("dialup", "dialup")):
                if getattr(box.services, flag) and service not in domain.services:
                    self.report(origin, path + ("services", flag), f"the domain does not enable the {service} service")
            self.catalog.mailboxes[address] = NMailbox(
                address, local_n, domain.name, box.name or local_n, box.password,
                box.quota if box.quota is not None else domain.default_quota,
                box.status or site.defaults.status, services, (), (),
                bool(box.forward and box.forward.keep_copy), Origin(origin.doc, path),
            )
        for local, spec in decl.spec.aliases.items():
            path = ("aliases", local)
            try:
                local_n = normalise_local(local)
            except NameError_ as exc:
                self.report(origin, path, str(exc))
                continue
            address = f"{local_n}@{domain.name}"
            if self.claim(address, address, origin, path):
                self.catalog.aliases[address] = NAlias(
                    address, domain.name, (), spec.status or site.defaults.status, spec.description, Origin(origin.doc, path)
                )

    def extra_addresses(self, decl: DomainDecl, domain: NDomain) -> None:
        for local, box in decl.spec.mailboxes.items():
            owner = self._owner(domain, local)
            if owner is None:
                continue
            mailbox = self.catalog.mailboxes[owner]
            extras = []
            for index, extra in enumerate(box.aliases):
                path = ("mailboxes", local, "aliases", index)
                full = self._resolve(extra, domain, mailbox.origin, path)
                if full is None:
                    continue
                extra_domain = self.catalog.domains.get(full.split("@", 1)[1])
                if full == owner:
                    self.report(mailbox.origin, path, f"{full} is this mailbox's own address; list only extra addresses")
                elif extra_domain is None:
                    self.report(mailbox.origin, path, f"{full}: extra addresses must be in a domain of this estate")
                elif extra_domain.tenant != domain.tenant:
                    self.report(mailbox.origin, path, f"{full}: domain {extra_domain.name} belongs to tenant {extra_domain.tenant}, not {domain.tenant}")
                elif extra_domain.type == "alias" or "mail" not in extra_domain.services:
                    self.report(mailbox.origin, path, f"{full}: domain {extra_domain.name} cannot hold addresses (alias domain or no mail service)")
                elif self.claim(full, owner, mailbox.origin, path):
                    extras.append(full)
            mailbox.aliases = tuple(sorted(extras))

    def previous_addresses(self, decl: DomainDecl, domain: NDomain) -> None:
        """Renames: each earlier address must be free now, and claimed by one mailbox only."""
        for local, box in decl.spec.mailboxes.items():
            owner = self._owner(domain, local)
            if owner is None:
                continue
            mailbox = self.catalog.mailboxes[owner]
            found = []
            for index, old in enumerate(box.previous):
                path = ("mailboxes", local, "previous", index)
                full = self._resolve(old, domain, mailbox.origin, path)
                if full is None:
                    continue
                if full in self.catalog.addresses:
                    user = self.address_origin[full]
                    self.report(mailbox.origin, path, f"{full} is in use at {user.doc.location(user.path)}; a mailbox can only be renamed from an address nothing else uses")
                elif full in self.previous_origin:
                    first = self.previous_origin[full]
                    self.report(mailbox.origin, path, f"{full} is already named as the previous address of the mailbox at {first.doc.location(first.path)}")
                else:
                    self.previous_origin[full] = Origin(mailbox.origin.doc, path)
                    found.append(full)
            mailbox.previous = tuple(found)

    def _owner(self, domain: NDomain, local: str) -> str | None:
        try:
            address = f"{normalise_local(local)}@{domain.name}"
        except NameError_:
            return None
        return address if address in self.catalog.mailboxes else None

    def _resolve(self, target: str, domain: NDomain, origin: Origin, path: FieldPath) -> str | None:
        """A target written as a bare local part means one in the same domain."""
        text = target if "@" in target else f"{target}@{domain.name}"
        try:
            return normalise_address(text)
        except NameError_ as exc:
            self.report(origin, path, str(exc))
            return None

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

    def check_target(self, target: str, domain: NDomain, origin: Origin, path: FieldPath, what: str) -> str | None:
        full = self._resolve(target, domain, origin, path)
        if full is None:
            return None
        dom = full.split("@", 1)[1]
        if dom in self.catalog.domains and not self.incomplete and not self.deliverable(full):
            self.report(origin, path, f"{what} {full} does not exist in the estate (no mailbox, alias or catch-all takes it)")
            return None
        return full

    def catch_alls(self, decls: list[tuple[DomainDecl, NDomain]]) -> None:
        # Assign every catch-all before checking any, since one may point into another.
        pending = []
        for decl, domain in decls:
            if decl.spec.mail.catch_all and decl.spec.type != "alias":
                path: FieldPath = ("mail", "catch_all")
                full = self._resolve(decl.spec.mail.catch_all, domain, domain.origin, path)
                if full is not None:
                    domain.catch_all = full
                    pending.append((domain, path, full))
        for domain, path, full in pending:
            if full.split("@", 1)[1] == domain.name and full not in self.catalog.addresses:
                self.report(domain.origin, path, f"catch-all target {full} must be a mailbox or alias of this domain")
                domain.catch_all = None
            elif self.check_target(full, domain, domain.origin, path, "catch-all target") is None:
                domain.catch_all = None

    def forwards(self, decl: DomainDecl, domain: NDomain) -> None:
        for local, box in decl.spec.mailboxes.items():
            owner = self._owner(domain, local)
            if owner is None or box.forward is None:
                continue
            mailbox = self.catalog.mailboxes[owner]
            found = []
            for index, target in enumerate(box.forward.to):
                path = ("mailboxes", local, "forward", "to", index)
                full = self.check_target(target, domain, mailbox.origin, path, "forwarding target")
                if full == owner or (full and self.catalog.addresses.get(full) == owner):
                    self.report(mailbox.origin, path, "a mailbox cannot forward to itself; use keep_copy: true to keep a copy")
                elif full:
                    found.append(full)
            mailbox.forward = tuple(sorted(set(found)))
        for local, spec in decl.spec.aliases.items():
            try:
                address = f"{normalise_local(local)}@{domain.name}"
            except NameError_:
                continue
            alias = self.catalog.aliases.get(address)
            if alias is None:
                continue
            found = []
            for index, target in enumerate(spec.to):
                path = ("aliases", local, "to", index)
                full = self.check_target(target, domain, alias.origin, path, "alias target")
                if full == address:
                    self.report(alias.origin, path, "an alias cannot point at itself")
                elif full:
                    found.append(full)
            alias.targets = tuple(sorted(set(found)))

    def limits(self) -> None:
        usage: dict[str, dict[str, int]] = {t: {"domains": 0, "mailboxes": 0, "aliases": 0, "quota": 0} for t in self.catalog.tenants}
        unlimited_boxes: dict[str, list[NMailbox]] = {t: [] for t in self.catalog.tenants}
        for domain in self.catalog.domains.values():
            for tenant in self.catalog.tenant_chain(domain.tenant):
                usage[tenant.name]["domains"] += 1
        for box in self.catalog.mailboxes.values():
            for tenant in self.catalog.tenant_chain(self.catalog.domains[box.domain].tenant):
                usage[tenant.name]["mailboxes"] += 1
                usage[tenant.name]["aliases"] += len(box.aliases)
                usage[tenant.name]["quota"] += box.quota
                if box.quota == 0:
                    unlimited_boxes[tenant.name].append(box)
        for alias in self.catalog.aliases.values():
            for tenant in self.catalog.tenant_chain(self.catalog.domains[alias.domain].tenant):
                usage[tenant.name]["aliases"] += 1
        for name, tenant in sorted(self.catalog.tenants.items()):
            used, lim = usage[name], tenant.limits
            scope = " (its clients included)" if tenant.kind == "reseller" else ""
            for field_name, key, label in (
                ("max_domains", "domains", "domains"),
                ("max_mailboxes", "mailboxes", "mailboxes"),
                ("max_aliases", "aliases", "aliases and extra addresses"),
            ):
                limit = getattr(lim, field_name)
                if limit is not None and used[key] > limit:
                    self.report(tenant.origin, ("limits", field_name), f"tenant {name} has {used[key]} {label}{scope}, over its limit of {limit}")
            if lim.mail_quota_pool is not None:
                if used["quota"] > lim.mail_quota_pool:
                    self.report(tenant.origin, ("limits", "mail_quota_pool"), f"mailbox quotas of tenant {name}{scope} add up to {format_size(used['quota'])}, over its pool of {format_size(lim.mail_quota_pool)}")
                for box in unlimited_boxes[name]:
                    self.report(box.origin, box.origin.path + ("quota",), f"an unlimited mailbox (quota 0) cannot draw from tenant {name}'s quota pool")

    def run(self) -> Catalog:
        self.tenants()
        self.domains()
        decls = []
        for decl in self.estate.domain_files:
            try:
                domain = self.catalog.domains.get(normalise_domain(decl.spec.domain).ascii)
            except NameError_:
                continue
            if domain is not None and domain.origin.doc is decl.doc:
                decls.append((decl, domain))
        for decl, domain in decls:
            self.domain_rules(decl, domain)
            self.mail_objects(decl, domain)
        for decl, domain in decls:
            self.extra_addresses(decl, domain)
        for decl, domain in decls:
            self.previous_addresses(decl, domain)
        self.catch_alls(decls)
        for decl, domain in decls:
            self.forwards(decl, domain)
        self.limits()
        return self.catalog


def build_catalog(estate: Estate, incomplete: bool = False) -> tuple[Catalog, list[Problem]]:
    checker = _Checker(estate, incomplete)
    catalog = checker.run()
    return catalog, checker.problems + check_dns(catalog)


def validate_estate(root: Path, tolerate: Callable[[Problem], bool] | None = None) -> Catalog:
    """Load and check everything; raise ValidationFailed with every problem found.

    ``tolerate`` names cross-file problems a command can live with (the DKIM commands and
    the DNS import run precisely because a key is missing).
    """
    estate, problems = load_estate(root)
    if estate is None:
        raise ValidationFailed(sorted(problems))
    catalog, more = build_catalog(estate, incomplete=bool(problems))
    problems += [p for p in more if tolerate is None or not tolerate(p)]
    if problems:
        raise ValidationFailed(sorted(set(problems)))
    return catalog
