"""ISPMan's virtual hosts (``ou=httpdata``) as ``web.sites`` of the domain files.

A vhost ``ispmanVhostName=www`` of ``example.com`` is the site ``www``; its aliases are its
``ispmanVhostServerAlias`` values and the entries of ``ou=vhostAliases`` (an alias equal to the
domain is the apex ``@``; others stay as written, relative ones relative to the domain as
``lib/http.lib`` read them); ``ou=urlRedirections`` become redirects with Apache's ``Redirect``
default, 302 (http.lib prepends the missing ``/``). A vhost's FTP login (``PureFTPdUser``,
login = the site's host, as ``ftp.sites`` has it) is imported when pure-ftpd let it in
(``FTPStatus enabled``) and its hash is one the estate holds; otherwise it is reported. What
the estate's sites have no field for (extra Apache configuration, script dir, IP binding, web
host placement) is reported; the document root is reported too, since ispctl places it under
its own web root.
"""

from __future__ import annotations

from collections.abc import Iterable

from ruamel.yaml.comments import CommentedMap

from ispctl.providers.adopt.ispman_values import classify_password, ftp_enabled
from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, WEAK_HASHES, ImportReport
from ispctl.providers.adopt.source import SourceEntry
from ispctl.reconciler.contract import format_size

MIB = 1024 * 1024

REDIRECT_CODE = 302  # Apache's Redirect without a status, which is what ISPMan rendered


def _site_key(entry: SourceEntry) -> tuple[str, str]:
    return (entry.get("ispmanDomain") or "").lower(), (entry.get("ispmanVhostName") or "").lower()


def _alias(value: str, domain: str) -> str:
    text = value.strip().lower().rstrip(".")
    if text == domain:
        return "@"
    return text[: -len(domain) - 1] if text.endswith("." + domain) else text


Sites = dict[str, CommentedMap]


def read_sites(entries: Iterable[SourceEntry], report: ImportReport) -> tuple[Sites, Sites]:
    """(domain -> its sites, domain -> its sites' FTP logins), each keyed by host."""
    vhosts: dict[tuple[str, str], SourceEntry] = {}
    aliases: dict[tuple[str, str], set[str]] = {}
    redirects: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for entry in entries:
        key = _site_key(entry)
        if "ispmanvirtualhost" in entry.classes:
            vhosts[key] = entry
            aliases.setdefault(key, set()).update(v for v in entry.all("ispmanVhostServerAlias") if v.strip())
        elif "ispmanvirtualhostalias" in entry.classes:
            aliases.setdefault(key, set()).update(entry.all("ispmanVhostServerAlias"))
        else:
            path = entry.get("ispmanVhostRedirectURL") or ""
            redirects.setdefault(key, []).append((path if path.startswith("/") else "/" + path,
                                                  entry.get("ispmanVhostRedirectLocation") or ""))
    result: Sites = {}
    logins: Sites = {}
    for (domain, host), entry in sorted(vhosts.items()):
        site = CommentedMap()
        names = sorted({_alias(a, domain) for a in aliases.get((domain, host), set())} - {host})
        if names:
            site["aliases"] = names
        moves = sorted(redirects.get((domain, host), []))
        if moves:
            site["redirects"] = [CommentedMap([("from", src), ("to", dst), ("code", REDIRECT_CODE)])
                                 for src, dst in moves]
            site.yaml_add_eol_comment("Apache's Redirect default, as ISPMan rendered it", "redirects")
        _report_rest(entry, report)
        login = _ftp_login(entry, report)
        if login is not None:
            logins.setdefault(domain, CommentedMap())[host] = login
        result.setdefault(domain, CommentedMap())[host] = site
        report.count("sites")
    for key in sorted(set(aliases) | set(redirects)):
        if key not in vhosts:
            report.add(NOT_IMPORTED, f"ispmanVhostName={key[1]} of {key[0]}", "aliases or redirections of a vhost "
                                                                              "the directory does not have")
    return result, logins


def _ftp_login(entry: SourceEntry, report: ImportReport) -> CommentedMap | None:
    if "pureftpduser" not in entry.classes:
        return None
    allowed, misread = ftp_enabled(entry.get("FTPStatus"))
    if not allowed:
        status = f"'{entry.get('FTPStatus')}'" + (" (ISPMan's default)" if misread else "")
        report.add(NOT_IMPORTED, entry.dn, f"the vhost's FTP login: FTPStatus {status}, which pure-ftpd refused")
        return None
    password = classify_password(entry.get("userPassword"))
    if password.kept is None:
        section, why = (WEAK_HASHES, password.scheme) if password.weak else (NOT_IMPORTED, "no password")
        report.add(section, entry.dn, f"{why}: the vhost's FTP login is not imported (ftp.sites needs a {{CRYPT}}$6$ "
                                      "or $2y$ hash): declare it with a new one")
        return None
    login = CommentedMap([("password", password.kept)])
    quota = entry.get("FTPQuotaMBytes") or ""
    if quota.isdigit() and int(quota) > 0:
        login["quota"] = format_size(int(quota) * MIB)
        login.yaml_add_eol_comment("FTPQuotaMBytes", "quota")
    return login


def _report_rest(entry: SourceEntry, report: ImportReport) -> None:
    home = entry.get("homeDirectory") or "?"
    docroot = entry.get("ispmanVhostDocumentRoot") or "htdocs"
    report.add(CONVERTED, entry.dn, f"document root {home}/{docroot}: the site's files move to ispctl's web root")
    for attr, what in (("ispmanVhostExtraConf", "raw Apache configuration"),
                       ("ispmanVhostScriptDir", "CGI script directory"),
                       ("ispmanVhostIpAddress", "IP binding"), ("webHost", "web host placement")):
        values = [v for v in entry.all(attr) if v.strip() and v.strip() != "*"]
        if values:
            report.add(NOT_IMPORTED, entry.dn, f"{attr} ({what}), {len(values)} value(s)")
