"""Environment overrides of site settings: only the mail store's location and owner."""

from __future__ import annotations

from pathlib import Path

import pytest

from ispctl.providers.ldap.settings import DirectorySettings
from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.estate.model import SiteFile
from ispctl.reconciler.estate.settings import desired_root
from tests.wiring import FILES, load_desired, with_overrides

EXAMPLE = Path(__file__).resolve().parent.parent / "desired-state"


def site() -> SiteFile:
    return FILES.site(directory=DirectorySettings(base_dn="ou=ispctl,dc=example,dc=net"))


def test_no_override_returns_the_file_settings() -> None:
    original = site()
    assert with_overrides(original, {}) is original


def test_mail_root_and_owner_come_from_the_environment() -> None:
    changed = with_overrides(
        site(), {"ISPCTL_MAIL_ROOT": "/srv/sandbox/vmail/", "ISPCTL_MAIL_UID": "1000", "ISPCTL_MAIL_GID": "1001"}
    )
    assert (changed.mail.root, changed.mail.uid, changed.mail.gid) == ("/srv/sandbox/vmail", 1000, 1001)
    assert changed.directory == site().directory


@pytest.mark.parametrize(("name", "value", "words"), [
    ("ISPCTL_MAIL_ROOT", "relative/path", "absolute path"),
    ("ISPCTL_MAIL_ROOT", "/var/vmail\n", "line break"),
    ("ISPCTL_MAIL_ROOT", "/var/\tvmail", "line break, tab"),
    ("ISPCTL_MAIL_ROOT", "/var/./vmail", "absolute path"),
    ("ISPCTL_MAIL_ROOT", "/var//vmail", "'//'"),
    ("ISPCTL_MAIL_ROOT", "/", "cannot be / itself"),
    ("ISPCTL_MAIL_ROOT", "///", "'//'"),
    ("ISPCTL_MAIL_UID", "root", "valid integer"),
    ("ISPCTL_MAIL_GID", "0", "greater than or equal to 1"),
])
def test_bad_overrides_name_the_variable(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        with_overrides(site(), {name: value})
    assert str(caught.value).startswith(f"{name}: ") and words in str(caught.value)


def test_compiled_homes_follow_the_override() -> None:
    # A uid pure-ftpd serves (ftp.min_uid, 1000): the example's FTP mailbox runs as the mail uid.
    _catalog, desired = load_desired(EXAMPLE, {"ISPCTL_MAIL_ROOT": "/tmp/box", "ISPCTL_MAIL_UID": "4242"})
    noc = desired[("mailbox", "noc@northwind.example")]
    assert noc.attrs["home"] == "/tmp/box/northwind.example/noc" and noc.attrs["uid_number"] == 4242


def test_desired_root_default_and_override() -> None:
    assert desired_root({}) == Path("desired-state")
    assert desired_root({"ISPCTL_DESIRED_STATE": "/estate"}) == Path("/estate")


def test_enabled_providers_come_from_the_site_unless_the_machine_says_otherwise() -> None:
    from ispctl.reconciler.estate.settings import enabled_providers

    assert enabled_providers(site(), {}) == ("ldap",)
    assert enabled_providers(site(), {"ISPCTL_PROVIDERS": " ldap, mailstore ,ldap"}) == ("ldap", "mailstore")
    with pytest.raises(ConfigError, match="names no provider"):
        enabled_providers(site(), {"ISPCTL_PROVIDERS": " , "})


def test_an_unknown_provider_is_a_clear_error() -> None:
    from tests.wiring import open_session

    known = "dns, dovecot, ldap, mailstore, opendkim, sieve, web"
    with pytest.raises(ConfigError, match=f"unknown provider 'bind'; known: {known}$"):
        with open_session(EXAMPLE, {"ISPCTL_PROVIDERS": "bind"}):
            pass
