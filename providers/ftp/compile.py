"""FTP logins for mailboxes: the FTP service's compile hook.

A mailbox with ``services: {ftp: true}`` (its domain must enable ``ftp``, which the estate
checks) gets the attributes pure-ftpd-ldap reads, stored in its own directory entry with the
``PureFTPdUser`` and ``ispctlFtpUser`` classes (``MAILBOX_PART``):

* ``ftp_status``: ``enabled``, or ``disabled`` when the mailbox, its domain or a tenant above
  it is suspended -- exactly pure-ftpd's two words (it refuses anything else, ISPMan's
  ``active`` included, which is why nothing else is ever written);
* ``ftp_home``: ``<ftp.root>/<domain>/<local>``, which pure-ftpd chroots into and creates on
  the first login (its ``-j``), owned by the login's uid: FTP files live apart from the mail;
* ``ftp_quota_mb``, ``ftp_quota_files``, ``ftp_upload_kbps``, ``ftp_download_kbps``: the
  mailbox's ``ftp:`` limits over ``ftp.defaults`` (None: unlimited);
* ``ftp_uid``/``ftp_gid``: ``ftp.uid``/``ftp.gid`` when set (else pure-ftpd uses the entry's
  uidNumber/gidNumber, the mail store's owner).

A mailbox without the flag gets none of them (its entry loses the classes). Problems, with
file:line: an ``ftp:`` section on a mailbox without the flag; an address pure-ftpd cannot take
as a login name (it allows only letters, digits and ``-._@:' `` and space); a login uid or gid
below ``ftp.min_uid`` or 0 (pure-ftpd refuses those logins).
"""

from __future__ import annotations

import re

from ispctl.providers.ftp.settings import DISABLED, ENABLED, FTP, MAILBOX_FTP, FtpLimits, FtpSettings
from ispctl.providers.ftp.sites import compile_site_logins
from ispctl.providers.mailstore.settings import MAIL
from ispctl.reconciler.contract import CLUSTER, MAILBOX, Catalog, Compiled, DirectoryPart, NMailbox, Value, address_of

# What pure-ftpd's LDAP backend accepts in a login name (src/log_ldap.c; README.LDAP).
LOGIN = re.compile(r"[A-Za-z0-9 ._@:'-]+")

MAILBOX_PART = DirectoryPart(
    "mailbox",
    {
        "ftp_status": (("FTPStatus",), "str"),
        "ftp_home": (("ispctlFtpHome",), "str"),
        "ftp_quota_mb": (("FTPQuotaMBytes",), "int"),
        "ftp_quota_files": (("FTPQuotaFiles",), "int"),
        "ftp_upload_kbps": (("FTPUploadBandwidth",), "int"),
        "ftp_download_kbps": (("FTPDownloadBandwidth",), "int"),
        "ftp_uid": (("FTPuid",), "int"),
        "ftp_gid": (("FTPgid",), "int"),
    },
    object_classes=("PureFTPdUser", "ispctlFtpUser"),
)
FIELDS = tuple(MAILBOX_PART.fields)


def _suspended(catalog: Catalog, box: NMailbox) -> bool:
    domain = catalog.domains[box.domain]
    chain = catalog.tenant_chain(domain.tenant)
    return "suspended" in (box.status, domain.status, *(t.status for t in chain))


def ftp_home(settings: FtpSettings, domain: str, local: str) -> str:
    """The layout: a mailbox's FTP home is ``<ftp.root>/<domain>/<local part>``."""
    return f"{settings.root}/{domain}/{local}"


def mailbox_attrs(catalog: Catalog, box: NMailbox, settings: FtpSettings) -> dict[str, Value]:
    limits = (box.spec.get_section(MAILBOX_FTP) or FtpLimits()).over(settings.defaults)
    return {
        "ftp_status": DISABLED if _suspended(catalog, box) else ENABLED,
        "ftp_home": ftp_home(settings, box.domain, box.local),
        "ftp_quota_mb": limits.quota_mb,
        "ftp_quota_files": limits.quota_files,
        "ftp_upload_kbps": limits.upload_kbps,
        "ftp_download_kbps": limits.download_kbps,
        "ftp_uid": settings.uid,
        "ftp_gid": settings.gid,
    }


def _owner_problems(catalog: Catalog, settings: FtpSettings, out: Compiled) -> None:
    """The uid FTP logins run as, against ``ftp.min_uid`` (reported once, at the setting)."""
    own, doc = settings.uid, catalog.estate.site_doc
    uid = own if own is not None else catalog.estate.site.section(MAIL).uid
    if uid < settings.min_uid:
        where = ("ftp", "uid") if own is not None else ("mail", "uid")
        out.problems.append(doc.problem(where, f"FTP logins would run as uid {uid}, below ftp.min_uid "
                                               f"{settings.min_uid}: pure-ftpd refuses them (set ftp.uid, or "
                                               "lower ftp.min_uid)"))


def _host_problems(catalog: Catalog, out: Compiled) -> None:
    """In a cluster with ftp hosts, a mailbox's FTP login is served where its mail is (mailHost,
    ``render.login_filter``): every mail_store host must then run pure-ftpd (the ftp role)."""
    cluster = catalog.estate.site.section(CLUSTER)
    if not cluster.with_role("ftp"):
        return  # no ftp host: one pure-ftpd (or several, sharing the homes) serves every login
    for name, host in cluster.with_role("mail_store"):
        if "ftp" not in host.roles:
            out.problems.append(catalog.estate.site_doc.problem(
                ("cluster", "hosts", name, "roles"), f"mailboxes have FTP logins, served on their mail_store host "
                                                     f"(mailHost): give {name} the ftp role too"))


def compile_ftp(catalog: Catalog) -> Compiled:
    settings = catalog.estate.site.section(FTP)
    out = Compiled()
    wanted = False
    for box in catalog.mailboxes.values():
        written = box.spec.get_section(MAILBOX_FTP) is not None
        doc, path = box.origin.doc, box.origin.path
        if not box.services.get("ftp"):
            if written:
                out.problems.append(doc.problem((*path, "ftp"), "FTP limits on a mailbox without the ftp service "
                                                                "(add services: {ftp: true}, or remove them)"))
            continue
        wanted = True
        if not LOGIN.fullmatch(box.address):
            bad = "".join(sorted({c for c in box.address if not LOGIN.fullmatch(c)}))
            out.problems.append(doc.problem(path, f"pure-ftpd cannot take {box.address} as a login name (it refuses "
                                                  f"{bad!r}): turn its ftp service off"))
            continue
        limits = (box.spec.get_section(MAILBOX_FTP) or FtpLimits()).over(settings.defaults)
        if limits.problem is not None:
            where = (*path, "ftp") if written else ("ftp", "defaults")
            out.problems.append((doc if written else catalog.estate.site_doc).problem(where, limits.problem))
            continue
        out.attrs[address_of(MAILBOX, box.address)] = mailbox_attrs(catalog, box, settings)
    if wanted:
        _owner_problems(catalog, settings, out)
        _host_problems(catalog, out)
    compile_site_logins(catalog, out)
    return out
