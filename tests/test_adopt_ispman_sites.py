"""ISPMan's vhosts, their aliases and URL redirections as web sites; the rest reported; the imported
sites served by a real Apache (the ``web`` fixture) with an empty plan after the apply."""

from __future__ import annotations

from pathlib import Path

from ispman_helpers import import_ldif
from ldap_helpers import run_cli
from web_helpers import WebHost

from ispctl.providers.adopt.ispman_sites import read_sites
from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, WEAK_HASHES, ImportReport
from ispctl.providers.adopt.source import SourceEntry
from ispctl.providers.web.sandbox.component import WebServers
from ispctl.reconciler.contract import hash_password

VHOST = "ispmanVhostName=www,ou=httpdata,ispmanDomain=a.example,o=ispman"


def entry(dn: str, classes: list[str], **attrs: list[str]) -> SourceEntry:
    return SourceEntry(dn, {"objectclass": classes, "ispmandomain": ["a.example"], "ispmanvhostname": ["www"],
                            **{k.lower(): v for k, v in attrs.items()}})


def test_aliases_from_both_places_and_redirects_with_apaches_default_code() -> None:
    report = ImportReport("test")
    sites, logins = read_sites([
        entry(VHOST, ["ispmanVirtualHost", "posixAccount"], ispmanVhostServerAlias=["a.example", "www2.a.example"],
              homeDirectory=["/ispman/domains/a.example/vhosts/www"]),
        entry(f"ispmanVhostServerAlias=web,ou=vhostAliases,{VHOST}", ["ispmanVirtualHostAlias"],
              ispmanVhostServerAlias=["web"]),
        entry(f"ispmanVhostServerAlias=shop.b.example,ou=vhostAliases,{VHOST}", ["ispmanVirtualHostAlias"],
              ispmanVhostServerAlias=["shop.b.example"]),
        # http.lib prepends the / a redirection's path lacks.
        entry(f"ispmanVhostRedirectURL=old,ou=urlRedirections,{VHOST}", ["ispmanVirtualHostRedirection"],
              ispmanVhostRedirectURL=["old"], ispmanVhostRedirectLocation=["https://new.example/"]),
    ], report)
    site = sites["a.example"]["www"]
    assert site["aliases"] == ["@", "shop.b.example", "web", "www2"]
    assert [dict(r) for r in site["redirects"]] == [{"from": "/old", "to": "https://new.example/", "code": 302}]
    assert [i.detail for i in report.items(CONVERTED)] == [
        "document root /ispman/domains/a.example/vhosts/www/htdocs: the site's files move to ispctl's web root"]
    assert report.imported == {"sites": 1}
    assert logins == {}  # no PureFTPdUser: no FTP login


def test_what_sites_have_no_field_for_is_reported() -> None:
    report = ImportReport("test")
    _, logins = read_sites([entry(VHOST, ["ispmanVirtualHost", "PureFTPdUser"],
                                  ispmanVhostExtraConf=["Options -Indexes"], ispmanVhostIpAddress=["*"],
                                  webHost=["web1", "web2"], FTPStatus=["active"])], report)
    assert logins == {}
    assert sorted(i.detail for i in report.items(NOT_IMPORTED)) == [
        "ispmanVhostExtraConf (raw Apache configuration), 1 value(s)",
        "the vhost's FTP login: FTPStatus 'active' (ISPMan's default), which pure-ftpd refused",
        "webHost (web host placement), 2 value(s)",
    ]  # ispmanVhostIpAddress * is Apache's default: nothing lost


def test_aliases_of_a_vhost_the_directory_does_not_have_are_reported() -> None:
    report = ImportReport("test")
    assert read_sites([entry(f"ispmanVhostServerAlias=web,ou=vhostAliases,{VHOST}", ["ispmanVirtualHostAlias"],
                             ispmanVhostServerAlias=["web"])], report) == ({}, {})
    assert [i.detail for i in report.items(NOT_IMPORTED)] == [
        "aliases or redirections of a vhost the directory does not have"]


SHA512 = hash_password("x", "sha512", rounds=1000)


def test_an_ftp_login_pure_ftpd_let_in_is_imported_with_its_quota_and_a_weak_one_is_reported() -> None:
    report = ImportReport("test")
    other = VHOST.replace("=www,", "=old,")
    _, logins = read_sites([
        entry(VHOST, ["ispmanVirtualHost", "PureFTPdUser"], FTPStatus=["enabled"], FTPQuotaMBytes=["50"],
              userPassword=["{crypt}" + SHA512.removeprefix("{CRYPT}")]),
        SourceEntry(other, {"objectclass": ["ispmanVirtualHost", "PureFTPdUser"], "ispmandomain": ["a.example"],
                            "ispmanvhostname": ["old"], "ftpstatus": ["TRUE"],
                            "userpassword": ["{crypt}XyPjAxPKWHitQ"]}),
    ], report)
    assert {host: dict(login) for host, login in logins["a.example"].items()} == {
        "www": {"password": SHA512, "quota": "50 MiB"}}
    assert [(i.dn, i.detail.split(":")[0]) for i in report.items(WEAK_HASHES)] == [(other, "{CRYPT} DES")]


def test_the_imported_sites_are_served_by_a_real_apache_and_the_next_plan_is_empty(web: WebServers,
                                                                                   tmp_path: Path) -> None:
    estate = tmp_path / "estate"
    import_ldif(estate)
    # The import writes web.https: off (ISPMan's vhosts were HTTP only): no CA is asked.
    env = {"ISPCTL_PROVIDERS": "web", **web.env(), "ISPCTL_WEB_PROBE_TIMEOUT": "5"}
    applied = run_cli(None, "apply", "--auto-approve", "-d", str(estate), **env)
    assert applied.exit_code == 0, applied.output
    host = WebHost(web, tmp_path / "reloads.log")
    # ISPMan's Redirect /support https://status.northwind.example/ (Apache's default 302), on the
    # vhost's name and on each of its aliases (the apex, and 'web' from ou=vhostAliases).
    for name in ("www.northwind.example", "northwind.example", "web.northwind.example"):
        status, headers, _ = host.get(name, "/support")
        assert (status, headers.get("location")) == (302, "https://status.northwind.example/"), name
    assert host.get("shop.northwind.example", "/")[0] in (403, 404)  # the resumed vhost, an empty docroot
    plan = run_cli(None, "plan", "--detailed-exitcode", "-d", str(estate), **env)
    assert plan.exit_code == 0 and "No changes." in plan.stdout, plan.output
