"""Live ``site`` resources from what one walk of the web host found (pure: no I/O here).

A site is live when ``<sites_dir>/<host>.conf`` (``render.conf_name``: another with a wildcard alias)
carries ispctl's marker naming that host;
files without it are someone else's and never read into a plan. The attributes come from the
vhost's second line (what it was rendered from), the password hashes from the site's htpasswd
file, and two observations of the disk: whether the docroot exists and who owns it.

Drift is seen four ways:

* the recorded fingerprint no longer matches the recorded attributes (the attribute line or the
  htpasswd file was edited): the engine's own check (``Resource.drifted``);
* a file's body is not what its recorded attributes render to (a hand edit of the vhost, the
  pool or the htpasswd file, a pool removed): the live site gets a ``file_drift`` attribute
  naming the files, which the desired site never has, so the plan shows an update that
  renders them again;
* the docroot is gone or belongs to someone else: ``docroot`` (None) or ``uid``/``gid`` show
  what the disk holds;
* where btrfs enforces quotas, ``quota`` is the limit set on the site's subvolume, not the
  recorded one: a limit changed by hand shows as an update.

An ``https: auto`` or ``custom`` site whose certificate files appeared (or vanished) since its
file was rendered, whose ``auto`` certificate expires within ``Layout.renew_days`` or was
never issued (when the provider has a CA to ask), gets ``cert_pending``: ispctl's own
next step (``interrupted``), not drift; the apply that updates the site asks for the certificate.
A site whose files an apply swapped in before it was stopped short of the reload (the
``files.PENDING`` record) gets ``reload_pending``, also ispctl's own unfinished work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ispctl.providers.web.render import (
    KIND,
    MARKER,
    META_PARENT,
    META_TLS,
    SECRET,
    Layout,
    RenderError,
    recorded,
    render,
)
from ispctl.reconciler.contract import Resource, Value

FILE_DRIFT = "file_drift"
CERT_PENDING = "cert_pending"
RELOAD_PENDING = "reload_pending"
# Never part of a desired site: a live site has them only when its files need rendering again.
LIVE_ONLY = frozenset({FILE_DRIFT, CERT_PENDING, RELOAD_PENDING})


@dataclass(frozen=True)
class Owner:
    """A real directory's owner, as lstat saw it."""

    uid: int
    gid: int


@dataclass(frozen=True)
class SiteFiles:
    """Everything the walk found for one owned vhost file."""

    host: str
    vhost: str
    pool: str | None = None  # the owned pool file of this host
    htpasswd: str | None = None  # the owned htpasswd file of this host
    docroot: Owner | None = None  # None: missing, or not a real directory
    cert_exists: bool = False  # both files of its certificate are there (``render.tls_paths``)
    cert_expires: datetime | None = None  # when that certificate ends (None: not readable)
    reload_pending: bool = False  # an apply swapped its files in and stopped before the reload
    # (the limit btrfs enforces,) when the site's directory is a subvolume with quotas on
    # (``quota.BtrfsQuotas``); None where nothing enforces a quota (the recorded one stands).
    quota: tuple[int | None] | None = None


def owner_of(text: str) -> tuple[str, str | None] | None:
    """(host, fingerprint) from a file's marker line, or None when the file is not ispctl's."""
    first = text.split("\n", 1)[0]
    if first[:1] not in ("#", ";") or MARKER not in first:
        return None
    fields = dict(part.split("=", 1) for part in first.split(MARKER, 1)[1].split() if "=" in part)
    host = fields.get("site")
    if not host:
        return None
    return host, fields.get("fingerprint") or None


def hashes_of(text: str | None) -> tuple[str, ...]:
    """The ``user:hash`` lines of an htpasswd file (comments skipped, as Apache skips them)."""
    if text is None:
        return ()
    return tuple(sorted(line for line in text.splitlines() if line and not line.startswith("#")))


