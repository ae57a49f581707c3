"""The web service's parts of the desired-state files, as pydantic models.

* ``WebSettings`` -- the ``web:`` section of ``ispctl.yaml``: where the web host keeps
  ispctl's files (one Apache file per site in ``sites_dir``, one php-fpm pool per PHP site in
  ``pools_dir``, tenant homes under ``web_root``, removed sites under ``archive_dir``,
  certificates under ``certs_dir``), the uid range, the sites' defaults (HTTPS, PHP pool
  limits), the ACME server, and the commands that test and reload Apache and php-fpm. The
  fields are flat so that each can be overridden on one machine (``OVERRIDES``: a sandbox
  points them at its own instances).
* ``DomainWeb`` -- a domain file's ``web:`` section: ``sites``, a mapping of host name to
  ``SiteSpec``. A domain with the web service and no ``sites`` gets one site, the apex, with
  ``www`` as its alias (one virtual host answering both names, as hosting panels set a
  domain up; a site of its own is written ``www: {}``).
* ``TenantWeb`` -- a tenant file's ``web:`` section: a pinned ``uid`` (see ``users``).

Host names in a domain file: ``@`` is the apex; a name without a dot is a label inside the
domain (``www``, ``shop``, and ``*`` for a wildcard alias); a name with a dot is a full name
(trailing dot optional) that must be the domain or end in it. Like the estate's models,
these check what one file can know; ``validate`` checks across files.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from ispctl.providers.web.users import apache_hash, login_name
from ispctl.reconciler.contract import (
    Duration,
    EnvOverride,
    Flag,
    InvalidName,
    Section,
    Size,
    Strict,
    normalise_domain,
)

Status = Literal["active", "suspended"]
Https = Literal["auto", "off", "custom"]
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


def _no_control(value: str) -> None:
    if any(not c.isprintable() for c in value):
        raise ValueError("must not contain a line break, tab or other control character")


def _absolute_path(value: str) -> str:
    _no_control(value)
    if not value.startswith("/") or "/../" in value + "/" or "/./" in value + "/":
        raise ValueError("must be an absolute path without '..' or '.'")
    if "//" in value or " " in value:
        raise ValueError("must not contain '//' or spaces")
    stripped = value.rstrip("/")
    if not stripped:
        raise ValueError("cannot be / itself")
    return stripped


AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]


def _command(value: object) -> object:
    """A command line: a string (split like a shell would, with no shell) or a list of words."""
    import shlex  # here: only an estate that sets a command reads one (issue 11)

    if isinstance(value, (list, tuple)):
        if not all(isinstance(w, str) for w in value):
            raise ValueError("must be a command line or a list of words")
        value = shlex.join(value)
    if not isinstance(value, str):
        raise ValueError("must be a command line")
    _no_control(value)
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot be split into words: {exc}") from None
    if not words:
        raise ValueError("is empty")
    return value


Command = Annotated[str, BeforeValidator(_command)]


def argv(command: str) -> list[str]:
    """The words of a command setting, for subprocess (never run through a shell)."""
    import shlex

    return shlex.split(command)


# --- site settings ---------------------------------------------------------------------

class WebSettings(Strict):
    """Site-wide web settings; each field has an ``ISPCTL_WEB_<FIELD>`` override."""

    sites_dir: AbsolutePath = Field("/etc/apache2/ispctl-sites", description="one <host>.conf per site; the Apache "
                                    "config has 'IncludeOptional <sites_dir>/*.conf'")
    pools_dir: AbsolutePath = Field("/etc/php/8.2/fpm/ispctl-pools", description="one <host>.conf php-fpm pool per PHP "
                                    "site; the php-fpm config has 'include=<pools_dir>/*.conf'")
    socket_dir: AbsolutePath = Field("/run/php", description="where the pools' sockets are (keep it short: a socket "
                                     "path has at most 107 bytes)")
    challenge_dir: AbsolutePath = Field("/var/lib/ispctl/acme-challenge", description="served by every site at "
                                        "/.well-known/acme-challenge/ (HTTP-01)")
    listen_owner: str = Field("www-data", pattern=r"^[a-z_][a-z0-9_-]{0,31}$", description="Apache's worker user: "
                              "owns the pool sockets, reads the htpasswd files")
    listen_group: str = Field("www-data", pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    web_root: AbsolutePath = Field("/srv/www", description="tenant web homes: <web_root>/<tenant>/<host>/htdocs")
    archive_dir: AbsolutePath | None = Field(None, description="where removed sites' files are moved "
                                             "[default: <web_root>/.ispctl-archive]")
    certs_dir: AbsolutePath = Field("/etc/ispctl/certs", description="<host>/{fullchain,privkey}.pem from ACME")
    uid_min: Annotated[int, Field(ge=1000, le=2**31 - 2)] = 100_000_000
    uid_max: Annotated[int, Field(ge=1000, le=2**31 - 2)] = 199_999_999
    http_port: Annotated[int, Field(ge=1, le=65535)] = 80
    https_port: Annotated[int, Field(ge=1, le=65535)] = 443
    https: Literal["auto", "off"] = Field("auto", description="sites' default: auto (a certificate from ACME) or off")
    php_max_children: Annotated[int, Field(ge=1, le=1000)] = 5
    php_memory_limit: Size = 128 * 1024**2
    php_upload_max_filesize: Size = 32 * 1024**2
    php_max_execution_time: Duration = 30
    acme_directory: str = Field(LETS_ENCRYPT, description="the ACME server's directory URL (RFC 8555)")
    acme_contact: str | None = Field(None, description="mailto: address the CA writes to about certificates")
    acme_ca_bundle: AbsolutePath | None = Field(None, description="CA certificates to trust for the ACME server "
                                                "(a test CA such as pebble); default: the system's")
    acme_challenge: Literal["http-01", "dns-01"] = Field(
        "http-01", description="http-01 from challenge_dir (every site serves it), dns-01 through ispctl's DNS "
                               "provider (needed for wildcards)")
    acme_renew_days: Annotated[int, Field(ge=1, le=89)] = 30
    apache_test: Command = "apache2ctl -t"
    apache_reload: Command = "apache2ctl graceful"
    php_test: Command = "php-fpm8.2 -t"
    php_reload: Command = "systemctl reload php8.2-fpm"
    probe: Flag = Field(True, description="after a reload, fetch every changed site with its Host header")
    probe_address: str = Field("127.0.0.1", pattern=r"^[0-9A-Za-z.:-]+$",
                               description="where the probe connects (the web host's Apache)")
    probe_timeout: Duration = 10

    # Field validators only: an override's error must name a field (the variable is found by
    # it). That uid_min is not above uid_max is checked with the sites (``validate``).
    @field_validator("acme_directory")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("acme_contact")
    @classmethod
    def _mailto(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("mailto:") or any(c.isspace() for c in value)):
            raise ValueError("must be a mailto: URL")
        return value

    @property
    def archive(self) -> str:
        return self.archive_dir or f"{self.web_root}/.ispctl-archive"


# --- a domain's web: section --------------------------------------------------------------

def _url_path(value: str) -> str:
    _no_control(value)
    if not value.startswith("/") or " " in value or "\\" in value:
        raise ValueError(f"{value!r} must be a URL path starting with '/' (no spaces)")
    if ".." in value.split("/"):
        raise ValueError(f"{value!r} must not contain '..'")
    return value


UrlPath = Annotated[str, AfterValidator(_url_path)]


def _from(value: str) -> str:
    return value if value == "*" else _url_path(value)


def _target(value: str) -> str:
    _no_control(value)
    if any(c.isspace() for c in value):
        raise ValueError(f"{value!r} must not contain spaces (encode them as %20)")
    if value.startswith("/"):
        return _url_path(value)
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        raise ValueError(f"{value!r} must be a URL path (/new) or an http(s) URL (https://www.example.net/)")
    return value


class RedirectSpec(Strict):
    """``from`` a path (and everything below it) or ``*`` (the whole host) ``to`` a path or URL."""

    from_: Annotated[str, AfterValidator(_from)] = Field(alias="from")
    to: Annotated[str, AfterValidator(_target)]
    code: Literal[301, 302, 307, 308] = 301  # permanent, temporary, and the two that keep the method


def _pem_path(value: object) -> object:
    if isinstance(value, str) and "-----BEGIN" in value:
        raise ValueError("a path on the web host, never the PEM itself (keys and certificates stay out of git)")
    return value


class HttpsSpec(Strict):
    """``auto`` (ACME), ``off``, or ``custom``: a certificate the operator installs on the web
    host, named by its paths (never PEM in git). Written as ``https: auto`` / ``off`` / a switch
    spelling, or ``https: {cert_file, key_file}``."""

    mode: Https
    cert_file: Annotated[AbsolutePath, BeforeValidator(_pem_path)] | None = None
    key_file: Annotated[AbsolutePath, BeforeValidator(_pem_path)] | None = None

    @model_validator(mode="after")
    def _paths_with_custom(self) -> Self:
        custom = self.mode == "custom"
        if custom and (self.cert_file is None or self.key_file is None):
            raise ValueError("a certificate of your own needs both cert_file and key_file (paths on the web host)")
        if not custom and (self.cert_file is not None or self.key_file is not None):
            raise ValueError(f"cert_file and key_file are for a certificate of your own, not https {self.mode}")
        return self


def _https_short(value: object) -> object:
    """``https: auto|off`` (or a switch spelling: on/yes/true is auto) or ``{cert_file, key_file}``."""
    if isinstance(value, dict):
        return {"mode": "custom", **value} if "mode" not in value else value
    if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
        return {"mode": "auto" if value else "off"}
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("auto", "true", "yes", "on", "1"):
            return {"mode": "auto"}
        if word in ("off", "false", "no", "0"):
            return {"mode": "off"}
    raise ValueError("must be auto, off or {cert_file, key_file}: paths on the web host, never PEM in git")


class PhpSpec(Strict):
    """PHP through a php-fpm pool of the site's own; unset limits take the site settings'."""

    enabled: Flag = True
    max_children: Annotated[int, Field(ge=1, le=1000)] | None = None
    memory_limit: Size | None = None
    upload_max_filesize: Size | None = None
    max_execution_time: Duration | None = None


def _php_short(value: object) -> object:
    """``php: on`` / ``php: off`` are shorthand for ``php: {enabled: ...}``."""
    return value if isinstance(value, dict) or value is None else {"enabled": value}


def _docroot(value: str) -> str:
    _no_control(value)
    if value.startswith(("/", "~")):
        raise ValueError(f"{value!r} is absolute; a docroot is relative to the tenant's web home (e.g. shop/htdocs)")
    parts = [p for p in value.strip("/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{value!r} leaves the tenant's web home ('..'); a docroot stays inside it")
    if not parts:
        raise ValueError("names no folder; write one inside the tenant's web home (e.g. shop/htdocs)")
    if any(" " in p or "\\" in p for p in parts):
        raise ValueError(f"{value!r} must not contain spaces or backslashes")
    return "/".join(parts)


def _one_or_more(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _empty_site(value: object) -> object:
    return {} if value is None else value


class SiteSpec(Strict):
    aliases: Annotated[tuple[str, ...], BeforeValidator(_one_or_more)] = Field(
        (), description="more names this site answers (www, a full name, *)")
    docroot: Annotated[str, AfterValidator(_docroot)] | None = Field(
        None, description="relative to the tenant's web home [default: <host>/htdocs]")
    redirects: tuple[RedirectSpec, ...] = ()
    https: Annotated[HttpsSpec, BeforeValidator(_https_short)] | None = Field(
        None, description="auto (ACME), off, or {cert_file, key_file} on the web host [default: web.https]")
    hsts: Duration | None = Field(None, description="Strict-Transport-Security max-age; needs HTTPS")
    php: Annotated[PhpSpec, BeforeValidator(_php_short)] | None = None
    protected: dict[UrlPath, tuple[str, ...]] = Field(
        default_factory=dict, description="path -> the logins allowed there (HTTP basic authentication)")
    logins: dict[Annotated[str, AfterValidator(login_name)], Annotated[str, BeforeValidator(apache_hash)]] = Field(
        default_factory=dict, description="login -> password hash (bcrypt, SHA-512 crypt or $apr1$); never plaintext")
    status: Status | None = None
    quota: Size | None = None
    # Host keys written like the site's own (a label, '@' or a full name in the domain).
    previous: Annotated[tuple[str, ...], BeforeValidator(_one_or_more)] = Field(
        (), description="this site's former host names in the domain, newest first: its files are moved "
                        "(renamed, never archived), its vhost, PHP pool and FTP login follow")

    @property
    def https_mode(self) -> Https | None:
        return self.https.mode if self.https is not None else None


SiteValue = Annotated[SiteSpec, BeforeValidator(_empty_site)]


def full_host(written: str, domain: str) -> str:
    """The ASCII name a host key or alias of ``domain`` (ASCII) means; ValueError if none.

    A wildcard is returned as ``*.<rest>``. Whether the name is inside the domain is for
    the caller to check (``inside``)."""
    text = written.strip()
    if text != written or not text:
        raise ValueError(f"{written!r} has spaces around it or is empty")
    if text == "@":
        return domain
    wildcard = text == "*" or text.startswith("*.")
    rest = text[2:] if text.startswith("*.") else ("" if text == "*" else text)
    if "*" in rest:
        raise ValueError(f"{written!r}: '*' is only allowed as the whole leftmost label")
    if rest and "." not in rest.rstrip("."):
        rest = f"{rest}.{domain}"
    elif not rest:
        rest = domain
    try:
        name = normalise_domain(rest).ascii
    except InvalidName as exc:
        raise ValueError(str(exc)) from None
    return f"*.{name}" if wildcard else name


def inside(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


class DomainWeb(Strict):
    sites: dict[str, SiteValue] = Field(
        default_factory=dict, description="host -> site; none: the apex, with www as its alias")

    def effective_sites(self) -> dict[str, SiteSpec]:
        """The sites as written, or the default (the apex answering www too)."""
        return self.sites or {"@": DEFAULT_SITE}

    def served_hosts(self, domain: str) -> tuple[str, ...]:
        """Every well-formed site host and alias (ASCII) of this domain's sites, for the DNS
        service's derived address records (it reads this section without importing it)."""
        found: list[str] = []
        for key, site in self.effective_sites().items():
            for written in (key, *site.aliases):
                try:
                    found.append(full_host(written, domain))
                except ValueError:
                    continue  # validation reports it
        return tuple(dict.fromkeys(found))


DEFAULT_SITE = SiteSpec(aliases=("www",))


class TenantWeb(Strict):
    uid: Annotated[int, Field(ge=1000, le=2**31 - 2)] | None = Field(
        None, description="this tenant's web uid, instead of the one derived from its name (see web.uid_min)")


WEB = Section("site", "web", WebSettings, default=WebSettings(),
              description="where the web host keeps sites, pools, homes, archive and certificates; site defaults")
DOMAIN_WEB = Section("domain", "web", DomainWeb, default=DomainWeb(),
                     description="the domain's web sites (default: the apex, with www as its alias)")
TENANT_WEB = Section("tenant", "web", TenantWeb, description="the tenant's pinned web uid")
# ISPCTL_WEB_ROOT sets web.web_root, every other field F has ISPCTL_WEB_<F> (ISPCTL_WEB_SITES_DIR ...).
OVERRIDES = tuple(
    EnvOverride("ISPCTL_WEB_ROOT" if name == "web_root" else f"ISPCTL_WEB_{name.upper()}", WEB, name)
    for name in WebSettings.model_fields
)
