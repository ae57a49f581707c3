"""FTP logins placed on cluster hosts: each host's real pure-ftpd-ldap serves only its own.

A real slapd with the services' schemas; a two-host cluster (both mail_store and ftp). A
mailbox's FTP login is served where its mail is (mailHost); a site's owner login where its
``host`` says (the domain's ``placement: {ftp: ...}``, else the default, sticky). Two real
pure-ftpd-ldap, each rendered for one host (``render.login_filter``) and bound as pure-ftpd's
own read-only account (so the rendered access rules must let it filter on both attributes):
a login placed on the other host is refused (530), on its own accepted (230).
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.ftp.render import FILTER, login_filter, render, served_host
from ispctl.providers.ftp.sandbox.pureftpd import PureFtpdInstance
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.reconciler.contract import ConfigError, hash_password
from tests.ftp_helpers import PASSWORD, SITE, FtpEstate, login_replies, schemas
from tests.ldap_helpers import BASE, changes_by_address, run_cli, search, write_estate
from tests.wiring import load_desired, site

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pure-ftpd chroots and changes uid: root only")

MX1, MX2 = "mx1.example.net", "mx2.example.net"
JOE, ANN = "joe@acme.example", "ann@acme.example"
CLUSTER = textwrap.dedent(f"""\
    cluster:
      hosts:
        {MX1}: {{roles: [mail_store, imap, ftp]}}
        {MX2}: {{roles: [mail_store, imap, ftp]}}
    """)


def _files(hashed: str, domain_placement: str) -> dict[str, str]:
    return {
        "acme/tenant.yaml": "name: Acme\n",
        "acme/acme.example.yaml": (
            "domain: acme.example\nservices: [mail, ftp, web]\n"
            f"placement: {domain_placement}\n"
            f"ftp:\n  sites:\n    '@': {{password: \"{hashed}\"}}\nmailboxes:\n"
            f"  joe:\n    password: \"{hashed}\"\n    services: {{ftp: true}}\n"
            f"  ann:\n    password: \"{hashed}\"\n    services: {{ftp: true}}\n"
            f"    placement: {{mail_store: {MX2}}}\n"),
    }


def _estate(root: Path, domain_placement: str) -> Path:
    estate = write_estate(root, _files(hash_password(PASSWORD), domain_placement))
    site_file = estate / "ispctl.yaml"
    site_file.write_text(site_file.read_text(encoding="utf-8") + CLUSTER, encoding="utf-8")
    return estate


@pytest.fixture(scope="module")
def placed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FtpEstate, dict[str, PureFtpdInstance]]]:
    from ispctl.providers.ldap.sandbox.slapd import SlapdInstance

    base = tmp_path_factory.mktemp("ftp-placed")
    base.chmod(0o755)
    slapd = SlapdInstance(base / "slapd", schemas=schemas())
    slapd.start()
    servers: dict[str, PureFtpdInstance] = {}
    try:
        estate = FtpEstate(slapd, _estate(base / "estate", f"{{mail_store: {MX1}, ftp: {MX2}}}"), base / "ftp",
                           base / "www")
        apply = slapd.account_env("apply")
        env = {**estate.env, **apply, "ISPCTL_PROVIDERS": "ldap,dovecot", "ISPCTL_MOVE_JOURNAL": str(base / "moves")}
        planned = run_cli(slapd, "plan", "--json", "-d", str(estate.root), **env)
        assert planned.exit_code == 0, planned.output
        login = changes_by_address(json.loads(planned.stdout))[f"ftp_login.{SITE}"]
        # The plan names the host each login lands on.
        assert {a["name"]: a["after"] for a in login["attributes"]}["host"] == MX2
        applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate.root), **env)
        assert applied.exit_code == 0 and "Apply complete!" in applied.stdout, applied.output
        account = slapd.account_env("pureftpd")
        ldap_env = {"ISPCTL_LDAP_URL": slapd.url, "ISPCTL_LDAP_BIND_DN": account["ISPCTL_LDAP_BIND_DN"],
                    "ISPCTL_LDAP_PASSWORD": account["ISPCTL_LDAP_PASSWORD"]}
        for host in (MX1, MX2):
            servers[host] = PureFtpdInstance(base / f"pure-ftpd-{host}", ldap_env, base_dn=BASE,
                                             ftp_root=estate.ftp_root, host=host)
            servers[host].start()
        yield estate, servers
    finally:
        for server in servers.values():
            server.stop()
        slapd.stop()


def test_the_directory_holds_each_logins_host(placed: tuple[FtpEstate, dict[str, PureFtpdInstance]]) -> None:
    estate, _servers = placed
    mail_hosts = {e["mail"][0]: e["mailhost"][0] for e in search(
        estate.slapd, "(&(objectClass=ispctlFtpUser)(mailHost=*))", "mail", "mailHost").values()}
    assert mail_hosts == {JOE: MX1, ANN: MX2}
    sites = {e["uid"][0]: e["host"][0] for e in search(
        estate.slapd, "(&(objectClass=ispctlFtpUser)(objectClass=account))", "uid", "host").values()}
    assert sites == {SITE: MX2}


def test_a_login_is_served_on_its_host_and_refused_on_the_other(
        placed: tuple[FtpEstate, dict[str, PureFtpdInstance]]) -> None:
    _estate_, servers = placed
    homes = {JOE: MX1, ANN: MX2, SITE: MX2}
    tries = [(login, host) for login in homes for host in servers]
    replies = login_replies([(servers[host], login, PASSWORD) for login, host in tries])
    assert dict(zip(tries, replies, strict=True)) == {
        (login, host): "230" if host == homes[login] else "530" for login, host in tries}


def test_a_default_ftp_host_is_sticky_and_a_pinned_one_compared(tmp_path: Path) -> None:
    pinned = _estate(tmp_path / "pinned", f"{{ftp: {MX1}}}")
    _catalog, resources = load_desired(pinned)
    login = resources[("ftp_login", SITE)]
    assert login.attrs["host"] == MX1 and "host" not in login.create_only
    default = _estate(tmp_path / "default", f"{{mail_store: {MX1}}}")
    _catalog, resources = load_desired(default)
    login = resources[("ftp_login", SITE)]
    assert login.attrs["host"] in (MX1, MX2) and "host" in login.create_only


def test_a_mailbox_placement_names_its_mail_store_only(tmp_path: Path) -> None:
    estate = _estate(tmp_path, f"{{ftp: {MX1}}}")
    domain = estate / "tenants/acme/acme.example.yaml"
    domain.write_text(domain.read_text(encoding="utf-8").replace(f"placement: {{mail_store: {MX2}}}",
                                                                 f"placement: {{ftp: {MX2}}}"), encoding="utf-8")
    result = run_cli(None, "validate", "-d", str(estate))
    assert result.exit_code == 1
    line = next(i for i, text in enumerate(domain.read_text(encoding="utf-8").splitlines(), 1) if "{ftp: mx2" in text)
    assert f"acme.example.yaml:{line}" in result.output and "ftp" in result.output


def test_each_host_renders_its_own_filter() -> None:
    account = LdapSettings("ldap://ldap.example.net", "cn=pureftpd,dc=example,dc=net", "pw")
    lone = site(directory={"base_dn": BASE})
    assert served_host(lone) is None and login_filter(None) == FILTER
    hosts = {MX1: {"roles": ["ftp"]}, MX2: {"roles": ["mail_store", "ftp"]}, "ns2.example.net": {"roles": ["web"]}}
    clustered = site(directory={"base_dn": BASE}, cluster={"hosts": hosts, "this_host": MX2})
    conf = render(clustered, account)["db/ldap.conf"]
    assert f"LDAPFilter {login_filter(MX2)}\n" in conf
    assert login_filter(MX2).endswith(f"(|(mailHost={MX2})(host={MX2})))")
    for this in (None, "ns2.example.net"):
        other = site(directory={"base_dn": BASE}, cluster={"hosts": hosts, "this_host": this})
        with pytest.raises(ConfigError, match="ISPCTL_HOST"):
            render(other, account)


def test_every_mail_store_host_must_serve_ftp_when_mailboxes_have_it(tmp_path: Path) -> None:
    estate = _estate(tmp_path, f"{{ftp: {MX1}}}")
    site_file = estate / "ispctl.yaml"
    site_file.write_text(site_file.read_text(encoding="utf-8").replace(
        f"{MX2}: {{roles: [mail_store, imap, ftp]}}", f"{MX2}: {{roles: [mail_store, imap]}}"), encoding="utf-8")
    result = run_cli(None, "validate", "-d", str(estate))
    assert result.exit_code == 1
    line = next(i for i, text in enumerate(site_file.read_text(encoding="utf-8").splitlines(), 1) if MX2 in text)
    assert f"ispctl.yaml:{line}" in result.output and f"give {MX2} the ftp role" in result.output
