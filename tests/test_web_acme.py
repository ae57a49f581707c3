"""The ACME side against real daemons: the account on pebble, the HTTP pre-check against a web
server, DNS-01 records on named, and the reasons a failed order gives."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from acme import crypto_util
from dns_helpers import query

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.web import acme
from ispctl.providers.web.certs import key_pem, new_private_key
from ispctl.reconciler.harness.daemons import free_port

if TYPE_CHECKING:
    from acme_daemons import AcmeEnv

pytest_plugins = ("acme_daemons",)


def test_the_account_key_is_made_once_and_finds_its_account_again(acme_env: AcmeEnv) -> None:
    pebble = acme_env.pebble()
    path = acme.account_key_file(acme_env.certs_dir, pebble.directory_url)
    assert path == acme_env.certs_dir / ".acme-accounts" / f"127.0.0.1_{pebble.port}" / "account.key"
    key = acme.load_account_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    again = acme.load_account_key(path)
    assert again.thumbprint() == key.thumbprint()
    first = acme.connect(pebble.directory_url, key, ca_file=pebble.ca_file, contact="mailto:hostmaster@example.net",
                         timeout=30)
    second = acme.connect(pebble.directory_url, again, ca_file=pebble.ca_file, contact=None, timeout=30)
    assert first.net.account is not None and second.net.account is not None
    assert second.net.account.uri == first.net.account.uri  # the same account, not a second one


def test_an_unreachable_or_untrusted_ca_is_a_failure_in_words(acme_env: AcmeEnv) -> None:
    pebble = acme_env.pebble()
    key = acme.load_account_key(acme_env.certs_dir / "account.key")
    with pytest.raises(acme.AcmeFailure, match="cannot reach the CA.*(certificate verify failed|CERTIFICATE_VERIFY)"):
        acme.connect(pebble.directory_url, key, ca_file=None, contact=None, timeout=30)
    with pytest.raises(acme.AcmeFailure, match="cannot reach the CA.*(refused|Connection)"):
        acme.connect(f"https://127.0.0.1:{free_port()}/dir", key, ca_file=pebble.ca_file, contact=None, timeout=30)


def test_the_precheck_fetches_a_test_file_with_each_host_header(acme_env: AcmeEnv) -> None:
    acme_env.serve("www.example.net")
    failed = acme.http_precheck(["www.example.net", "blog.example.net"], acme_env.challenge_dir,
                                ("127.0.0.1", acme_env.http_port))
    assert list(failed) == ["blog.example.net"]
    assert "answered 404" in failed["blog.example.net"]
    assert list(acme_env.challenge_dir.iterdir()) == []
    nobody = acme.http_precheck(["www.example.net"], acme_env.challenge_dir, ("127.0.0.1", free_port()))
    assert "did not answer from 127.0.0.1" in nobody["www.example.net"]


def test_dns_challenges_find_the_zone_and_add_and_remove_their_values(acme_env: AcmeEnv) -> None:
    dns01 = acme.DnsChallenges(DnsConnection.from_env(acme_env.named.env()))
    assert dns01.zone_of("example.net") == "example.net"
    assert dns01.zone_of("*.example.net") == "example.net"
    assert dns01.zone_of("a.b.shop.example.net") == "example.net"
    assert dns01.zone_of("example.org") is None
    owner = "_acme-challenge.example.net"
    undo_one = dns01.add("example.net", owner, "first-value")
    undo_two = dns01.add("example.net", owner, "second-value")  # x and *.x share the owner
    assert query(acme_env.named, owner + ".", "TXT")[1] == {'"first-value"', '"second-value"'}
    undo_one()
    assert query(acme_env.named, owner + ".", "TXT")[1] == {'"second-value"'}
    undo_two()
    assert query(acme_env.named, owner + ".", "TXT")[1] == set()


def test_a_refused_update_is_a_failure_naming_record_and_zone(acme_env: AcmeEnv) -> None:
    conn = DnsConnection.from_env(acme_env.named.env())
    wrong = DnsConnection(conn.host, conn.port, conn.tsig_name, "c2VjcmV0c2VjcmV0c2VjcmV0", conn.tsig_algorithm)
    with pytest.raises(acme.AcmeFailure, match="adding TXT _acme-challenge.example.net in zone example.net"):
        acme.DnsChallenges(wrong).add("example.net", "_acme-challenge.example.net", "value")


def _csr(names: list[str]) -> bytes:
    return crypto_util.make_csr(key_pem(new_private_key("ecdsa-p256")), names)


def test_an_order_fails_with_the_ca_s_reason_per_name_and_cleans_up(acme_env: AcmeEnv, tmp_path: Path) -> None:
    acme_env.serve("www.example.net")
    pebble = acme_env.pebble()
    key = acme.load_account_key(acme_env.certs_dir / "account.key")
    client = acme.connect(pebble.directory_url, key, ca_file=pebble.ca_file, contact=None, timeout=30)
    dns01 = acme.DnsChallenges(DnsConnection.from_env(acme_env.named.env()))
    with pytest.raises(acme.AcmeFailure) as failed:
        acme.issue(client, _csr(["www.example.net", "blog.example.net"]), challenge_dir=acme_env.challenge_dir,
                   dns01=dns01, dns_only=False, timeout=30)
    assert str(failed.value).startswith("blog.example.net: http-01: ")
    assert "404" in str(failed.value) and "www.example.net" not in str(failed.value)
    assert list(acme_env.challenge_dir.iterdir()) == []
    with pytest.raises(acme.AcmeFailure, match=r"^\*\.example\.net: DNS-01 needs the DNS server"):
        acme.issue(client, _csr(["*.example.net"]), challenge_dir=acme_env.challenge_dir, dns01=None,
                   dns_only=False, timeout=30)
    with pytest.raises(acme.AcmeFailure, match=r"^example\.org: no zone on the DNS server holds it"):
        acme.issue(client, _csr(["example.org"]), challenge_dir=None, dns01=dns01, dns_only=True, timeout=30)
    chain = acme.issue(client, _csr(["www.example.net"]), challenge_dir=acme_env.challenge_dir, dns01=None,
                       dns_only=False, timeout=30)
    assert chain.count("BEGIN CERTIFICATE") == 2  # the leaf and pebble's intermediate
