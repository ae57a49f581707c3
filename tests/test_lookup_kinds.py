"""``lookup.kinds``: the nouns people type and the names of objects, as validation normalises them."""

from __future__ import annotations

import pytest

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.lookup.kinds import known_nouns, object_key, plural, resolve_kind, shown_address

KINDS = {"tenant", "domain", "mailbox", "alias", "site", "ftp_login", "access_account", "dns", "dns_zone"}


@pytest.mark.parametrize(("noun", "kind"), [
    ("mailbox", "mailbox"), ("Mailboxes", "mailbox"), ("aliases", "alias"), ("sites", "site"),
    ("ftp-login", "ftp_login"), ("ftp_logins", "ftp_login"), ("access-accounts", "access_account"), ("dns", "dns"),
    ("dns-zones", "dns_zone"), ("widgets", None), ("mail", None),
])
def test_nouns_singular_or_plural_with_hyphens(noun: str, kind: str | None) -> None:
    assert resolve_kind(noun, KINDS) == kind


def test_plurals_and_the_list_of_nouns() -> None:
    assert [plural(k) for k in ("mailbox", "alias", "site", "dns", "tenant")] == [
        "mailboxes", "aliases", "sites", "dns", "tenants"]
    assert known_nouns({"ftp_login", "alias"}) == "alias, ftp-login"


def test_names_are_normalised_as_the_estate_stores_them() -> None:
    assert object_key("mailbox", " Anna@Bäckerei-Müller.example ") == "anna@xn--bckerei-mller-bfb28a.example"
    assert object_key("domain", "bäckerei-müller.example.") == "xn--bckerei-mller-bfb28a.example"
    assert object_key("tenant", "Acme") == "acme"
    assert object_key("site", "www.bäckerei-müller.example") == "www.xn--bckerei-mller-bfb28a.example"
    assert object_key("access_account", "Dial@Example.net") == "dial@example.net"
    assert object_key("dns", "example.net/www/A") == "example.net/www/A"  # a key that is no name: as typed
    with pytest.raises(IspctlError, match="mailbox 'anna': 'anna' is not an e-mail address"):
        object_key("mailbox", "anna")


def test_addresses_and_domains_shown_in_unicode() -> None:
    assert shown_address("anna@xn--bckerei-mller-bfb28a.example") == "anna@bäckerei-müller.example"
    assert shown_address("xn--bckerei-mller-bfb28a.example") == "bäckerei-müller.example"
    assert shown_address("not a domain") == "not a domain"
