"""Rendering Postfix's LDAP tables (providers/postfix/render.py): pure, no daemon.

What the tables answer is proved against slapd with Postfix's own client in
tests/test_postfix.py; here: the files' shape, the connection and TLS settings, the order
main.cf.ispctl wires them in, values Postfix could not read back, the writer and the CLI.
"""

from __future__ import annotations

import grp
import os
import re
import stat
from pathlib import Path

import pytest
from ldap3.core.exceptions import LDAPInvalidFilterError
from ldap3.operation.search import parse_filter
from ldap_helpers import BASE, run_cli, write_estate

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.settings import DirectorySettings
from ispctl.providers.postfix.render import ALIAS_TABLES, MAIN_CF, SYSTEM_CA_FILE, TABLES, render, write_files
from ispctl.reconciler.engine.errors import ConfigError
from tests.wiring import FILES

SECRET = "s3cret-$x#y"
LDAP = LdapSettings("ldap://ldap.example.net:389", "cn=postfix,dc=example,dc=net", SECRET)
SITE = FILES.site(directory=DirectorySettings(base_dn=BASE))
CONN_ENV = {"ISPCTL_LDAP_URL": "ldap://ldap.example.net:389", "ISPCTL_LDAP_BIND_DN": "cn=admin,dc=example,dc=net",
            "ISPCTL_LDAP_PASSWORD": "admin-secret"}
# Postfix's own read-only account: the command never writes ispctl's (CONN_ENV's) into a table.
ACCOUNT = {"ISPCTL_POSTFIX_LDAP_BIND_DN": "cn=postfix,ou=services,dc=example,dc=net",
           "ISPCTL_POSTFIX_LDAP_PASSWORD": "postfix-secret"}
CLI_ENV = {**CONN_ENV, **ACCOUNT}


def parse_cf(text: str) -> dict[str, str]:
    """A main.cf-style file as Postfix reads it: comments, continuations, ``name = value``."""
    logical: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace():
            assert logical, f"continuation line without a parameter: {line!r}"
            logical[-1] += " " + line.strip()
        else:
            logical.append(line)
    params: dict[str, str] = {}
    for entry in logical:
        name, sep, value = entry.partition("=")
        assert sep, f"not a parameter line: {entry!r}"
        assert name.strip() not in params, f"{name.strip()} set twice"
        params[name.strip()] = value.strip()
    return params


def tables_of(files: dict[str, str]) -> dict[str, dict[str, str]]:
    return {t.name: parse_cf(files[t.file_name]) for t in TABLES}


def test_one_file_per_table_plus_main_cf() -> None:
    files = render(SITE, LDAP)
    assert set(files) == {t.file_name for t in TABLES} | {MAIN_CF}
    assert len({t.name for t in TABLES}) == len(TABLES)


def test_every_table_binds_and_searches_the_managed_subtree() -> None:
    for name, params in tables_of(render(SITE, LDAP)).items():
        assert params["server_host"] == LDAP.url, name
        assert (params["version"], params["bind"], params["scope"]) == ("3", "yes", "sub"), name
        assert params["bind_dn"] == LDAP.bind_dn, name
        # Passwords are written verbatim: Postfix's table parser expands no $ or # there.
        assert params["bind_pw"] == SECRET, name
        assert params["search_base"] == BASE, name
        assert "start_tls" not in params and "tls_require_cert" not in params, name


@pytest.mark.parametrize(("url", "starttls", "ca", "want_starttls", "want_ca"), [
    ("ldap://ldap.example.net", True, "/etc/ispctl/ca.pem", "yes", "/etc/ispctl/ca.pem"),
    ("ldaps://ldap.example.net", False, None, None, SYSTEM_CA_FILE),
])
def test_tls_always_verifies_the_server(url: str, starttls: bool, ca: str | None,
                                        want_starttls: str | None, want_ca: str) -> None:
    settings = LdapSettings(url, LDAP.bind_dn, SECRET, starttls, ca)
    for params in tables_of(render(SITE, settings)).values():
        assert params.get("start_tls") == want_starttls
        assert params["tls_require_cert"] == "yes"
        assert params["tls_ca_cert_file"] == want_ca


def test_percent_in_base_dn_is_doubled() -> None:
    # search_base is %-expanded by Postfix; "o=100%" must not become part of a key.
    site = FILES.site(directory=DirectorySettings(base_dn="o=100%,dc=example,dc=net"))
    for params in tables_of(render(site, LDAP)).values():
        assert params["search_base"] == "o=100%%,dc=example,dc=net"