def parse_site(files: SiteFiles, layout: Layout, now: datetime | None = None, issuing: bool = False) -> Resource | None:
    """The live site one owned vhost stands for, or None when the file is not ispctl's.

    ``issuing``: certificates come from an ACME CA, so an active ``auto`` site that has none yet
    (its issuance failed) is pending work: the next apply asks again."""
    owner = owner_of(files.vhost)
    if owner is None or owner[0] != files.host:
        return None
    fingerprint = owner[1]
    lines = files.vhost.split("\n", 2)
    meta = recorded(lines[1]) if len(lines) > 1 else None
    if meta is None:
        # Ours (the marker says so) but unreadable: planned as a site whose files need writing.
        path = layout.vhost_path(files.host)
        return Resource(KIND, files.host, {FILE_DRIFT: f"{path}: its recorded attributes are unreadable"},
                        sensitive=frozenset({SECRET}), recorded_fingerprint=fingerprint)
    parent = meta.get(META_PARENT)
    tls = meta.get(META_TLS) is True
    attrs = {k: _value(v) for k, v in meta.items() if not k.startswith("@") and k not in LIVE_ONLY}
    hashes = hashes_of(files.htpasswd)
    if hashes:
        attrs[SECRET] = hashes
    site = Resource(KIND, files.host, attrs, parent=parent if isinstance(parent, str) else None,
                    sensitive=frozenset({SECRET}), recorded_fingerprint=fingerprint)
    extra: dict[str, Value] = {}
    edited = _edited(site, files, layout, tls)
    if edited:
        extra[FILE_DRIFT] = "changed outside ispctl: " + ", ".join(edited)
    if files.docroot is None:
        extra["docroot"] = None
    elif (files.docroot.uid, files.docroot.gid) != (site.attrs.get("uid"), site.attrs.get("gid")):
        extra.update(uid=files.docroot.uid, gid=files.docroot.gid)
    recorded_quota = site.attrs.get("quota")
    if files.quota is not None and files.quota[0] != (recorded_quota or None):
        extra["quota"] = files.quota[0]  # a limit set by hand (or lost): what the disk enforces
    pending = None
    mode = site.attrs.get("https")
    if mode == "auto" and files.cert_exists != tls:
        pending = (f"the certificate of {files.host} was issued; HTTPS is not served yet" if files.cert_exists else
                   f"the certificate of {files.host} is gone from {layout.certs_dir}; HTTPS is still configured")
        extra[CERT_PENDING] = pending
    elif mode == "auto" and issuing and not files.cert_exists and site.attrs.get("status") != "suspended":
        pending = f"no certificate for {files.host} yet (its issuance failed); the next apply asks the CA again"
        extra[CERT_PENDING] = pending
    elif mode == "custom" and files.cert_exists != tls:
        named = f"{site.attrs.get('cert_file')} and {site.attrs.get('key_file')}"
        pending = (f"the certificate files of {files.host} ({named}) are on the web host now; HTTPS is not served "
                   "yet" if files.cert_exists else
                   f"the certificate files of {files.host} ({named}) are gone; HTTPS is still configured")
        extra[CERT_PENDING] = pending
    elif site.attrs.get("https") == "auto" and tls and files.cert_expires is not None:
        when = now or datetime.now(UTC)
        if files.cert_expires - when < timedelta(days=layout.renew_days):
            pending = (f"the certificate of {files.host} expires on {files.cert_expires:%Y-%m-%d}; "
                       "the next apply renews it")
            extra[CERT_PENDING] = pending
    if files.reload_pending:
        pending = (f"an apply wrote the files of {files.host} and stopped before the web server reloaded "
                   "them; the next apply reloads")
        extra[RELOAD_PENDING] = pending
    if not extra:
        return site
    return Resource(KIND, files.host, {**site.attrs, **extra}, parent=site.parent, sensitive=site.sensitive,
                    recorded_fingerprint=fingerprint,
                    # Only ispctl's own next step (a certificate, a reload): not someone's edit.
                    interrupted=pending if not set(extra) - {CERT_PENDING, RELOAD_PENDING} else None)


def _edited(site: Resource, files: SiteFiles, layout: Layout, tls: bool) -> list[str]:
    """The files whose content is not what the recorded attributes render to."""
    try:
        expected = render(site, layout, tls)
    except RenderError:
        return [layout.vhost_path(files.host)]
    vhost = f"{layout.sites_dir}/{expected.vhost_name}"
    if expected.tls != tls:  # recorded auto-vs-custom disagreement: the line itself was edited
        return [vhost]
    found = []
    if files.vhost != expected.vhost:
        found.append(vhost)
    if files.pool != expected.pool:
        found.append(layout.pool_path(files.host))
    if files.htpasswd != expected.htpasswd:
        found.append(layout.htpasswd_path(files.host))
    return found


def _value(value: object) -> Value:
    # JSON gave lists back for tuples; Resource sorts and freezes them again. Anything else a
    # hand could have written there is kept as its text: the fingerprint then tells the drift.
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
