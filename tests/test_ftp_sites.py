"""FTP owner logins for web sites, compiled from the estate: the site's document root and uid,
its status; problems with file:line."""

from __future__ import annotations

from pathlib import Path

from estate_builder import SITE, EstateBuilder

from ispctl.providers.ftp.sites import KIND
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.contract import hash_password
from tests.ftp_helpers import PASSWORD
from tests.ldap_helpers import run_cli
from tests.wiring import load_desired, problems_of

REL = "tenants/acme/acme.example.yaml"
HASHED = hash_password(PASSWORD, rounds=1000)


def estate(tmp_path: Path, ftp: str, head: str = "services: [mail, web, ftp]\n") -> EstateBuilder:
    tmp_path.mkdir(parents=True, exist_ok=True)
    builder = EstateBuilder(tmp_path, site={**SITE, "web": {"web_root": "/srv/web"}})
    builder.write("tenants/acme/tenant.yaml", "name: Acme\n")
    builder.write(REL, f"domain: acme.example\n{head}web:\n  sites:\n    '@': {{aliases: [www]}}\n    shop: {{}}\n"
                       f"ftp:\n  sites:\n{ftp}")
    return builder


def test_a_site_login_is_the_site_s_document_root_owner_and_status(tmp_path: Path) -> None:
    builder = estate(tmp_path, f"    shop: {{password: \"{HASHED}\", quota: 5 MiB, quota_files: 100}}\n")
    _catalog, resources = load_desired(builder.root)
    site = resources[("site", "shop.acme.example")]
    login = resources[(KIND, "shop.acme.example")]
    assert login.parent == "domain.acme.example" and "password" in login.sensitive
    assert {k: v for k, v in login.attrs.items() if v is not None} == {
        "name": "shop.acme.example", "home": site.attrs["docroot"], "ftp_home": site.attrs["docroot"],
        "uid_number": site.attrs["uid"], "gid_number": site.attrs["gid"], "password": HASHED,
        "ftp_status": "enabled", "ftp_quota_mb": 5, "ftp_quota_files": 100,
    }
    assert str(site.attrs["docroot"]).startswith("/srv/web/acme/")
    assert ("site", "acme.example") in resources and (KIND, "acme.example") not in resources  # only those named


def test_a_suspended_domain_disables_its_site_logins(tmp_path: Path) -> None:
    builder = estate(tmp_path, f"    '@': {{password: \"{HASHED}\"}}\n",
                     head="services: [mail, web, ftp]\nstatus: suspended\n")
    _catalog, resources = load_desired(builder.root)
    assert resources[(KIND, "acme.example")].attrs["ftp_status"] == "disabled"


def test_logins_for_what_is_not_a_site_or_without_the_service_are_reported(tmp_path: Path) -> None:
    builder = estate(tmp_path / "a", f"    blog: {{password: \"{HASHED}\"}}\n    shop: {{password: plain}}\n"
                                     f"    www: {{password: \"{HASHED}\", quota_files: 3}}\n")
    file = builder.display(REL)
    assert [str(p) for p in problems_of(builder.root)] == [
        f"{file}:{builder.line_of(REL, 'blog')}:5: ftp.sites.blog: blog.acme.example is not a web site of "
        "acme.example (see web.sites)",
        # A secret's field: never echoed, whatever is wrong with it.
        f"{file}:{builder.line_of(REL, 'plain')}:12: ftp.sites.shop.password: is not valid here (the value is not "
        "shown: it may be a secret)",
        f"{file}:{builder.line_of(REL, 'www: {')}:5: ftp.sites.www: www.acme.example is not a web site of "
        "acme.example (see web.sites)",  # an alias of the apex's site, not a site of its own
    ]
    builder = estate(tmp_path / "b", f"    shop: {{password: \"{HASHED}\"}}\n", head="services: [mail, web]\n")
    assert [p.message for p in problems_of(builder.root)] == [
        "FTP logins on a domain without the ftp service (add ftp to services)"]


def test_a_site_logins_password_never_shows_in_a_plan(slapd: SlapdInstance, tmp_path: Path) -> None:
    builder = estate(tmp_path, f"    shop: {{password: \"{HASHED}\"}}\n")
    salt = HASHED.split("$")[3]  # any part of the hash
    for args in (("plan",), ("plan", "--json")):
        shown = run_cli(slapd, *args, "-d", str(builder.root))
        assert shown.exit_code == 0 and "ftp_login.shop.acme.example" in shown.stdout, shown.output
        assert salt not in shown.stdout + shown.stderr