def test_filters_parse_use_only_s_and_d_and_read_marked_entries_only() -> None:
    for table in TABLES:
        params = parse_cf(render(SITE, LDAP)[table.file_name])
        query = params["query_filter"]
        assert query == table.query_filter
        # %s and %d are quoted by Postfix; no other expansion is used.
        assert set(re.findall(r"%.", query)) <= {"%s", "%d"}, table.name
        assert "(objectClass=ispctlManaged)" in query, table.name
        sample = query.replace("%s", "user@example.com").replace("%d", "example.com")
        try:
            parse_filter(sample, None, False, False, None, False)
        except LDAPInvalidFilterError as exc:
            pytest.fail(f"{table.name}: {sample}: {exc}")
        assert params["result_attribute"] == table.result_attribute


def test_status_conditions() -> None:
    """Which tables admit active entries only, and which exist to catch the others."""
    by_name = {t.name: t.query_filter for t in TABLES}
    active_only = ["virtual_mailbox_domains", "virtual_alias_domains", "virtual_mailbox_maps",
                   "virtual_alias_1_forwards", "virtual_alias_4_lists", "virtual_alias_5_alias_domains",
                   "virtual_alias_6_catch_all", "smtpd_sender_login_maps"]
    for name in active_only:
        assert "(ispctlAccountStatus=active)" in by_name[name] and "(!(ispctlAccountStatus" not in by_name[name], name
    for name in ("smtpd_recipient_access", "transport_maps"):
        assert "(!(ispctlAccountStatus=active))" in by_name[name], name
    # A mailbox maps to itself whatever its status (so the catch-all never takes it).
    assert "(|(objectClass=ispctlMailUser)" in by_name["virtual_alias_2_self"]


def test_main_cf_wires_tables_in_order_through_proxymap(tmp_path: Path) -> None:
    params = parse_cf(render(SITE, LDAP, "/etc/postfix/ispctl")[MAIN_CF])

    def ref(name: str) -> str:
        return f"proxy:ldap:/etc/postfix/ispctl/{name}.cf"

    assert params["virtual_alias_maps"].split() == [ref(t.name) for t in ALIAS_TABLES]
    assert [t.name[len("virtual_alias_"):][0] for t in ALIAS_TABLES] == list("123456")
    for table in TABLES:
        if table.parameter == "virtual_alias_maps":
            continue
        assert ref(table.name) in params[table.parameter].split(), table.name
    everything = " ".join(params.values())
    assert sorted(re.findall(r"/etc/postfix/ispctl/(\S+)\.cf", everything)) == sorted(t.name for t in TABLES)
    assert params["virtual_transport"] == "lmtp:unix:private/dovecot-lmtp"
    assert params["smtpd_sender_restrictions"] == "reject_authenticated_sender_login_mismatch"


@pytest.mark.parametrize("password", ["trailing ", " leading", "two\nlines", "tab\there", ""])
def test_passwords_postfix_cannot_read_back_are_refused_without_echo(password: str) -> None:
    with pytest.raises(ConfigError) as info:
        render(SITE, LdapSettings(LDAP.url, LDAP.bind_dn, password))
    assert "password" in str(info.value)
    if password.strip():
        assert password.strip() not in str(info.value)


@pytest.mark.parametrize("url", ["ldap://a.example ldap://b.example", "ldapi:///run/slapd,x"])
def test_url_that_server_host_would_split_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="server_host"):
        render(SITE, LdapSettings(url, LDAP.bind_dn, SECRET))


@pytest.mark.parametrize("table_dir", ["etc/postfix", "/etc/post fix", "/etc/$dir", "/a,b"])
def test_table_dir_must_be_usable_in_main_cf(table_dir: str) -> None:
    with pytest.raises(ConfigError, match="table directory"):
        render(SITE, LDAP, table_dir)


def test_writer_modes_replacement_and_group(tmp_path: Path) -> None:
    out = tmp_path / "tables"
    (tmp_path / "tables").mkdir()
    (out / ".main.cf.ispctl.tmp").write_text("left by a killed run", encoding="utf-8")
    group = grp.getgrgid(os.getegid()).gr_name
    written = write_files({"a.cf": "one\n", MAIN_CF: "x = 1\n"}, out, group)
    assert sorted(p.name for p in written) == ["a.cf", MAIN_CF]
    assert sorted(p.name for p in out.iterdir()) == ["a.cf", MAIN_CF]  # no temporary left
    for path in written:
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_gid == os.getegid()
    write_files({"a.cf": "two\n"}, out)
    assert (out / "a.cf").read_text(encoding="utf-8") == "two\n"
    with pytest.raises(ConfigError, match="does not exist"):
        write_files({"a.cf": "three\n"}, out, "no-such-group-ispctl")
    assert (out / "a.cf").read_text(encoding="utf-8") == "two\n"


