"""The ``ispctl`` command line end to end against a real slapd.

Most calls run in-process through typer's ``CliRunner``; the ones whose point is the real
process boundary (stdin pipes, exit status, no traceback on stderr) run the installed
``ispctl`` command.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ldap_helpers import (
    BASE,
    EXAMPLE,
    EXAMPLE_COUNT,
    HASH,
    apply_ok,
    assert_converged,
    copy_example,
    edit_yaml,
    escape_filter_value,
    find_one,
    plan_data,
    run_cli,
    run_ispctl,
    search,
    whoami,
    write_estate,
)

from ispctl.providers.ldap import DIRECTORY, identity
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.registry import services
from ispctl.reconciler import __version__
from ispctl.reconciler.cli.context import Wiring
from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.harness.daemons import free_port

HASH_RE = re.compile(r"\$(6|2[aby])\$")


def all_hashes(root: Path) -> list[str]:
    """Every password hash written in an estate's YAML."""
    found = re.findall(r'password: "([^"]+)"', "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.yaml")))
    assert found
    return found


def test_create_from_empty_then_a_second_plan_shows_no_changes(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    data = plan_data(slapd, root)
    assert data["summary"] == {"add": EXAMPLE_COUNT, "change": 0, "destroy": 0}
    assert {c["action"] for c in data["changes"]} == {"create"} and data["drift"] == []
    kinds = [c["kind"] for c in data["changes"]]
    assert {k: kinds.count(k) for k in set(kinds)} == {"tenant": 5, "domain": 6, "mailbox": 25, "alias": 10}
    result = apply_ok(slapd, root)
    assert f"Apply complete! Resources: {EXAMPLE_COUNT} added, 0 changed, 0 destroyed." in result.stdout
    assert len(search(slapd, "(objectClass=ispctlManaged)", "1.1")) == EXAMPLE_COUNT
    second = run_cli(slapd, "plan", "-d", str(root))
    assert second.exit_code == 0
    assert second.stdout.strip() == "No changes. The live services match the desired state."
    again = run_cli(slapd, "apply", "-d", str(root))  # nothing to do: no question asked
    assert again.exit_code == 0 and "No changes." in again.stdout and "Enter a value" not in again.stdout


def test_plan_detailed_exitcode_is_0_2_or_1(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    changes = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(root))
    assert changes.exit_code == 2 and f"Plan: {EXAMPLE_COUNT} to add, 0 to change, 0 to destroy." in changes.stdout
    assert run_cli(slapd, "plan", "-d", str(root)).exit_code == 0  # without the flag, changes are success
    apply_ok(slapd, root)
    assert run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(root)).exit_code == 0
    edit_yaml(root / "tenants/northwind/northwind.example.yaml", lambda d: d["mailboxes"]["noc"].update(quota="lots"))
    invalid = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(root))
    assert invalid.exit_code == 1
    assert "northwind.example.yaml:" in invalid.stderr and "mailboxes.noc.quota" in invalid.stderr
    assert "1 error(s) in the desired state; nothing was changed." in invalid.stderr


@pytest.mark.parametrize("args", [["plan", "--detailed-exitcode", "--json"], ["apply", "--auto-approve"]])
def test_an_unreachable_server_is_a_clear_error_without_traceback(args: list[str]) -> None:
    port = free_port("127.0.0.1")
    done = run_ispctl(None, *args, "-d", str(EXAMPLE), ISPCTL_LDAP_URL=f"ldap://127.0.0.1:{port}",
                      ISPCTL_LDAP_BIND_DN="cn=admin,dc=example,dc=net", ISPCTL_LDAP_PASSWORD="hunter2-secret")
    assert done.returncode == 1
    assert f"Error: cannot connect to the directory at ldap://127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "hunter2-secret" not in done.stderr + done.stdout
    assert done.stdout == ""  # no half plan, no empty JSON document


def test_missing_connection_variables_are_named(slapd: SlapdInstance) -> None:
    done = run_cli(None, "plan", "-d", str(EXAMPLE))
    assert done.exit_code == 1
    for name in ("ISPCTL_LDAP_URL", "ISPCTL_LDAP_BIND_DN", "ISPCTL_LDAP_PASSWORD"):
        assert name in done.stderr
    with pytest.raises(ConfigError):  # the same class the CLI reports, raised by the library
        LdapSettings.from_env({})
    wrong = run_cli(slapd, "plan", "-d", str(EXAMPLE), ISPCTL_LDAP_PASSWORD="Wr0ng-Secret")
    # libldap's words: a plan checks the directory on its python-ldap connection (``preflight``).
    assert wrong.exit_code == 1 and f"as {slapd.bind_dn}: Invalid credentials" in wrong.stderr
    assert "Wr0ng-Secret" not in wrong.output and slapd.password not in wrong.output


