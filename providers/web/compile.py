"""Sites as resources: the web service's compile hook.

``compile_web`` checks the estate's sites (``validate``) and makes one resource per site:

* ``site.<host>`` -- key the site's ASCII host name, parent the domain's resource
  (``domain.<name>``), attributes:

  - ``aliases`` (ASCII names, sorted), ``docroot`` (absolute, inside ``home``), ``home`` (the
    tenant's web home, ``<web.web_root>/<tenant>``), ``user`` (``web-<tenant>``), ``uid`` and
    ``gid`` (``users``: from a hash of the tenant's name, or its pin); a renamed tenant's by its
    first name (``users.home_name``: a rename moves no file);
  - ``redirects``: ``"<code> <from> <to>"`` each, ``from`` a path or ``*`` (the whole host);
  - ``https``: ``auto`` | ``off`` | ``custom``, with ``cert_file``/``key_file`` for custom;
    ``hsts``: seconds or None;
  - ``php`` (bool) and, when on, ``php_max_children``, ``php_memory_limit`` and
    ``php_upload_max_filesize`` (PHP's own spelling, e.g. ``128M``), ``php_max_execution_time``
    (seconds);
  - ``protected``: ``"<path> <login>"`` each; ``htpasswd``: ``"<login>:<hash>"`` each, the
    htpasswd lines -- SENSITIVE: never shown in a plan, its JSON or a log;
  - ``status``: ``active`` | ``suspended`` (suspended when the site, its domain or a tenant
    above it is); ``quota``: bytes or None;
  - ``generated`` (only on sites that have it): ``"<url-path>\n<content>"`` files ispctl serves
    (``mailconfig``: the derived ``autoconfig.<domain>`` and ``mta-sts.<domain>`` sites, and the
    domain's own site's ``/.well-known/autoconfig/mail/config-v1.1.xml``).

A site's resource source is the line of its host in the domain file (the ``domain:`` line for
the default site).
"""

from __future__ import annotations

from ispctl.providers.web.generated import ATTR as GENERATED
from ispctl.providers.web.mailconfig import derived_sites
from ispctl.providers.web.placement import placed
from ispctl.providers.web.settings import WEB, WebSettings
from ispctl.providers.web.users import user_name
from ispctl.providers.web.validate import Site, SiteSet, check_sites
from ispctl.reconciler.contract import DOMAIN, Catalog, Compiled, Resource, Value, address_of

KIND = "site"
SECRET = "htpasswd"  # the "<login>:<hash>" lines (the render reads this name)


def php_size(size: int) -> str:
    """Bytes as php.ini writes them: the largest of G, M, K that divides exactly (PHP's K is 1024)."""
    for suffix, factor in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def site_attrs(site: Site, settings: WebSettings, uid: int, home_name: str | None = None) -> dict[str, Value]:
    """``home_name``: the name the tenant's web home goes by (``SiteSet.homes``), its name if None."""
    spec = site.spec
    owner = home_name or site.tenant
    home = f"{settings.web_root}/{owner}"
    php = spec.php is not None and spec.php.enabled
    cert = spec.https if site.https == "custom" else None
    attrs: dict[str, Value] = {
        "aliases": site.aliases,
        "docroot": f"{home}/{spec.docroot or site.host + '/htdocs'}",
        "home": home,
        "user": user_name(owner),
        "uid": uid,
        "gid": uid,
        "redirects": tuple(r.text() for r in site.redirects),
        "https": site.https,
        "cert_file": cert.cert_file if cert is not None else None,
        "key_file": cert.key_file if cert is not None else None,
        "hsts": spec.hsts,
        "php": php,
        "php_max_children": None,
        "php_memory_limit": None,
        "php_upload_max_filesize": None,
        "php_max_execution_time": None,
        "protected": tuple(f"{path} {login}" for path, logins in spec.protected.items() for login in logins),
        SECRET: tuple(f"{login}:{hashed}" for login, hashed in spec.logins.items()),
        "status": site.status,
        "quota": spec.quota,
    }
    if php and spec.php is not None:
        pool = spec.php
        attrs["php_max_children"] = pool.max_children or settings.php_max_children
        attrs["php_memory_limit"] = php_size(pool.memory_limit or settings.php_memory_limit)
        attrs["php_upload_max_filesize"] = php_size(pool.upload_max_filesize or settings.php_upload_max_filesize)
        attrs["php_max_execution_time"] = (pool.max_execution_time if pool.max_execution_time is not None
                                           else settings.php_max_execution_time)
    return attrs


def site_resources(sites: SiteSet, settings: WebSettings,
                   generated: dict[str, tuple[str, ...]] | None = None) -> list[Resource]:
    out = []
    for host, site in sorted(sites.sites.items()):
        uid = sites.uids.get(site.tenant)
        if uid is None:
            continue  # its tenant's uid was refused: validation failed already
        attrs = site_attrs(site, settings, uid, sites.homes.get(site.tenant))
        if generated and host in generated:
            attrs[GENERATED] = generated[host]
        out.append(Resource(KIND, host, attrs, parent=address_of(DOMAIN, site.domain),
                            sensitive=frozenset({SECRET}), source=site.location, previous=site.previous))
    return out


def compile_web(catalog: Catalog) -> Compiled:
    """The estate's sites, checked, as resources."""
    sites, problems = check_sites(catalog)
    generated, conflicts = derived_sites(catalog, sites)
    resources, misplaced = placed(catalog, sites, site_resources(sites, catalog.estate.site.section(WEB), generated))
    return Compiled(resources=resources, problems=problems + conflicts + misplaced)