def test_writer_creates_a_private_directory(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "tables"
    write_files({"a.cf": "x\n"}, out)
    assert stat.S_IMODE(out.stat().st_mode) & 0o007 == 0


# -- the command -----------------------------------------------------------------------------

def estate(tmp_path: Path) -> Path:
    return write_estate(tmp_path / "estate", {})


def test_cli_writes_tables_naming_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(None, "render", "postfix", "--out", str(out), "-d", str(estate(tmp_path)), **CLI_ENV)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted([t.file_name for t in TABLES] + [MAIN_CF])
    main = parse_cf((out / MAIN_CF).read_text(encoding="utf-8"))
    assert main["virtual_mailbox_maps"] == f"proxy:ldap:{out.absolute()}/virtual_mailbox_maps.cf"
    params = parse_cf((out / "virtual_mailbox_maps.cf").read_text(encoding="utf-8"))
    assert (params["bind_dn"], params["bind_pw"]) == (ACCOUNT["ISPCTL_POSTFIX_LDAP_BIND_DN"], "postfix-secret")


def test_cli_never_writes_ispctls_own_credentials(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(None, "render", "postfix", "--out", str(out), "-d", str(estate(tmp_path)), **CONN_ENV)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "ISPCTL_POSTFIX_LDAP_BIND_DN" in result.stderr and "--bind-dn and --password-file" in result.stderr
    assert "admin-secret" not in result.output and not out.exists()
    result = run_cli(None, "render", "postfix", "--out", str(out), "-d", str(estate(tmp_path)), **CONN_ENV,
                     ISPCTL_POSTFIX_LDAP_BIND_DN="cn=ADMIN,dc=example,dc=net", ISPCTL_POSTFIX_LDAP_PASSWORD="x")
    assert result.exit_code == 1 and "is ispctl's own account" in result.stderr, result.output
    assert not out.exists()


def test_cli_service_account_and_table_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    secret = tmp_path / "postfix.pw"
    secret.write_text("ro $ecret#1\n", encoding="utf-8")
    result = run_cli(None, "render", "postfix", "--out", str(out), "-d", str(estate(tmp_path)),
                     "--bind-dn", "cn=postfix,dc=example,dc=net", "--password-file", str(secret),
                     "--table-dir", "/etc/postfix/ispctl", **CLI_ENV)
    assert result.exit_code == 0, result.output
    params = parse_cf((out / "virtual_alias_4_lists.cf").read_text(encoding="utf-8"))
    assert (params["bind_dn"], params["bind_pw"]) == ("cn=postfix,dc=example,dc=net", "ro $ecret#1")
    main = (out / MAIN_CF).read_text(encoding="utf-8")
    assert "proxy:ldap:/etc/postfix/ispctl/virtual_alias_4_lists.cf" in main
    assert "admin-secret" not in "".join(p.read_text(encoding="utf-8") for p in out.iterdir())


@pytest.mark.parametrize("extra", [["--bind-dn", "cn=postfix,dc=example,dc=net"], ["--password-file", "/nonexistent"]])
def test_cli_bind_dn_and_password_file_go_together(tmp_path: Path, extra: list[str]) -> None:
    out = tmp_path / "out"
    result = run_cli(None, "render", "postfix", "--out", str(out), "-d", str(estate(tmp_path)), *extra, **CLI_ENV)
    assert result.exit_code == 1
    assert "--bind-dn and --password-file go together" in result.stderr
    assert not out.exists()


def test_cli_needs_a_connection_and_a_valid_site_file(tmp_path: Path) -> None:
    root = estate(tmp_path)
    result = run_cli(None, "render", "postfix", "--out", str(tmp_path / "out"), "-d", str(root), **ACCOUNT)
    assert result.exit_code == 1 and "ISPCTL_LDAP_URL" in result.stderr
    (root / "ispctl.yaml").write_text(
        "directory:\n  base_dn: ou=x,dc=example,dc=net\n  page_sise: 10\n", encoding="utf-8"
    )
    result = run_cli(None, "render", "postfix", "--out", str(tmp_path / "out"), "-d", str(root), **CLI_ENV)
    assert result.exit_code == 1
    assert "ispctl.yaml:3:3: directory.page_sise: unknown field" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_ignores_tenant_files(tmp_path: Path) -> None:
    # Tables depend on the site settings only: a broken domain file must not block them.
    root = write_estate(tmp_path / "estate", {"acme/tenant.yaml": "name: [unclosed\n"})
    result = run_cli(None, "render", "postfix", "--out", str(tmp_path / "out"), "-d", str(root), **CLI_ENV)
    assert result.exit_code == 0, result.output
