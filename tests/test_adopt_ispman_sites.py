"""ISPMan's vhosts, their aliases and URL redirections as web sites; the rest reported."""

from __future__ import annotations

from ispctl.providers.adopt.ispman_sites import read_sites
from ispctl.providers.adopt.ispman_source import SourceEntry
from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, ImportReport

VHOST = "ispmanVhostName=www,ou=httpdata,ispmanDomain=a.example,o=ispman"


def entry(dn: str, classes: list[str], **attrs: list[str]) -> SourceEntry:
    return SourceEntry(dn, {"objectclass": classes, "ispmandomain": ["a.example"], "ispmanvhostname": ["www"],
                            **{k.lower(): v for k, v in attrs.items()}})


def test_aliases_from_both_places_and_redirects_with_apaches_default_code() -> None:
    report = ImportReport("test")
    sites = read_sites([
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


def test_what_sites_have_no_field_for_is_reported() -> None:
    report = ImportReport("test")
    read_sites([entry(VHOST, ["ispmanVirtualHost", "PureFTPdUser"], ispmanVhostExtraConf=["Options -Indexes"],
                      ispmanVhostIpAddress=["*"], webHost=["web1", "web2"], FTPStatus=["active"])], report)
    assert sorted(i.detail for i in report.items(NOT_IMPORTED)) == [
        "ispmanVhostExtraConf (raw Apache configuration), 1 value(s)",
        "the vhost's FTP login (FTPStatus active): declare it under ftp.sites if wanted",
        "webHost (web host placement), 2 value(s)",
    ]  # ispmanVhostIpAddress * is Apache's default: nothing lost


def test_aliases_of_a_vhost_the_directory_does_not_have_are_reported() -> None:
    report = ImportReport("test")
    assert read_sites([entry(f"ispmanVhostServerAlias=web,ou=vhostAliases,{VHOST}", ["ispmanVirtualHostAlias"],
                             ispmanVhostServerAlias=["web"])], report) == {}
    assert [i.detail for i in report.items(NOT_IMPORTED)] == [
        "aliases or redirections of a vhost the directory does not have"]
