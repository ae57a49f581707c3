"""Web rules: every site of the estate resolved and checked, with file:line problems.

The web service's compile hook runs ``check_sites`` on the estate's catalog: it resolves each
domain's sites (the written ``web.sites``, or the default apex answering ``www``) into
``Site`` values and reports, all at once:

* a ``web:`` section on a domain without the web service;
* a site host outside its domain, or inside another domain of the estate (a sub-domain
  declared in a file of its own); a wildcard as a site's own name;
* an alias outside the tenant's own domains, or repeating the site's name;
* one host name (a site's or an alias) claimed twice anywhere in the estate, naming both;
* a redirect loop: a site redirecting to itself (a path into itself, the whole host to its
  own name) or a chain among the estate's sites that comes back (A -> B -> A), followed
  the way Apache's ``Redirect`` maps paths (the longest matching ``from`` wins, the rest of
  the path is kept), naming every redirect of the loop; two redirects from one path;
* HSTS on a site without HTTPS; a wildcard alias with ``https: auto`` when certificates come
  over HTTP-01 (a CA validates wildcards over DNS-01 only); with DNS-01, a name whose zone
  ispctl's DNS does not serve (the challenge record could not be written);
* a protected path naming a login the site does not define, or none;
* two tenants with sites on one uid (derived or pinned), naming both; a pin outside the range
  (a tenant with sites: in the catalog, or in files a narrowed run did not load, ``sites_key``).

Docroots, redirect codes and targets, HTTPS certificate paths, hashes and limits are checked
by the models (``settings``), which report with the same file:line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ispctl.providers.web.settings import (
    DOMAIN_WEB,
    TENANT_WEB,
    WEB,
    Https,
    SiteSpec,
    WebSettings,
    full_host,
    inside,
)
from ispctl.providers.web.users import derived_uid, home_name
from ispctl.reconciler.contract import Catalog, Document, FieldPath, Location, NDomain, Problem, format_path

MAX_HOPS = 32  # a chain of redirects is followed this far (browsers give up after 20)


@dataclass(frozen=True)
class Redirect:
    code: int
    source: str         # "*" or a path
    target: str         # a path or an http(s) URL
    location: Location
    path: FieldPath     # where it is written

    @property
    def prefix(self) -> str:
        """What Apache's ``Redirect`` matches: "" (everything) for the whole host."""
        return "" if self.source == "*" else self.source.rstrip("/")

    def matches(self, path: str) -> bool:
        return not self.prefix or path == self.prefix or path.startswith(self.prefix + "/")

    def text(self) -> str:
        return f"{self.code} {self.source} {self.target}"


@dataclass
class Site:
    """One site as validation resolved it; ``compile`` makes its resource."""

    host: str                      # ASCII, the resource key
    domain: str                    # the domain's ASCII name
    tenant: str
    spec: SiteSpec
    location: Location
    aliases: tuple[str, ...] = ()
    https: Https = "off"
    status: str = "active"
    redirects: list[Redirect] = field(default_factory=list)
    previous: tuple[str, ...] = ()  # former host names (ASCII), newest first: a planned rename


@dataclass
class SiteSet:
    sites: dict[str, Site] = field(default_factory=dict)
    uids: dict[str, int] = field(default_factory=dict)  # tenant -> uid (tenants with sites)
    homes: dict[str, str] = field(default_factory=dict)  # tenant -> its web home's name (users.home_name)


