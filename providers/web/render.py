"""A site resource as the files Apache and PHP-FPM read: pure functions, no I/O.

One Apache file per site (``<sites_dir>/<host>.conf``; ``~<rank>-<host>.conf`` for a site
with a wildcard alias, so Apache reads it last: ``conf_name``), one PHP-FPM pool per PHP site
(``<pools_dir>/<host>.conf``) and, for a site with protected paths, one htpasswd file
(``<sites_dir>/.htpasswd/<host>``: the hashes never appear in the vhost, the plan or a log).
Every file begins with the ownership marker and a fingerprint: the vhost the resource's, the
pool and the htpasswd file their own content's (so they change only when they must); the vhost's
second line records the attributes it was rendered from (never the secret one), so the live
side (``live``) reads a site back from its file and re-renders it to see whether anyone
edited the file by hand.

What every vhost serves, whatever the site's state:

* ``/.well-known/acme-challenge/`` from ``Layout.challenge_dir`` (ispctl's, never the
  customer's), so HTTP-01 works for redirected and suspended sites too;
* ``/.well-known/ispctl-probe/`` answers with header ``X-Ispctl-Probe: <token>``, a digest of
  the rest of the file: after a reload the probe (``probe``) knows the new file is live.

A suspended site answers 503 with a page saying so (the customer's content and PHP are not
served; its pool is not rendered). HTTPS is served when the certificate's files exist, which
the caller checks (``tls_paths``): ``https: auto``'s ``<certs_dir>/<host>/{fullchain,privkey}.pem``,
or ``custom``'s ``cert_file`` and ``key_file`` (until the operator installs them the site is
served over HTTP, as an ``auto`` site waits for its certificate; Apache would refuse the whole
configuration otherwise); port 80 then redirects there, and ``hsts`` adds the header.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ispctl.providers.web import generated
from ispctl.reconciler.contract import ProviderError, Resource, Value

KIND = "site"
SECRET = "htpasswd"  # "<user>:<hash>" lines: sensitive, never shown, never in the vhost file
MARKER = "managed by ispctl:"
ATTRS_PREFIX = "# ispctl-site: "
META_PARENT = "@parent"
META_TLS = "@tls"  # whether the file serves HTTPS (auto: whether the certificate existed)
PROBE_PATH = "/.well-known/ispctl-probe/"
PROBE_HEADER = "X-Ispctl-Probe"
CHALLENGE_PATH = "/.well-known/acme-challenge/"
# Paths no redirect and no suspension may swallow: certificates and probes must keep working.
_RESERVED = r"\.well-known/(?:acme-challenge|ispctl-probe)/"
_LOG_FORMAT = r'"%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\""'
_HOST = re.compile(r"^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$")
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_USER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HASH = re.compile(r"^[A-Za-z0-9./$={}+-]{13,200}$")
_MEMORY = re.compile(r"^[0-9]{1,6}[KMG]?$")
_UNSAFE_PATH = re.compile(r'[\x00-\x1f\x7f"\\\s]')


class RenderError(ProviderError):
    """A site's values cannot be rendered safely; the message names the site and the field."""


LAST = "~"  # sorts after every character of a host name (strcmp, as Apache sorts an Include's files)
_RANKED = re.compile(r"^~[0-9]{3}-")


def conf_name(host: str, aliases: tuple[str, ...] = ()) -> str:
    """A site's file name in ``sites_dir``. Apache gives a request to the first vhost whose name or
    alias matches, in the order it read them: a site with a wildcard alias (``*.example.net``)
    is named ``~<rank>-<host>.conf``, read after every other site, and among those a narrower
    wildcard (``*.shop.example.net``) before a broader one, so none takes a name another serves."""
    labels = [alias.count(".") + 1 for alias in aliases if alias.startswith("*.")]
    if not labels:
        return f"{host}.conf"
    return f"{LAST}{999 - min(min(labels), 999):03d}-{host}.conf"


def host_of(name: str) -> str:
    """The host a file name in ``sites_dir`` or ``pools_dir`` stands for (``conf_name`` reversed)."""
    return _RANKED.sub("", name.removesuffix(".conf"))


