"""FTP owner logins for web sites: the site's document root, chrooted, as the site's owner.

A domain file's ``ftp:`` section names the sites (keys as in ``web.sites``: ``@``, a label, a
full name) that get a login, each with its password hash and optional limits::

    ftp:
      sites:
        www: {password: "{CRYPT}$6$...", quota: 2 GiB}

Each becomes an ``ftp_login.<site host>`` resource, a directory entry of its own below the
domain's (``LOGIN_PART``: ``account`` + ``posixAccount`` + ``PureFTPdUser`` + ``ispctlFtpUser``):
login name the site's host (as ISPMan's per-vhost FTP accounts), home and FTP home the site's
document root, uid/gid the site's (the web service's, so files uploaded belong to the pool that
serves them), ``FTPStatus`` disabled when the site, its domain or a tenant above is suspended.
The password is a credential like a mailbox's (``lifecycle.credentials``), never shown.

Problems, with file:line: a login for a name that is not one of the domain's sites, an ``ftp:``
section on a domain without the ftp service, a site uid below ``ftp.min_uid``; where some domain
has an ``ftp:`` section, a ``placement: {ftp: ...}`` naming no ftp host (``place``).
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

from dataclasses import dataclass, replace

from pydantic import Field

from ispctl.providers.ftp.settings import DISABLED, ENABLED, FTP, FtpLimits, FtpSettings, PasswordHash
from ispctl.providers.web.compile import site_attrs
from ispctl.providers.web.settings import WEB, full_host
from ispctl.providers.web.validate import check_sites
from ispctl.reconciler.contract import (
    DOMAIN,
    Catalog,
    Compiled,
    DirectoryPart,
    NDomain,
    PlacementItem,
    Resource,
    Section,
    Strict,
    address_of,
    place,
)

KIND = "ftp_login"
# ``Facts.totals`` keys (``facts``): a file's ``ftp:`` sections, and its ``placement: {ftp: ...}``
# that name no ftp host -- refused only where some file has FTP logins, so a narrowed run that
# loaded one must learn of those in files it did not load.
SECTIONS = "ftp:sections"
REFUSED = "ftp:refused-placements"


class SiteLogin(FtpLimits):
    password: PasswordHash = Field(description="the login's password hash ({CRYPT}$6$ or $2y$)")


class DomainFtp(Strict):
    sites: dict[str, SiteLogin] = Field(default_factory=dict, description="site (as in web.sites) -> its FTP login")


DOMAIN_FTP = Section("domain", "ftp", DomainFtp, description="FTP owner logins for the domain's web sites")

LOGIN_PART = DirectoryPart(
    KIND,
    {
        "name": (("cn",), "str"),
        "home": (("homeDirectory",), "str"),
        "ftp_home": (("ispctlFtpHome",), "str"),
        "uid_number": (("uidNumber",), "int"),
        "gid_number": (("gidNumber",), "int"),
        "password": (("userPassword",), "str"),
        "ftp_status": (("FTPStatus",), "str"),
        "ftp_quota_mb": (("FTPQuotaMBytes",), "int"),
        "ftp_quota_files": (("FTPQuotaFiles",), "int"),
        "ftp_upload_kbps": (("FTPUploadBandwidth",), "int"),
        "ftp_download_kbps": (("FTPDownloadBandwidth",), "int"),
        # The ftp host serving the login in a cluster (cosine's ``host``, which ``account``
        # allows: the hosts an account may log in on, as pam_ldap reads it; ISPMan's fileHost).
        "host": (("host",), "str"),
    },
    object_classes=("account", "posixAccount", "PureFTPdUser", "ispctlFtpUser"),
    rdn_attr="uid",
    identifying_class="ispctlFtpUser",
    sensitive=frozenset({"password"}),
)
CREDENTIALS = frozenset({"password"})


@dataclass
class _Logins:
    catalog: Catalog
    settings: FtpSettings
    out: Compiled

    def run(self) -> None:
        written = [d for d in self.catalog.domains.values() if d.spec.get_section(DOMAIN_FTP) is not None]
        # A narrowed run (``estate.incremental``) places, as the full run does, when files it did
        # not load have FTP logins (``facts``): the estate's ftp placements are checked then.
        if not written and not self.catalog.outside.get(SECTIONS):
            return
        if written:
            self.logins(written)
        self._place()
        refused = self.catalog.outside.get(REFUSED, 0)
        if refused:
            self.out.problems.append(self.catalog.estate.site_doc.problem(("cluster", "hosts"), (
                f"{refused} placement(s) {{ftp: ...}} in files this narrowed run did not load name no host with "
                "the ftp role here (the whole estate's run names them)")))

    def logins(self, written: list[NDomain]) -> None:
        sites, _problems = check_sites(self.catalog)  # the web service reports its own problems
        web = self.catalog.estate.site.section(WEB)
        for domain in sorted(written, key=lambda d: d.name):
            section = domain.spec.section(DOMAIN_FTP)
            doc = domain.doc
            if "ftp" not in domain.services:
                self.out.problems.append(doc.problem(("ftp",), "FTP logins on a domain without the ftp service "
                                                               "(add ftp to services)"))
                continue
            for written_host, login in section.sites.items():
                path = ("ftp", "sites", written_host)
                try:
                    host = full_host(written_host, domain.name)
                except ValueError as exc:
                    self.out.problems.append(doc.problem(path, str(exc), key=True))
                    continue
                site = sites.sites.get(host)
                uid = sites.uids.get(site.tenant) if site is not None else None
                if site is None or site.domain != domain.name or uid is None:
                    self.out.problems.append(doc.problem(path, f"{host} is not a web site of {domain.name} "
                                                               "(see web.sites)", key=True))
                    continue
                if uid < self.settings.min_uid:
                    self.out.problems.append(doc.problem(path, f"the site runs as uid {uid}, below ftp.min_uid "
                                                               f"{self.settings.min_uid}: pure-ftpd refuses it",
                                                         key=True))
                    continue
                attrs = site_attrs(site, web, uid, sites.homes.get(site.tenant))
                limits = FtpLimits(**{k: getattr(login, k) for k in FtpLimits.model_fields}).over(
                    self.settings.defaults)
                if limits.problem is not None:
                    self.out.problems.append(doc.problem(path, limits.problem, key=True))
                    continue
                docroot = attrs["docroot"]
                address = address_of(KIND, host)
                self.out.resources.append(Resource(KIND, host, {
                    "name": host,
                    "home": docroot,
                    "ftp_home": docroot,
                    "uid_number": uid,
                    "gid_number": attrs["gid"],
                    "password": login.password,
                    "ftp_status": DISABLED if site.status == "suspended" else ENABLED,
                    "ftp_quota_mb": limits.quota_mb,
                    "ftp_quota_files": limits.quota_files,
                    "ftp_upload_kbps": limits.upload_kbps,
                    "ftp_download_kbps": limits.download_kbps,
                }, parent=address_of(DOMAIN, domain.name), sensitive=CREDENTIALS,
                    source=doc.location(path, key=True), previous=site.previous))
                self.out.credentials[address] = CREDENTIALS

    def _place(self) -> None:
        """Each login's ftp host (the domain's or tenant's ``placement: {ftp: ...}``, else the
        default), stored as ``host``: a default host is written at creation and is the
        directory's afterwards (``create_only``), a pinned one is compared."""
        logins = [r for r in self.out.resources if r.kind == KIND]
        domains = {r.key: self.catalog.domains[r.parent.split(".", 1)[1]] for r in logins if r.parent}
        placement = place(self.catalog, "ftp", (PlacementItem(key, domain.name, domain.origin)
                                                for key, domain in domains.items()))
        self.out.problems.extend(placement.problems)
        placed = {r.address: placement.hosts.get(r.key) for r in logins}
        self.out.resources = [
            r if (where := placed.get(r.address)) is None else
            replace(r, attrs={**r.attrs, "host": where.host}, create_only=r.create_only | where.create_only)
            for r in self.out.resources]


def compile_site_logins(catalog: Catalog, out: Compiled) -> None:
    """Add the sites' FTP logins (and their problems) to ``out``."""
    _Logins(catalog, catalog.estate.site.section(FTP), out).run()
