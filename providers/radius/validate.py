"""RADIUS rules: profiles and access accounts resolved and checked, with file:line problems.

``check_radius`` walks the estate once and reports, all at once:

* a reply item (a profile's or an account's ``reply``) that is not ``Attribute op value`` with
  an attribute of the FreeRADIUS dictionary, an operator that sets a reply, a value of the
  attribute's type (``dictionary``); a dictionary that cannot be read, once;
* an account naming a profile that neither its tenant (nor a tenant above it) nor ispctl.yaml
  declares;
* an account whose credentials cannot work with one of its methods: CHAP needs ``cleartext``
  (a crypt or NT hash cannot answer a CHAP challenge), MS-CHAP needs ``nt_hash`` or
  ``cleartext``, in git or named in ``live_credentials`` (set on the live side, which needs
  ``credentials: user``); a standalone PAP account with no credential at all;
* a domain ``radius:`` section (standalone accounts) or a mailbox's on a domain without the
  ``dialup`` service; a standalone login that is also an address of the estate;
* a former name (``previous:``, a planned rename) that is an account of the domain now, or
  that two accounts claim.

A mailbox's ``services.dialup`` needing the domain's ``dialup`` service is the estate's own
rule. Names, addresses, hashes, routes and timeouts are checked by the models (``settings``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ispctl.providers.radius.dictionary import Dictionary, DictionaryError, check_item, load
from ispctl.providers.radius.settings import (
    DOMAIN_RADIUS,
    MAILBOX_RADIUS,
    RADIUS,
    TENANT_RADIUS,
    AccessSpec,
    AccountSpec,
    MailboxRadius,
    ProfileSpec,
)
from ispctl.reconciler.contract import Catalog, Document, FieldPath, Location, Problem

DEFAULT_ACCESS = MailboxRadius()
_METHOD_NEEDS = {
    "chap": ("cleartext", "CHAP needs the cleartext password (cleartext:): neither a {CRYPT} hash nor an NT hash "
                          "can answer a CHAP challenge"),
    "mschap": ("nt_hash or cleartext", "MS-CHAP needs the NT hash (nt_hash:, e.g. from smbencrypt) or the cleartext "
                                       "password (cleartext:): a {CRYPT} hash cannot answer an MS-CHAP challenge"),
}


@dataclass
class Profile:
    key: str                 # resource key: the name (ispctl.yaml) or <tenant>/<name>
    name: str
    tenant: str | None
    spec: ProfileSpec
    location: Location


@dataclass
class Account:
    """One access account as validation resolved it; ``compile`` makes its attributes."""

    login: str
    domain: str
    tenant: str
    spec: AccessSpec
    location: Location
    access: bool               # may log in: enabled (dialup on) and effectively active
    status: str
    profile: Profile | None = None
    mailbox: bool = False      # a mailbox's account (attributes on the mailbox entry)


@dataclass
class RadiusSet:
    profiles: dict[str, Profile] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)


def _status(*statuses: str) -> str:
    return "suspended" if "suspended" in statuses else "active"


class _RadiusChecker:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.settings = catalog.estate.site.section(RADIUS)
        self.result = RadiusSet()
        self.problems: list[Problem] = []
        self._dictionary: Dictionary | None = None
        self._dictionary_failed = False

    def report(self, doc: Document, path: FieldPath, message: str) -> None:
        self.problems.append(doc.problem(path, message))

    def dictionary(self) -> Dictionary | None:
        if self._dictionary is None and not self._dictionary_failed:
            try:
                self._dictionary = load(self.settings.dictionary)
            except DictionaryError as exc:
                self._dictionary_failed = True
                self.report(self.catalog.estate.site_doc, ("radius", "dictionary"), f"{exc}: reply items cannot be "
                            "checked (install the Debian package freeradius-common, or name the file)")
        return self._dictionary

    def items(self, doc: Document, path: FieldPath, items: Iterable[str]) -> None:
        for index, item in enumerate(items):
            dictionary = self.dictionary()
            if dictionary is None:
                return
            wrong = check_item(item, dictionary)
            if wrong is not None:
                self.report(doc, (*path, index), wrong)

    def run(self) -> RadiusSet:
        site_doc = self.catalog.estate.site_doc
        lifecycle = self.catalog.estate.site.lifecycle.credentials
        for name, spec in sorted(self.settings.profiles.items()):
            path: FieldPath = ("radius", "profiles", name)
            self.profile(name, name, None, spec, site_doc, path)
        for tenant in sorted(self.catalog.tenants.values(), key=lambda t: t.name):
            for name, spec in sorted(tenant.spec.section(TENANT_RADIUS).profiles.items()):
                path = (*tenant.origin.path, "radius", "profiles", name)
                self.profile(f"{tenant.name}/{name}", name, tenant.name, spec, tenant.origin.doc, path)
        for domain in sorted(self.catalog.domains.values(), key=lambda d: d.name):
            written = domain.spec.has_section(DOMAIN_RADIUS)
            accounts = domain.spec.section(DOMAIN_RADIUS).accounts
            if written and accounts and "dialup" not in domain.services:
                self.report(domain.doc, ("radius",), "this domain does not enable the dialup service (add 'dialup' "
                                                     "to services)")
                continue
            tenant_status = [t.status for t in self.catalog.tenant_chain(domain.tenant)]
            self.previous(domain.doc, accounts)
            for name, account in sorted(accounts.items()):
                path = ("radius", "accounts", name)
                login = f"{name}@{domain.name}"
                if login in self.catalog.addresses:
                    self.report(domain.doc, path, f"{login} is also an address of the estate: a mailbox's access "
                                                  "account is its radius: section, not a standalone account")
                    continue
                status = _status(account.status or "active", domain.status, *tenant_status)
                self.account(login, domain.name, domain.tenant, account, domain.doc, path,
                             access=account.enabled and status == "active", status=status,
                             owner=account.credentials or lifecycle)
        for box in sorted(self.catalog.mailboxes.values(), key=lambda b: b.address):
            own = box.spec.get_section(MAILBOX_RADIUS)
            dialup = bool(box.services.get("dialup"))
            if own is None and not dialup:
                continue
            domain = self.catalog.domains[box.domain]
            base = box.origin.path
            if "dialup" not in domain.services:
                if own is not None:  # the flag without the service is the estate's own rule
                    self.report(box.origin.doc, (*base, "radius"), "the domain does not enable the dialup service")
                continue
            tenant_status = [t.status for t in self.catalog.tenant_chain(domain.tenant)]
            status = _status(box.status, domain.status, *tenant_status)
            self.account(box.address, domain.name, domain.tenant, own or DEFAULT_ACCESS, box.origin.doc,
                         (*base, "radius"), access=dialup and status == "active", status=status,
                         owner=box.spec.credentials or lifecycle, mailbox=True)
        return self.result

    def previous(self, doc: Document, accounts: Mapping[str, AccountSpec]) -> None:
        """Former names (a planned rename) name one live entry each: never an account the domain
        has now (its entry is that account's), nor one another account of the domain claims too."""
        claimed: dict[str, str] = {}
        for name, account in sorted(accounts.items()):
            for index, old in enumerate(account.previous):
                path: FieldPath = ("radius", "accounts", name, "previous", index)
                if old in accounts:
                    self.report(doc, path, f"{old} is an account of this domain: a former name must be free"
                                + (" (this account's own name)" if old == name else ""))
                elif old in claimed and claimed[old] != name:
                    self.report(doc, path, f"{old} is also a former name of {claimed[old]}: one entry can be "
                                           "renamed into one account only")
                else:
                    claimed[old] = name

    def profile(self, key: str, name: str, tenant: str | None, spec: ProfileSpec, doc: Document,
                path: FieldPath) -> None:
        self.items(doc, (*path, "reply"), spec.reply)
        self.result.profiles[key] = Profile(key, name, tenant, spec, doc.location(path, True))

    def find_profile(self, name: str, tenant: str) -> Profile | None:
        for owner in self.catalog.tenant_chain(tenant):
            found = self.result.profiles.get(f"{owner.name}/{name}")
            if found is not None:
                return found
        return self.result.profiles.get(name)

    def account(self, login: str, domain: str, tenant: str, spec: AccessSpec, doc: Document, path: FieldPath, *,
                access: bool, status: str, owner: str, mailbox: bool = False) -> None:
        """``owner``: who the credentials belong to after creation (``user`` or ``git``)."""
        ok = True
        profile = None
        if spec.profile is not None:
            profile = self.find_profile(spec.profile, tenant)
            if profile is None:
                ok = False
                self.report(doc, (*path, "profile"), f"no profile {spec.profile!r}: declare it under radius.profiles "
                                                     f"in tenant {tenant}'s file (or a parent's) or in ispctl.yaml")
        live = set(spec.live_credentials)
        if live and owner != "user":
            ok = False
            self.report(doc, (*path, "live_credentials"), "credentials set on the live side need credentials: user "
                        "(with credentials: git, git holds them)")
        cleartext = spec.cleartext is not None or "cleartext" in live
        nt_hash = spec.nt_hash is not None or "nt_hash" in live
        for method in dict.fromkeys(spec.auth):
            if method == "chap" and not cleartext:
                ok = False
                self.report(doc, (*path, "auth"), _METHOD_NEEDS["chap"][1])
            if method == "mschap" and not cleartext and not nt_hash:
                ok = False
                self.report(doc, (*path, "auth"), _METHOD_NEEDS["mschap"][1])
        if (isinstance(spec, AccountSpec) and "pap" in spec.auth and spec.password is None and not nt_hash
                and not cleartext):
            ok = False
            self.report(doc, (*path, "auth"), "PAP needs a credential: password ({CRYPT} hash), nt_hash or cleartext")
        before = len(self.problems)
        self.items(doc, (*path, "reply"), spec.reply)
        if ok and len(self.problems) == before:
            self.result.accounts[login] = Account(login, domain, tenant, spec, doc.location(path, True), access,
                                                  status, profile, mailbox)


def check_radius(catalog: Catalog) -> tuple[RadiusSet, list[Problem]]:
    checker = _RadiusChecker(catalog)
    return checker.run(), checker.problems