@dataclass(frozen=True)
class Layout:
    """Where the web host keeps what ispctl renders (the ``web:`` settings)."""

    sites_dir: str
    pools_dir: str
    web_root: str
    archive_dir: str
    certs_dir: str
    challenge_dir: str  # served at /.well-known/acme-challenge/ by every site
    run_dir: str  # the pools' sockets; keep the path short (a socket path has at most 107 bytes)
    http_port: int = 80
    https_port: int = 443
    # Apache's worker user and group: they own the pool sockets and may read htpasswd files.
    listen_owner: str = "www-data"
    listen_group: str = "www-data"
    docroot_mode: int = 0o755
    renew_days: int = 30  # an ``auto`` certificate this close to its end is renewed (web.acme_renew_days)

    def vhost_path(self, host: str, aliases: tuple[str, ...] = ()) -> str:
        return f"{self.sites_dir}/{conf_name(host, aliases)}"

    def pool_path(self, host: str) -> str:
        return f"{self.pools_dir}/{host}.conf"

    @property
    def htpasswd_dir(self) -> str:
        return f"{self.sites_dir}/.htpasswd"

    def htpasswd_path(self, host: str) -> str:
        return f"{self.htpasswd_dir}/{host}"

    def socket_path(self, host: str) -> str:
        return f"{self.run_dir}/{host}.sock"

    def cert_paths(self, host: str) -> tuple[str, str]:
        return f"{self.certs_dir}/{host}/fullchain.pem", f"{self.certs_dir}/{host}/privkey.pem"


@dataclass(frozen=True)
class Rendered:
    """The files of one site: the vhost always, the pool and the htpasswd file when needed."""

    host: str
    vhost: str
    pool: str | None
    htpasswd: str | None
    token: str  # what the probe path answers in X-Ispctl-Probe
    tls: bool
    vhost_name: str = ""  # the vhost's file name in sites_dir (``conf_name``)


def marker_line(comment: str, host: str, fingerprint: str) -> str:
    return f"{comment} {MARKER} site={host} fingerprint={fingerprint}\n"


def _with_digest(comment: str, host: str, body: str) -> str:
    return marker_line(comment, host, "sha256:" + hashlib.sha256(body.encode()).hexdigest()) + body


def site_dir(site: Resource) -> str:
    """The site's own directory below the tenant's web home: htdocs, logs and tmp live in it."""
    return f"{_path(site, 'home').rstrip('/')}/{site.key}"


def wants_tls(site: Resource) -> bool | None:
    """True for ``custom``, False for ``off``, None for ``auto`` (it depends on the certificate)."""
    mode = site.attrs.get("https") or "off"
    if mode not in ("auto", "off", "custom"):
        raise RenderError(f"{site.address}: https must be auto, off or custom, not {mode!r}")
    return {"auto": None, "off": False, "custom": True}[str(mode)]


def tls_paths(host: str, attrs: Mapping[str, object], layout: Layout) -> tuple[str, str] | None:
    """The certificate and key files HTTPS needs (``auto``: ispctl's, ``custom``: the operator's),
    None for ``off``: whether both exist decides whether the site serves HTTPS (``render``)."""
    mode = attrs.get("https")
    if mode == "auto":
        return layout.cert_paths(host)
    cert, key = attrs.get("cert_file"), attrs.get("key_file")
    if mode == "custom" and isinstance(cert, str) and isinstance(key, str):
        return cert, key
    return None


def render(site: Resource, layout: Layout, cert_exists: bool) -> Rendered:
    """All files of ``site``; ``cert_exists`` says whether both files of its certificate are on
    the web host (``tls_paths``): without them an ``auto`` or ``custom`` site serves HTTP only."""
    host = _host(site.key, site, "key")
    wanted = wants_tls(site)
    if wanted:
        _tls_files(site, layout)  # a custom site's paths are checked whether or not they exist yet
    tls = wanted is not False and cert_exists
    suspended = _status(site) == "suspended"
    php = site.attrs.get("php") is True and not suspended
    # The password file is kept whenever the site has logins (also while suspended): the live
    # side reads the hashes back from it, so it must exist exactly when they do.
    htpasswd = _htpasswd(site, layout)
    protected = bool(_tuple(site, "protected")) and not suspended
    meta: dict[str, Value] = {k: v for k, v in site.attrs.items() if k != SECRET and v is not None}
    meta.update({META_PARENT: site.parent, META_TLS: tls})
    fingerprint = site.fingerprint()
    blocks = [_vhost(site, layout, tls=False, redirect_to_tls=tls, suspended=suspended, php=php,
                     protected=protected)]
    if tls:
        blocks.append(_vhost(site, layout, tls=True, redirect_to_tls=False, suspended=suspended, php=php,
                             protected=protected))
    body = "\n".join(blocks)
    token = hashlib.sha256(body.encode()).hexdigest()[:20]
    head = marker_line("#", host, fingerprint) + ATTRS_PREFIX + json.dumps(meta, sort_keys=True) + "\n"
    vhost = head + body.replace("@PROBE@", token)
    # The pool and the password file carry the digest of their own content, not the site's
    # fingerprint: they change (and php-fpm reloads) only when what they say changes.
    pool = _with_digest(";", host, _pool(site, layout)) if php else None
    secret = _with_digest("#", host, htpasswd) if htpasswd is not None else None
    return Rendered(host, vhost, pool, secret, token, tls, conf_name(host, _tuple(site, "aliases")))