class _WebChecker:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.settings: WebSettings = catalog.estate.site.section(WEB)
        self.result = SiteSet()
        self.problems: list[Problem] = []
        self.claims: dict[str, Location] = {}
        self.by_name: dict[str, Site] = {}  # every name a site answers (filled once all are known)
        self.former: list[tuple[Document, FieldPath, str, str]] = []  # (doc, where, site, its former name)

    def report(self, doc: Document, path: FieldPath, message: str) -> None:
        self.problems.append(doc.problem(path, message))

    def run(self) -> SiteSet:
        for domain in sorted(self.catalog.domains.values(), key=lambda d: d.name):
            written = domain.spec.has_section(DOMAIN_WEB)
            if "web" not in domain.services:
                if written:
                    self.report(domain.doc, ("web",), "this domain does not enable the web service (add 'web' to "
                                                      "services)")
                continue
            web = domain.spec.section(DOMAIN_WEB)
            for key, spec in web.effective_sites().items():
                path: FieldPath = ("web", "sites", key) if web.sites else ("domain",)
                self.site(domain, key, spec, path)
        self.redirect_loops()
        self.former_names()
        self.layout()
        self.uids()
        return self.result

    def layout(self) -> None:
        """Settings checked together (an override's error must name one field, so not the model)."""
        web, doc = self.settings, self.catalog.estate.site_doc
        root, archive = web.web_root, web.archive
        # Below the homes only a dot-directory is safe: no tenant is named with a leading dot.
        if archive == root or (archive.startswith(root + "/") and not archive[len(root) + 1:].startswith(".")):
            self.report(doc, ("web", "archive_dir"), f"{archive} is where a tenant's web home would be: the archive "
                                                     f"must be outside web.web_root ({root}) or a directory there "
                                                     "whose name starts with '.'")

    # -- names --------------------------------------------------------------------------

    def owner(self, host: str) -> NDomain | None:
        """The most specific domain of the estate the name is in."""
        name = host[2:] if host.startswith("*.") else host
        while "." in name:
            found = self.catalog.domains.get(name)
            if found is not None:
                return found
            name = name.split(".", 1)[1]
        return None

    def claim(self, doc: Document, path: FieldPath, host: str) -> bool:
        first = self.claims.get(host)
        here = doc.location(path)
        if first is not None:
            self.report(doc, path, f"{host} is already claimed by the site at {first}; a host name belongs to one site")
            return False
        self.claims[host] = here
        return True

    def site(self, domain: NDomain, key: str, spec: SiteSpec, path: FieldPath) -> None:
        doc = domain.doc
        try:
            host = full_host(key, domain.name)
        except ValueError as exc:
            self.report(doc, path, str(exc))
            return
        if host.startswith("*"):
            self.report(doc, path, f"a site's own name cannot be a wildcard ({host}); make it an alias of a site")
            return
        if not inside(host, domain.name):
            self.report(doc, path, f"{host} is outside the domain {domain.name}: a site here is '@', a label such as "
                                   f"www or shop, or a full name ending in .{domain.name}")
            return
        owner = self.owner(host)
        if owner is not None and owner.name != domain.name:
            self.report(doc, path, f"{host} is in the domain {owner.name} ({owner.doc.location(('domain',))}); "
                                   "declare the site in that domain's file")
            return
        if not self.claim(doc, path, host):
            return
        https = spec.https_mode or self.settings.https
        site = Site(host, domain.name, domain.tenant, spec, doc.location(path), https=https,
                    status=self.status(domain, spec))
        if https == "auto":
            self.dns_01_reaches(domain, doc, path, host)
        site.aliases = self.aliases(domain, spec, path, host, https)
        if spec.hsts is not None and https == "off":
            self.report(doc, path + ("hsts",), "HSTS needs HTTPS: this site's https is off")
        self.protected(doc, spec, path)
        site.redirects = self.redirects(doc, spec, path)
        site.previous = self.previous(domain, spec, path, host)
        self.result.sites[host] = site

    def previous(self, domain: NDomain, spec: SiteSpec, path: FieldPath, host: str) -> tuple[str, ...]:
        """The site's former host names, each a plain name in its domain (a rename stays there)."""
        out: list[str] = []
        for index, written in enumerate(spec.previous):
            where = path + ("previous", index)
            try:
                name = full_host(written, domain.name)
            except ValueError as exc:
                self.report(domain.doc, where, str(exc))
                continue
            if name.startswith("*") or not inside(name, domain.name) or name == host or name in out:
                self.report(domain.doc, where, f"{written}: a former name is another plain host name of the domain "
                                               f"{domain.name}, not the site's own, a wildcard or a repeat")
                continue
            if spec.docroot is not None and [p for p in spec.docroot.split("/") if p not in ("", ".")][:1] == [name]:
                # The rename moves <home>/<old host>: a docroot written inside it would be left behind.
                self.report(domain.doc, path + ("docroot",), f"{spec.docroot} is inside the former name's folder "
                                                             f"{name}/, which the rename moves to {host}/: write the "
                                                             f"docroot below {host}/")
            out.append(name)
            self.former.append((domain.doc, where, host, name))
        return tuple(out)

    def former_names(self) -> None:
        """A former name is no site's or alias's name now, and the former name of one site only."""
        named: dict[str, str] = {}
        for doc, where, host, old in self.former:
            other = named.setdefault(old, host)
            if old in self.claims or other != host:
                taken = f"a former name of {other}" if other != host else f"claimed at {self.claims[old]}"
                self.report(doc, where, f"{old} cannot be renamed into {host}: it is {taken}")

    def aliases(self, domain: NDomain, spec: SiteSpec, path: FieldPath, host: str, https: Https) -> tuple[str, ...]:
        doc, found = domain.doc, []
        for index, written in enumerate(spec.aliases):
            where = path + ("aliases", index) if path != ("domain",) else path  # the default site's: its domain
            try:
                alias = full_host(written, domain.name)
            except ValueError as exc:
                self.report(doc, where, str(exc))
                continue
            if alias == host:
                self.report(doc, where, f"{alias} is the site's own name")
                continue
            owner = self.owner(alias)
            if owner is None:
                self.report(doc, where, f"{alias} is in no domain of this estate; an alias is a name in one of the "
                                        f"tenant's domains (add the domain, type nodns if its DNS is elsewhere)")
                continue
            if owner.tenant != domain.tenant:
                self.report(doc, where, f"{alias} is in the domain {owner.name} of tenant {owner.tenant}, not "
                                        f"{domain.tenant}")
                continue
            if alias.startswith("*.") and https == "auto" and self.settings.acme_challenge == "http-01":
                self.report(doc, where, f"a certificate for {alias} needs DNS-01 (a CA validates wildcards over DNS "
                                        "only): set web.acme_challenge: dns-01 in ispctl.yaml, or https off or custom "
                                        "for this site")
                continue
            if https == "auto" and not self.dns_01_reaches(owner, doc, where, alias):
                continue
            if self.claim(doc, where, alias):
                found.append(alias)
        return tuple(sorted(found))

    def dns_01_reaches(self, owner: NDomain, doc: Document, where: FieldPath, name: str) -> bool:
        """With DNS-01 a certificate's names need their zone on ispctl's DNS (the challenge
        record is written there); a domain whose DNS is elsewhere cannot get one."""
        if self.settings.acme_challenge != "dns-01":
            return True
        # DNS is managed when ispctl.yaml writes a dns: section (the DNS service's rule).
        managed = "dns" in self.catalog.estate.site.model_fields_set
        if managed and "dns" in owner.services and owner.type in ("primary", "alias"):
            return True
        why = (f"its DNS is {owner.type}" if owner.type in ("nodns", "slave") else "it has no dns service"
               if managed else "ispctl.yaml has no dns: section")
        self.report(doc, where, f"a certificate for {name} needs a DNS-01 record in the zone {owner.name}, which "
                                f"ispctl does not serve ({why}): set https off or custom for this site, or "
                                "web.acme_challenge: http-01")
        return False

    def status(self, domain: NDomain, spec: SiteSpec) -> str:
        chain = self.catalog.tenant_chain(domain.tenant)
        statuses = [spec.status or "active", domain.status, *(t.status for t in chain)]
        return "suspended" if "suspended" in statuses else "active"

    def protected(self, doc: Document, spec: SiteSpec, path: FieldPath) -> None:
        for url, logins in spec.protected.items():
            where = path + ("protected", url)
            if not logins:
                self.report(doc, where, "lists no login: name at least one from this site's logins")
            for index, login in enumerate(logins):
                if login not in spec.logins:
                    known = ", ".join(sorted(spec.logins)) or "none"
                    self.report(doc, where + (index,), f"no login {login!r} in this site's logins (defined: {known})")

    def redirects(self, doc: Document, spec: SiteSpec, path: FieldPath) -> list[Redirect]:
        found: list[Redirect] = []
        seen: dict[str, int] = {}
        for index, rule in enumerate(spec.redirects):
            where = path + ("redirects", index)
            redirect = Redirect(rule.code, rule.from_, rule.to, doc.location(where), where)
            if redirect.prefix in seen:
                self.report(doc, where + ("from",), f"{rule.from_} is redirected already by redirect "
                                                    f"{seen[redirect.prefix]}")
                continue
            seen[redirect.prefix] = index
            found.append(redirect)
        return found

    # -- redirect loops --------------------------------------------------------------------

    def resolve(self, host: str) -> Site | None:
        """The estate's site answering ``host`` (a name or an alias, then wildcard aliases)."""
        site = self.by_name.get(host)
        name = host
        while site is None and "." in name:
            name = name.split(".", 1)[1]
            site = self.by_name.get("*." + name)
        return site

    def step(self, site: Site, rule: Redirect, path: str) -> tuple[Site, str] | None:
        """Where ``rule`` of ``site`` sends ``path``: the site and path of the next request."""
        rest = path[len(rule.prefix):]
        if rule.target.startswith("/"):
            target_site: Site | None = site
            base = rule.target
        else:
            parts = urlsplit(rule.target)
            host = (parts.hostname or "").rstrip(".")
            try:
                host = full_host(host, site.domain) if "." in host else ""
            except ValueError:
                return None
            target_site = self.resolve(host) if host else None
            base = parts.path or "/"
        if target_site is None:
            return None
        joined = base.rstrip("/") + rest if rest.startswith("/") else base + rest
        return target_site, joined or "/"

    def redirect_loops(self) -> None:
        self.by_name = {n: s for s in self.result.sites.values() for n in (s.host, *s.aliases)}
        for site in self.result.sites.values():
            for start in site.redirects:
                cycle = self.follow(site, start)
                # A loop is reported once, at its first redirect in file order.
                if cycle and start is min((r for _, r in cycle), key=lambda r: (r.location.file, r.location.line,
                                                                                r.location.column)):
                    self.problems.append(self.loop_problem(cycle))

    def follow(self, site: Site, start: Redirect) -> list[tuple[Site, Redirect]]:
        """The loop ``start`` is part of (empty if it leads out of the estate or stops)."""
        chain: list[tuple[Site, Redirect]] = [(site, start)]
        current = self.step(site, start, start.prefix or "/")
        while current is not None and len(chain) <= MAX_HOPS:
            here, path = current
            rules = [r for r in here.redirects if r.matches(path)]
            if not rules:
                return []
            rule = max(rules, key=lambda r: len(r.prefix))
            if any(r is rule for _, r in chain):
                first = next(i for i, (_, r) in enumerate(chain) if r is rule)
                return chain if first == 0 else []
            chain.append((here, rule))
            current = self.step(here, rule, path)
        return []

    def loop_problem(self, cycle: list[tuple[Site, Redirect]]) -> Problem:
        site, first = cycle[0]
        if len(cycle) == 1:
            message = (f"redirect loop: {first.source} on {site.host} redirects to {first.target}, which this same "
                       "redirect matches again")
            if first.source == "*" and first.target.startswith("https://"):
                message += " (HTTPS redirection is what https: auto or custom does)"
        else:
            hops = " -> ".join(f"{s.host} ({r.location})" for s, r in cycle[1:])
            message = f"redirect loop: {first.source} on {site.host} -> {hops} -> back here"
        return Problem(first.location, format_path(first.path), message)

    # -- uids -----------------------------------------------------------------------------

    def uids(self) -> None:
        low, high = self.settings.uid_min, self.settings.uid_max
        if low > high:
            self.report(self.catalog.estate.site_doc, ("web", "uid_min"), f"web.uid_min ({low}) is above web.uid_max "
                                                                          f"({high})")
            return
        taken: dict[int, str] = {}
        # A narrowed run (``estate.incremental``) loads every tenant but not every domain file:
        # the tenants with sites only in files it did not load are in ``Catalog.outside``.
        with_sites = {s.tenant for s in self.result.sites.values()}
        if self.catalog.outside:
            with_sites |= {t for t in self.catalog.tenants if self.catalog.outside.get(sites_key(t))}
        for name in sorted(with_sites):
            tenant = self.catalog.tenants[name]
            pinned = tenant.spec.get_section(TENANT_WEB)
            pin = pinned.uid if pinned is not None else None
            where: FieldPath = ("web", "uid") if pin is not None else ("name",)
            if pin is not None and not low <= pin <= high:
                self.report(tenant.origin.doc, where, f"{pin} is outside web.uid_min..web.uid_max ({low}..{high})")
                continue
            home = self.result.homes[name] = home_name(name, tenant.spec.previous)
            uid = pin if pin is not None else derived_uid(home, low, high)
            other = taken.get(uid)
            if other is not None:
                how = "pinned" if pin is not None else "derived from its name"
                self.report(tenant.origin.doc, where, f"tenant {name}'s web uid {uid} ({how}) is also tenant {other}'s "
                                                      f"({self.catalog.tenants[other].origin.location()}); pin another "
                                                      "with web: {uid: N} in one of the two tenant files")
                continue
            taken[uid] = name
            self.result.uids[name] = uid


def sites_key(tenant: str) -> str:
    """The ``Facts.totals`` key of a file's sites of ``tenant`` (``facts``): whether a tenant
    has sites, for the uid rule, counts the files a narrowed run did not load too."""
    return f"sites:{tenant}"


def check_sites(catalog: Catalog) -> tuple[SiteSet, list[Problem]]:
    """Resolve and check every site of the estate."""
    checker = _WebChecker(catalog)
    return checker.run(), checker.problems
