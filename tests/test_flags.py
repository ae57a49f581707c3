"""Yes/no settings: one documented set of spellings everywhere, anything else an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from estate_builder import HASH, EstateBuilder
from typer.testing import CliRunner

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.reconciler.cli.app import app
from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.estate.flags import NotAFlag, env_flag, flag_value

ON = ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " on ", True, 1]
OFF = ["0", "false", "FALSE", "no", "No", "off", "OFF", False, 0]
REFUSED = ["t", "f", "y", "n", "enable", "enabled", "2", "-1", "1.0", "oui", "nein", 2, 1.0, 0.0, None, [], "tru e"]


@pytest.mark.parametrize("value", ON)
def test_every_documented_spelling_of_on(value: object) -> None:
    assert flag_value(value) is True


@pytest.mark.parametrize("value", OFF)
def test_every_documented_spelling_of_off(value: object) -> None:
    assert flag_value(value) is False


@pytest.mark.parametrize("value", REFUSED)
def test_anything_else_is_refused(value: object) -> None:
    with pytest.raises(NotAFlag, match="true/false, yes/no, on/off or 1/0"):
        flag_value(value)


def test_environment_switches_default_when_unset_or_empty_and_name_the_variable_when_wrong() -> None:
    assert env_flag({}, "ISPCTL_X") is False
    assert env_flag({"ISPCTL_X": "  "}, "ISPCTL_X", default=True) is True
    assert env_flag({"ISPCTL_X": "Off"}, "ISPCTL_X", default=True) is False
    with pytest.raises(ConfigError, match=r"^ISPCTL_X must be true/false, yes/no, on/off or 1/0 \(any case\) "
                                          r"\(got 'enable'\)$"):
        env_flag({"ISPCTL_X": "enable"}, "ISPCTL_X")


LDAP = {"ISPCTL_LDAP_URL": "ldap://127.0.0.1:389", "ISPCTL_LDAP_BIND_DN": "cn=a,dc=x", "ISPCTL_LDAP_PASSWORD": "pw"}


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("Yes", True), ("1", True), ("off", False),
                                                 ("0", False), ("", False)])
def test_starttls_takes_every_spelling(value: str, expected: bool) -> None:
    # "on" used to mean off: the bind password then went over the wire in clear.
    assert LdapSettings.from_env({**LDAP, "ISPCTL_LDAP_STARTTLS": value}).starttls is expected


@pytest.mark.parametrize("value", ["enable", "y", "starttls", "2"])
def test_a_starttls_typo_is_refused_before_connecting(value: str) -> None:
    with pytest.raises(ConfigError, match="^ISPCTL_LDAP_STARTTLS must be true/false, yes/no, on/off or 1/0"):
        LdapSettings.from_env({**LDAP, "ISPCTL_LDAP_STARTTLS": value})


def test_a_debug_switch_typo_is_an_error_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "--dir", str(tmp_path / "none")],
                                env={"ISPCTL_DEBUG": "please", "NO_COLOR": "1"})
    assert result.exit_code == 1
    assert "ISPCTL_DEBUG must be true/false, yes/no, on/off or 1/0" in result.output
    assert "Traceback" not in result.output


SITE_TEXT = """\
    directory:
      base_dn: ou=ispctl,dc=example,dc=net
    prune:
      enabled: {prune}
    defaults:
      mailbox_services:
        imap: {imap}
    """


def test_yaml_switches_take_the_same_spellings(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site=SITE_TEXT.format(prune="off", imap="Yes"))
    builder.tenant("acme", "name: Acme\nprotect: ON\n")
    builder.domain("acme", "acme.example", f"domain: acme.example\nprotect: 1\nmailboxes:\n  anna:\n"
                   f"    password: '{HASH}'\n    services: {{pop3: no}}\n"
                   f"    forward: {{to: [bob@elsewhere.example], keep_copy: 'true'}}\n")
    catalog = builder.catalog()
    site = catalog.estate.site
    assert site.prune.enabled is False and site.defaults.mailbox_services.imap is True
    assert catalog.tenants["acme"].spec.protect is True
    anna = catalog.mailboxes["anna@acme.example"].spec
    assert anna.services.pop3 is False and anna.forward is not None and anna.forward.keep_copy is True
    assert catalog.domains["acme.example"].spec.protect is True


@pytest.mark.parametrize("word", ["t", "n", "1.0", "2", "enable", "~"])
def test_a_yaml_switch_typo_is_an_error_at_its_line(tmp_path: Path, word: str) -> None:
    builder = EstateBuilder(tmp_path, site=SITE_TEXT.format(prune=word, imap="yes"))
    problem = builder.only_problem()
    assert (problem.location.file, problem.location.line, problem.path) == (
        "desired-state/ispctl.yaml", 4, "prune.enabled")
    assert "true/false, yes/no, on/off or 1/0" in problem.message