# -- the vhost ---------------------------------------------------------------------------------

def _vhost(site: Resource, layout: Layout, *, tls: bool, redirect_to_tls: bool, suspended: bool, php: bool,
           protected: bool) -> str:
    host = site.key
    where = site_dir(site)
    port = layout.https_port if tls else layout.http_port
    lines = [f"<VirtualHost *:{port}>", f"    ServerName {host}"]
    aliases = _tuple(site, "aliases")
    for alias in aliases:
        _host(alias, site, "aliases")
    if aliases:
        lines.append("    ServerAlias " + " ".join(aliases))
    docroot = _path(site, "docroot")
    if not (docroot + "/").startswith(_path(site, "home").rstrip("/") + "/"):
        raise RenderError(f"{site.address}: docroot {docroot} is not inside the home {_path(site, 'home')}")
    lines += [f'    DocumentRoot "{docroot}"',
              f'    ErrorLog "{where}/logs/error.log"',
              f'    CustomLog "{where}/logs/access.log" {_LOG_FORMAT}']
    if tls:
        cert, key = _tls_files(site, layout)
        lines += ["    SSLEngine on", f'    SSLCertificateFile "{cert}"', f'    SSLCertificateKeyFile "{key}"']
        hsts = site.attrs.get("hsts")
        if hsts is not None:
            if not isinstance(hsts, int) or isinstance(hsts, bool) or hsts < 0:
                raise RenderError(f"{site.address}: hsts must be a number of seconds, not {hsts!r}")
            lines.append(f'    Header always set Strict-Transport-Security "max-age={hsts}"')
    challenge = _safe_path(layout.challenge_dir, site, "challenge_dir")
    lines += [f'    Alias "{CHALLENGE_PATH}" "{challenge}/"',
              f'    <Directory "{challenge}">',
              "        Options None", "        AllowOverride None", "        Require all granted",
              "    </Directory>",
              f'    <Location "{PROBE_PATH}">',
              f'        Header always set {PROBE_HEADER} "@PROBE@"',
              "    </Location>"]
    lines += generated.vhost_lines(site, layout.sites_dir)  # ispctl's files (mail autoconfig, MTA-STS)
    if suspended:
        lines += [f'    RedirectMatch 503 "^/(?!{_RESERVED})"',
                  f"    ErrorDocument 503 \"{_suspended_page(host)}\"",
                  '    Header always set Retry-After "3600" "expr=%{REQUEST_STATUS} == 503"']
    elif redirect_to_tls:
        https = host if layout.https_port == 443 else f"{host}:{layout.https_port}"
        lines.append(f'    RedirectMatch 301 "^/(?!{_RESERVED})(.*)$" "https://{https}/$1"')
    else:
        lines += _content(site, layout, docroot, php, protected)
    lines.append("</VirtualHost>")
    return "\n".join(lines) + "\n"