def test_password_file_variable_works_end_to_end(slapd: SlapdInstance, tmp_path: Path) -> None:
    secret = tmp_path / "bind.pw"
    secret.write_text(slapd.password + "\n", encoding="utf-8")
    done = run_cli(slapd, "plan", "--detailed-exitcode", "-d", str(EXAMPLE),
                   ISPCTL_LDAP_PASSWORD=None, ISPCTL_LDAP_PASSWORD_FILE=str(secret))
    assert done.exit_code == 2, done.output


def test_json_plan_and_saved_plan_mask_every_secret(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    hashes = all_hashes(root)
    saved = tmp_path / "out" / "first.json"
    done = run_cli(slapd, "plan", "--json", "--out", str(saved), "-d", str(root))
    assert done.exit_code == 0
    assert f"Saved the plan to {saved}" in done.stderr
    assert saved.read_text(encoding="utf-8") == done.stdout
    for text in (done.stdout, done.stderr, saved.read_text(encoding="utf-8")):
        assert not HASH_RE.search(text) and not any(h in text for h in hashes)
    data = json.loads(done.stdout)
    passwords = [a for c in data["changes"] for a in c["attributes"] if a["name"] == "password"]
    assert len(passwords) == 25 and all(a == {"name": "password", "before": None, "after": "(sensitive value)",
                                              "sensitive": True} for a in passwords)
    apply_ok(slapd, root)
    # A password change (of one git keeps): neither the old nor the new hash may leak, in JSON or in text.
    edit_yaml(root / "tenants/northwind/northwind.example.yaml",
              lambda d: d["mailboxes"]["noc"].update(password=HASH, credentials="git"))
    for args in (["--json"], []):
        shown = run_cli(slapd, "plan", *args, "-d", str(root))
        assert "(sensitive value)" in shown.stdout and not HASH_RE.search(shown.output)
    (change,) = plan_data(slapd, root)["changes"]
    assert change["attributes"] == [{"name": "password", "before": "(sensitive value)",
                                     "after": "(sensitive value)", "sensitive": True}]


def test_out_with_a_bare_name_is_saved_under_plans(slapd: SlapdInstance, tmp_path: Path) -> None:
    done = run_ispctl(slapd, "plan", "--out", "nightly", "-d", str(EXAMPLE), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "plans" / "nightly.json"
    assert json.loads(saved.read_text(encoding="utf-8"))["summary"]["add"] == EXAMPLE_COUNT
    assert "(sensitive value)" in saved.read_text(encoding="utf-8")
    assert not HASH_RE.search(saved.read_text(encoding="utf-8"))
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    blocked = run_cli(slapd, "plan", "--out", str(tmp_path / "a-file" / "plan.json"), "-d", str(EXAMPLE))
    assert blocked.exit_code == 1
    assert f"Error: cannot save the plan to {tmp_path / 'a-file' / 'plan.json'}" in blocked.stderr
    assert "Internal error" not in blocked.stderr


@pytest.mark.parametrize(("scheme", "prefix"), [("sha512", "{CRYPT}$6$"), ("bcrypt", "{CRYPT}$2y$")])
def test_hash_password_reads_stdin_and_the_hash_lets_the_mailbox_bind(
    slapd: SlapdInstance, tmp_path: Path, scheme: str, prefix: str
) -> None:
    password = "correct horse, battery staple ü"
    hashed = run_ispctl(None, "hash-password", "--scheme", scheme, "--rounds", "5000" if scheme == "sha512" else "4",
                        input=password + "\n")
    assert hashed.returncode == 0, hashed.stderr
    value = hashed.stdout.strip()
    assert value.startswith(prefix) and password not in hashed.stdout + hashed.stderr
    root = copy_example(tmp_path)
    edit_yaml(root / "tenants/northwind/northwind.example.yaml", lambda d: d["mailboxes"]["noc"].update(password=value))
    apply_ok(slapd, root)
    dn, entry = find_one(slapd, "(uid=noc@northwind.example)", "userPassword")
    assert entry["userpassword"] == [value]
    ok = whoami(slapd, dn, password, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"dn:{dn}"
    assert whoami(slapd, dn, password + "x", tmp_path).returncode == 49  # invalidCredentials


def test_hash_password_refuses_empty_input_and_never_takes_argv() -> None:
    empty = run_cli(None, "hash-password", input="\n")
    assert empty.exit_code == 1 and "the password is empty" in empty.stderr and empty.stdout == ""
    closed = run_ispctl(None, "hash-password", input=None)
    assert closed.returncode == 1 and closed.stdout == ""
    assert "Error: no password on standard input" in closed.stderr and "Internal error" not in closed.stderr
    argv = run_cli(None, "hash-password", "my-password", input="x\n")
    assert argv.exit_code == 1 and "my-password" not in argv.stdout  # usage error: no positional argument


def test_usage_errors_exit_1_because_2_means_changes_present() -> None:
    unknown = run_cli(None, "plan", "--no-such-option")
    assert unknown.exit_code == 1 and "No such option" in unknown.output
    missing = run_cli(None, "force-unlock")
    assert missing.exit_code == 1 and "Missing argument" in missing.output
    command = run_cli(None, "no-such-command")
    assert command.exit_code == 1 and "No such command" in command.output
    # A service's group is parsed below the top one and maps the same way; so does the binary.
    assert run_cli(None, "render", "--no-such-option").exit_code == 1
    assert run_ispctl(None, "apply", "--no-such-option").returncode == 1


LOCALS = ["a+b", "x=y", "#hash", "o'brien", "~t!l$d%e&^`|?", "{curly}", "*star"]
NAMES = {
    "a+b": '  Zoë, "Z" + <z> ; #=\\  ',
    "x=y": "#leading hash",
    "#hash": " Ünïcödé 日本語 ",
    "o'brien": "Seán Ó Briain",
    "~t!l$d%e&^`|?": "back\\slash\\",
    "{curly}": "trailing space ",
    "*star": "a,b,c",
}
IDN = "xn--mnchen-3ya.example"


def special_estate(root: Path) -> Path:
    boxes = "".join(f"  {json.dumps(local)}:\n    name: {json.dumps(NAMES[local], ensure_ascii=False)}\n"
                    f"    password: \"{HASH}\"\n" for local in LOCALS)
    return write_estate(root, {
        "acme/tenant.yaml": (
            'name: "  Müller, Hans + \\"Jr\\" \\\\ <x> ; #1 = ok  "\n'
            'contact: "o\'brien@münchen.example"\n'
        ),
        "acme/münchen.example.yaml": (
            'domain: MÜNCHEN.example\ndescription: " Straße, \\"Nord\\" + <Süd>; #2 = \\\\ "\n'
            f"mail:\n  catch_all: \"#hash\"\nmailboxes:\n{boxes}"
            'aliases:\n  "=eq+plus#":\n    to: ["a+b", "x=y"]\n    description: "  D, \\"q\\" + <a> ; # = \\\\  "\n'
        ),
    })


def test_dn_special_characters_and_unicode_round_trip(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = special_estate(tmp_path / "estate")
    apply_ok(slapd, root)
    assert_converged(slapd, root)
    for local in LOCALS:
        address = f"{local}@{IDN}"
        _dn, entry = find_one(slapd, f"(uid={escape_filter_value(address)})", "uid", "displayName", "cn", "mail")
        assert entry["uid"] == entry["mail"] == [address]
        assert entry["displayname"] == entry["cn"] == [NAMES[local]]
    _dn, tenant = find_one(slapd, "(o=acme)", "ispctlDisplayName", "ispctlContact")
    assert tenant["ispctldisplayname"] == ['  Müller, Hans + "Jr" \\ <x> ; #1 = ok  ']
    assert tenant["ispctlcontact"] == [f"o'brien@{IDN}"]
    _dn, domain = find_one(slapd, f"(associatedDomain={IDN})", "ispctlDisplayName", "description", "ispctlCatchAll")
    assert domain == {"ispctldisplayname": ["münchen.example"], "description": [' Straße, "Nord" + <Süd>; #2 = \\ '],
                      "ispctlcatchall": [f"#hash@{IDN}"]}
    dn, alias = find_one(slapd, f"(mail={escape_filter_value(f'=eq+plus#@{IDN}')})", "description", "ispctlMailTarget")
    assert alias["description"] == ['  D, "q" + <a> ; # = \\  ']
    assert sorted(alias["ispctlmailtarget"]) == [f"a+b@{IDN}", f"x=y@{IDN}"]
    # Updates and deletes address these entries by their (escaped) DNs too.
    path = root / "tenants/acme/münchen.example.yaml"
    edit_yaml(path, lambda d: (d["mailboxes"]["a+b"].update(quota="2 GiB"), d["mailboxes"]["x=y"].update(name="=x, y+"),
                               d["mailboxes"].pop("*star"), d["aliases"].pop("=eq+plus#")))
    changes = {c["address"]: c["action"] for c in plan_data(slapd, root)["changes"]}
    assert changes == {f"mailbox.a+b@{IDN}": "update", f"mailbox.x=y@{IDN}": "update",
                       f"mailbox.*star@{IDN}": "delete", f"alias.=eq+plus#@{IDN}": "delete"}
    apply_ok(slapd, root)
    assert_converged(slapd, root)
    assert find_one(slapd, f"(uid={escape_filter_value(f'x=y@{IDN}')})", "cn")[1]["cn"] == ["=x, y+"]
    assert search(slapd, f"(uid={escape_filter_value(f'*star@{IDN}')})", "1.1") == {}
    assert search(slapd, "(objectClass=ispctlMailGroup)", "1.1") == {}


def test_a_plan_over_more_entries_than_a_page_is_complete(slapd: SlapdInstance, tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    edit_yaml(root / "ispctl.yaml", lambda d: d["directory"].update(page_size=10))
    apply_ok(slapd, root)
    # Had only the first page been read, the plan would re-create the other 35 entries.
    assert_converged(slapd, root)
    edit_yaml(root / "tenants/southbay/school/riverside-school.example.yaml",
              lambda d: d["mailboxes"]["t.mbeki"].update(quota="256 MiB"))
    assert [c["address"] for c in plan_data(slapd, root)["changes"]] == ["mailbox.t.mbeki@riverside-school.example"]


def test_validate_and_version_need_no_directory(tmp_path: Path) -> None:
    done = run_cli(None, "validate", "-d", str(EXAMPLE))
    assert done.exit_code == 0
    assert done.stdout.strip() == (
        f"The desired state in {EXAMPLE} is valid: "
        "alias: 10, dns: 69, dns_zone: 5, domain: 6, mailbox: 25, maildir: 25, sieve: 1, site: 11, tenant: 5."
    )
    assert run_cli(None, "validate", "-d", str(tmp_path / "nowhere")).exit_code == 1
    # --version alone, without a command (it used to fail with "Missing command", exit 2).
    version = run_cli(None, "--version")
    assert (version.exit_code, version.stdout) == (0, f"ispctl {__version__}\n")
    assert f"base_dn: {BASE}" in (EXAMPLE / "ispctl.yaml").read_text(encoding="utf-8")


def test_errors_github_states_each_problem_as_an_annotation(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    edit_yaml(root / "tenants/northwind/northwind.example.yaml",
              lambda d: d["mailboxes"]["noc"].__setitem__("quota", "lots, 100%"))
    plain = run_cli(None, "validate", "-d", str(root))
    assert plain.exit_code == 1 and "::error" not in plain.output
    failed = run_cli(None, "--errors", "github", "validate", "-d", str(root))
    assert failed.exit_code == 1 and failed.stdout == ""
    lines = [line for line in failed.stderr.splitlines() if line.startswith("::error")]
    # The location as GitHub properties; the message escaped the way the runner undoes it.
    assert len(lines) == 1 and lines[0].startswith(
        f"::error file={root.name}/tenants/northwind/northwind.example.yaml,line=11,")
    assert ",col=" in lines[0] and lines[0].endswith("::mailboxes.noc.quota: 'lots, 100%25' is not a size; write e.g. "
                                                     "'2 GiB', '500 MB' or a number of bytes")
    # The human form is still there for the log and the sticky comment.
    assert "mailboxes.noc.quota: 'lots, 100%' is not a size" in failed.stderr
    # An error that is not about a file (no directory to plan against) is an annotation without one.
    nowhere = run_cli(None, "--errors", "github", "plan", "-d", str(copy_example(tmp_path / "b")),
                      ISPCTL_LDAP_URL=f"ldap://127.0.0.1:{free_port()}")
    assert nowhere.exit_code == 1
    assert [line for line in nowhere.stderr.splitlines() if line.startswith("::error::")], nowhere.stderr
    assert run_cli(None, "--errors", "gh", "validate").exit_code == 1


def test_the_directory_identity_in_the_audit_trail_has_no_credentials() -> None:
    site = Wiring(services()).site(EXAMPLE, {})
    found = identity(site, {"ISPCTL_LDAP_URL": "ldaps://admin:s3cret@ldap.example.net:636/??sub?(x=1)"})
    assert found == {"directory": "ldaps://ldap.example.net:636/", "base_dn": site.section(DIRECTORY).base_dn}
    assert identity(site, {})["directory"] == ""