def _content(site: Resource, layout: Layout, docroot: str, php: bool, protected: bool) -> list[str]:
    lines = [f'    <Directory "{docroot}">',
             "        Options SymLinksIfOwnerMatch",
             "        AllowOverride None",
             "        Require all granted",
             "    </Directory>"]
    whole: list[str] = []
    # mod_alias takes the first Redirect that matches: the longest ``from`` first, so /a/b is
    # not shadowed by /a (what validation assumes); path redirects before the whole host's.
    redirects = sorted((_redirect(entry, site) for entry in _tuple(site, "redirects")),
                       key=lambda r: (-len(r[1].rstrip("/")), r[1]))
    for code, source, target in redirects:
        if source == "*":
            base = target if target.endswith("/") else target + "/"
            whole.append(f'    RedirectMatch {code} "^/(?!{_RESERVED})(.*)$" "{base}$1"')
        else:
            lines.append(f'    Redirect {code} "{source}" "{target}"')
    lines += whole
    if protected:
        users: dict[str, list[str]] = {}
        for entry in _tuple(site, "protected"):
            path, _, user = entry.partition(" ")
            if not _URL_PATH.match(path) or not _USER.match(user):
                raise RenderError(f"{site.address}: protected entry {entry!r} is not '<path> <user>'")
            users.setdefault(path, []).append(user)
        for path, names in sorted(users.items()):
            lines += [f'    <Location "{path}">',
                      "        AuthType Basic",
                      f'        AuthName "{site.key}"',
                      "        AuthBasicProvider file",
                      f'        AuthUserFile "{layout.htpasswd_path(site.key)}"',
                      "        Require user " + " ".join(sorted(names)),
                      "    </Location>"]
    if php:
        sock = layout.socket_path(site.key)
        if len(sock.encode()) > 107:
            raise RenderError(f"{site.address}: the pool socket path {sock} is longer than 107 bytes; "
                              "set a shorter web.run_dir")
        lines += ['    <FilesMatch "\\.php$">',
                  f'        SetHandler "proxy:unix:{sock}|fcgi://localhost"',
                  "    </FilesMatch>",
                  "    DirectoryIndex index.php index.html"]
    return lines


def _suspended_page(host: str) -> str:
    # Inline (no file the customer could touch); host names are plain ASCII (checked).
    return ("<!DOCTYPE html><html><head><title>Site suspended</title></head><body>"
            f"<h1>Site suspended</h1><p>{host} is suspended. If this is your site, please contact "
            "your hosting provider.</p></body></html>")


def _tls_files(site: Resource, layout: Layout) -> tuple[str, str]:
    if site.attrs.get("https") == "custom":
        return _path(site, "cert_file"), _path(site, "key_file")
    cert, key = layout.cert_paths(site.key)
    return _safe_path(cert, site, "certs_dir"), _safe_path(key, site, "certs_dir")


def _redirect(entry: str, site: Resource) -> tuple[str, str, str]:
    parts = entry.split(" ")
    if len(parts) != 3 or parts[0] not in ("301", "302", "307", "308"):
        raise RenderError(f"{site.address}: redirect {entry!r} is not '<301|302|307|308> <path or *> <url>'")
    code, source, target = parts
    if source != "*" and not _URL_PATH.match(source):
        raise RenderError(f"{site.address}: redirect {entry!r}: {source!r} is not a path or *")
    if not _URL.match(target) and not _URL_PATH.match(target):  # Apache completes a path with this host
        raise RenderError(f"{site.address}: redirect {entry!r}: {target!r} is not a path or an http(s) URL")
    return code, source, target


# -- the pool and the password file ------------------------------------------------------------

def _pool(site: Resource, layout: Layout) -> str:
    uid, gid = _int(site, "uid"), _int(site, "gid")
    if uid <= 0 or gid <= 0:
        raise RenderError(f"{site.address}: a site never runs as root (uid {uid}, gid {gid})")
    tmp = f"{site_dir(site)}/tmp"
    children = site.attrs.get("php_max_children") or 5
    if not isinstance(children, int) or isinstance(children, bool) or not 1 <= children <= 1000:
        raise RenderError(f"{site.address}: php_max_children must be 1..1000, not {children!r}")
    memory = site.attrs.get("php_memory_limit") or "128M"
    if not isinstance(memory, str) or not _MEMORY.match(memory):
        raise RenderError(f"{site.address}: php_memory_limit {memory!r} is not like 128M")
    upload = site.attrs.get("php_upload_max_filesize") or "32M"
    if not isinstance(upload, str) or not _MEMORY.match(upload):
        raise RenderError(f"{site.address}: php_upload_max_filesize {upload!r} is not like 32M")
    seconds = site.attrs.get("php_max_execution_time")
    seconds = 30 if seconds is None else seconds
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds <= 86400:
        raise RenderError(f"{site.address}: php_max_execution_time must be 0..86400 seconds, not {seconds!r}")
    home = _path(site, "home").rstrip("/")
    lines = [f"[{site.key}]",
             # Numeric ids: no passwd entry is needed for a site's user.
             f"user = {uid}", f"group = {gid}",
             f"listen = {layout.socket_path(site.key)}",
             f"listen.owner = {layout.listen_owner}", f"listen.group = {layout.listen_group}",
             "listen.mode = 0660",
             "pm = ondemand", f"pm.max_children = {children}", "pm.process_idle_timeout = 10s",
             "pm.max_requests = 500", "chdir = /", "security.limit_extensions = .php",
             f"env[TMP] = {tmp}", f"env[TMPDIR] = {tmp}", f"env[TEMP] = {tmp}",
             f"php_admin_value[open_basedir] = {home}/",
             f"php_admin_value[upload_tmp_dir] = {tmp}",
             f"php_admin_value[sys_temp_dir] = {tmp}",
             f"php_admin_value[session.save_path] = {tmp}",
             f"php_admin_value[memory_limit] = {memory}",
             f"php_admin_value[upload_max_filesize] = {upload}",
             f"php_admin_value[post_max_size] = {upload}",
             f"php_admin_value[max_execution_time] = {seconds}"]
    return "\n".join(lines) + "\n"


def _htpasswd(site: Resource, layout: Layout) -> str | None:
    protected = _tuple(site, "protected")
    for entry in protected:
        path, _, user = entry.partition(" ")
        if not _URL_PATH.match(path) or not _USER.match(user):
            raise RenderError(f"{site.address}: protected entry {entry!r} is not '<path> <user>'")
    hashes: dict[str, str] = {}
    for line in _tuple(site, SECRET):
        user, sep, digest = line.partition(":")
        # The value itself is never quoted in an error: it is a secret.
        if not sep or not _USER.match(user) or not _HASH.match(digest):
            raise RenderError(f"{site.address}: a password hash of user {user!r} is not 'user:hash'")
        hashes[user] = digest
    missing = sorted({e.partition(" ")[2] for e in protected} - set(hashes))
    if missing:
        raise RenderError(f"{site.address}: protected paths name users without a password hash: "
                          + ", ".join(missing))
    if not hashes:
        return None
    return "".join(f"{user}:{digest}\n" for user, digest in sorted(hashes.items()))


# -- checked values ------------------------------------------------------------------------------

def _host(name: str, site: Resource, field: str) -> str:
    if not _HOST.match(name) or len(name) > 253:
        raise RenderError(f"{site.address}: {field}: {name!r} is not a lowercase ASCII host name")
    return name


def _status(site: Resource) -> str:
    status = site.attrs.get("status") or "active"
    if status not in ("active", "suspended"):
        raise RenderError(f"{site.address}: status must be active or suspended, not {status!r}")
    return str(status)


def _tuple(site: Resource, name: str) -> tuple[str, ...]:
    value: Value = site.attrs.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, tuple):
        raise RenderError(f"{site.address}: {name} must be a list, not {value!r}")
    return value


def _int(site: Resource, name: str) -> int:
    value = site.attrs.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RenderError(f"{site.address}: {name} must be a number, not {value!r}")
    return value


def _path(site: Resource, name: str) -> str:
    value = site.attrs.get(name)
    if not isinstance(value, str):
        raise RenderError(f"{site.address}: {name} is missing")
    return _safe_path(value, site, name)


def _safe_path(value: str, site: Resource, name: str) -> str:
    parts = value.split("/")
    if not value.startswith("/") or _UNSAFE_PATH.search(value) or ".." in parts or "." in parts:
        raise RenderError(f"{site.address}: {name} {value!r} must be an absolute path without '..', quotes, "
                          "backslashes, spaces or control characters")
    return value.rstrip("/") or "/"


def recorded(attrs_line: str) -> Mapping[str, object] | None:
    """The attributes a vhost file's second line records, or None if it is not one."""
    if not attrs_line.startswith(ATTRS_PREFIX):
        return None
    try:
        data = json.loads(attrs_line[len(ATTRS_PREFIX):])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
