"""certs.ensure against a real pebble, a real named (DNS-01, and the names pebble resolves) and a
web server answering HTTP-01: issue, verify against pebble's root, keep, renew, fail safely."""

from __future__ import annotations

import base64
import logging
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from dns_helpers import query
from web_helpers import layout, site

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.web.certs import (
    CertError,
    CertRequest,
    CertStatus,
    acme_settings,
    ensure,
    key_pem,
    new_private_key,
    read_current,
    renewal_due,
    request_for,
)
from ispctl.providers.web.sandbox.pebble import PebbleInstance
from ispctl.providers.web.settings import WebSettings

if TYPE_CHECKING:
    from acme_daemons import AcmeEnv

pytest_plugins = ("acme_daemons",)

DAY = 86400


def request(env: AcmeEnv, site: str, *aliases: str, challenge: str = "http-01") -> CertRequest:
    return CertRequest(site, (site, *aliases), env.certs_dir / site, env.challenge_dir,
                       challenge)  # type: ignore[arg-type]


def chain(status: CertStatus) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(status.fullchain.read_bytes())


def verifies_for(status: CertStatus, pebble: PebbleInstance, name: str) -> bool:
    """A TLS client's check: the chain leads to pebble's root and the leaf is valid for ``name``."""
    root = x509.load_pem_x509_certificate(pebble.root_pem().encode())
    leaf, *intermediates = chain(status)
    verifier = (verification.PolicyBuilder().store(verification.Store([root]))
                .build_server_verifier(x509.DNSName(name)))
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError:
        return False
    return True


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_certificate_for_host_and_alias_verifies_against_pebble_s_root(acme_env: AcmeEnv) -> None:
    acme_env.serve("www.example.net", "example.net")
    pebble = acme_env.pebble()
    status = ensure(request(acme_env, "www.example.net", "example.net"), acme_env.settings(pebble))
    assert (status.action, status.names, status.skipped) == ("issued", ("example.net", "www.example.net"), ())
    assert status.ready
    assert verifies_for(status, pebble, "www.example.net") and verifies_for(status, pebble, "example.net")
    assert not verifies_for(status, pebble, "shop.example.net")
    assert mode(status.privkey) == 0o600 and mode(status.privkey.parent) == 0o700
    account = next(acme_env.certs_dir.glob(".acme-accounts/*/account.key"))
    assert mode(account) == 0o600 and mode(account.parent) == 0o700
    assert list(acme_env.challenge_dir.iterdir()) == []  # tokens and the pre-check's file are gone


def test_apache_serves_the_certificate_and_clients_verify_it_against_pebble_s_root(
        acme_env: AcmeEnv, tmp_path: Path) -> None:
    acme_env.serve("www.example.net", "example.net")
    pebble = acme_env.pebble(validity=10 * DAY)
    site = request(acme_env, "www.example.net", "example.net")
    status = ensure(site, acme_env.settings(pebble))
    acme_env.serve_https(site.names, site.cert_dir)
    root = pebble.write_root(tmp_path / "pebble-root.pem")
    serial = chain(status)[0].serial_number
    assert acme_env.https_serial("www.example.net", root) == serial
    assert acme_env.https_serial("example.net", root) == serial  # the alias
    with pytest.raises(ssl.SSLCertVerificationError):  # a name the certificate does not cover
        acme_env.https_serial("shop.example.net", root)
    with pytest.raises(ssl.SSLCertVerificationError):  # the system's CAs do not know pebble
        acme_env.https_serial("www.example.net", None)
    # A renewal goes live with the next graceful reload.
    renewed = ensure(site, acme_env.settings(pebble, renew_days=30))
    assert renewed.action == "renewed"
    acme_env.apache.graceful()
    assert acme_env.https_serial("www.example.net", root) == chain(renewed)[0].serial_number != serial


def test_a_fresh_certificate_is_kept_and_a_changed_name_set_reissues(acme_env: AcmeEnv) -> None:
    acme_env.serve("www.example.net", "example.net", "blog.example.net")
    settings = acme_env.settings(acme_env.pebble())
    first = ensure(request(acme_env, "www.example.net"), settings)
    inode, serial = first.fullchain.stat().st_ino, chain(first)[0].serial_number
    again = ensure(request(acme_env, "www.example.net"), settings)
    assert again.action == "kept" and again.names == ("www.example.net",)
    assert (again.fullchain.stat().st_ino, chain(again)[0].serial_number) == (inode, serial)
    more = ensure(request(acme_env, "www.example.net", "blog.example.net"), settings)
    assert (more.action, more.names) == ("renewed", ("blog.example.net", "www.example.net"))
    assert chain(more)[0].serial_number != serial


def test_renewal_within_the_window_replaces_certificate_and_key(acme_env: AcmeEnv) -> None:
    acme_env.serve("shop.example.net")
    pebble = acme_env.pebble(validity=10 * DAY)  # short-lived, as pebble can issue them
    site = request(acme_env, "shop.example.net")
    assert renewal_due(site, 5) == f"no certificate in {site.cert_dir}"
    first = ensure(site, acme_env.settings(pebble, renew_days=5))
    assert renewal_due(site, 5) is None
    assert "within 30 days" in str(renewal_due(site, 30))
    old_key, old_serial = first.privkey.read_bytes(), chain(first)[0].serial_number
    assert ensure(site, acme_env.settings(pebble, renew_days=5)).action == "kept"  # 10 days left > 5
    renewed = ensure(site, acme_env.settings(pebble, renew_days=30))  # 10 days left < 30
    assert renewed.action == "renewed"
    assert chain(renewed)[0].serial_number != old_serial
    assert renewed.privkey.read_bytes() != old_key  # a new key with every certificate
    assert mode(renewed.privkey) == 0o600
    current = read_current(acme_env.certs_dir / "shop.example.net")
    assert current is not None and current.key_matches
    assert verifies_for(renewed, pebble, "shop.example.net")
    leftovers = [p.name for p in renewed.privkey.parent.iterdir()]
    assert sorted(leftovers) == ["fullchain.pem", "privkey.pem"]  # no staged files left behind


def test_a_key_that_does_not_match_its_certificate_is_replaced_with_both(acme_env: AcmeEnv) -> None:
    acme_env.serve("www.example.net")
    settings = acme_env.settings(acme_env.pebble())
    site = request(acme_env, "www.example.net")
    first = ensure(site, settings)
    serial = chain(first)[0].serial_number
    first.privkey.write_bytes(key_pem(new_private_key("ecdsa-p256")))  # e.g. a half-restored backup
    assert renewal_due(site, 30) == "privkey.pem is not the certificate's key"
    repaired = ensure(site, settings)
    assert repaired.action == "renewed" and renewal_due(site, 30) is None
    assert chain(repaired)[0].serial_number != serial


def test_a_wildcard_comes_through_dns_01_and_its_records_are_removed(acme_env: AcmeEnv) -> None:
    pebble = acme_env.pebble()
    status = ensure(request(acme_env, "example.net", "*.example.net", challenge="dns-01"),
                    acme_env.settings(pebble))
    assert status.names == ("*.example.net", "example.net")
    assert verifies_for(status, pebble, "anything.example.net") and verifies_for(status, pebble, "example.net")
    assert not verifies_for(status, pebble, "a.b.example.net")
    assert query(acme_env.named, "_acme-challenge.example.net.", "TXT")[1] == set()
    assert list(acme_env.challenge_dir.iterdir()) == []  # no HTTP involved


def test_a_wildcard_without_a_dns_server_is_left_out(acme_env: AcmeEnv) -> None:
    acme_env.serve("www.example.net")
    status = ensure(request(acme_env, "www.example.net", "*.example.net"),
                    acme_env.settings(acme_env.pebble(), dns=None))
    assert status.names == ("www.example.net",)
    assert status.skipped == ("*.example.net",)


def test_a_name_that_does_not_answer_is_left_out_before_the_ca_is_asked(acme_env: AcmeEnv) -> None:
    acme_env.serve("www.example.net")
    pebble = acme_env.pebble()
    status = ensure(request(acme_env, "www.example.net", "blog.example.net"), acme_env.settings(pebble))
    assert (status.names, status.skipped) == (("www.example.net",), ("blog.example.net",))
    # pebble only ever heard of the name that answered.
    assert "blog.example.net" not in pebble.log_file.read_text()
    again = ensure(request(acme_env, "www.example.net", "blog.example.net"), acme_env.settings(pebble))
    assert again.action == "kept" and again.skipped == ("blog.example.net",)


def test_a_failing_challenge_keeps_the_old_certificate_and_names_the_site(acme_env: AcmeEnv) -> None:
    acme_env.serve("www.example.net", "elsewhere.example.net")
    settings = acme_env.settings(acme_env.pebble())
    site = request(acme_env, "www.example.net")
    first = ensure(site, settings)
    before = (first.fullchain.read_bytes(), first.privkey.read_bytes())
    # elsewhere.example.net passes the local pre-check, but its A record sends pebble elsewhere.
    with pytest.raises(CertError) as failed:
        ensure(request(acme_env, "www.example.net", "elsewhere.example.net"), settings)
    message = str(failed.value)
    assert message.startswith("site www.example.net: no certificate issued")
    assert "elsewhere.example.net: http-01" in message
    assert (first.fullchain.read_bytes(), first.privkey.read_bytes()) == before
    assert list(acme_env.challenge_dir.iterdir()) == []
    # The site's own name stops answering: an error for the site, nothing sent to the CA.
    acme_env.serve()
    with pytest.raises(CertError, match=r"^site www\.example\.net: no certificate issued \(www\.example\.net: .*404"):
        ensure(request(acme_env, "www.example.net", "example.net"), settings)
    assert (first.fullchain.read_bytes(), first.privkey.read_bytes()) == before


def test_an_unreachable_ca_is_an_error_for_the_site(acme_env: AcmeEnv, tmp_path: Path) -> None:
    acme_env.serve("www.example.net")
    pebble = acme_env.pebble()
    # The ACME server's TLS is checked: without pebble's CA file it is refused.
    with pytest.raises(CertError, match=r"^site www\.example\.net: no certificate issued: cannot reach the CA"):
        ensure(request(acme_env, "www.example.net"), acme_env.settings(pebble, ca_file=None))
    assert not (acme_env.certs_dir / "www.example.net" / "fullchain.pem").exists()


def test_the_private_key_never_appears_in_output_or_logs(acme_env: AcmeEnv, caplog: pytest.LogCaptureFixture,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    acme_env.serve("www.example.net", "elsewhere.example.net")
    pebble = acme_env.pebble()
    caplog.set_level(logging.DEBUG)  # the acme library logs every request and response at DEBUG
    status = ensure(request(acme_env, "www.example.net"), acme_env.settings(pebble))
    with pytest.raises(CertError) as failed:
        ensure(request(acme_env, "www.example.net", "elsewhere.example.net"), acme_env.settings(pebble))
    out, err = capfd.readouterr()
    seen = caplog.text + out + err + str(failed.value) + repr(status) + pebble.log_file.read_text()
    assert "Sending POST request" in caplog.text  # the logs were really captured
    assert "PRIVATE KEY" not in seen
    account = next(acme_env.certs_dir.glob(".acme-accounts/*/account.key"))
    for path in (status.privkey, account):
        for form in secret_forms(path):
            assert form not in seen, f"{path.name} leaked"
    assert os.stat(status.privkey).st_mode & 0o077 == 0


def secret_forms(path: Path) -> list[str]:
    """Ways the secret part of an EC key could be written: its PEM lines holding the private
    scalar (the rest of a PKCS#8 PEM is the public key, which the certificate rightly shows),
    the scalar in hex and in base64/base64url at each alignment."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    lines = path.read_text().splitlines()[1:3]
    forms = [*lines, scalar.hex(), scalar.hex().upper()]
    for shift in range(3):
        encoded = base64.b64encode(scalar[shift:]).decode()[4:-4]
        forms += [encoded, encoded.replace("+", "-").replace("/", "_")]
    return forms


def test_settings_and_request_come_from_the_web_settings_and_the_site(tmp_path: Path, named: NamedInstance) -> None:
    web = WebSettings(certs_dir="/etc/ispctl/certs", http_port=8080, probe_address="127.0.0.1",
                      acme_directory="https://127.0.0.1:14000/dir", acme_ca_bundle="/etc/ispctl/pebble.pem",
                      acme_contact="mailto:hostmaster@example.net", acme_renew_days=20)
    settings = acme_settings(web, named.env())
    assert (settings.directory_url, settings.account_dir, settings.http_address, settings.ca_file) == (
        "https://127.0.0.1:14000/dir", Path("/etc/ispctl/certs"), ("127.0.0.1", 8080), Path("/etc/ispctl/pebble.pem"))
    assert (settings.contact, settings.renew_days) == ("mailto:hostmaster@example.net", 20)
    assert settings.dns is not None and settings.dns.port == named.port
    assert acme_settings(web, {}).dns is None  # no DNS server configured: no DNS-01
    lay = layout(tmp_path)
    req = request_for(site(lay, "www.example.net", aliases=("example.net", "web.example.net")),
                      lay.certs_dir, lay.challenge_dir, "dns-01")
    assert req == CertRequest("www.example.net", ("www.example.net", "example.net", "web.example.net"),
                              Path(lay.certs_dir) / "www.example.net", Path(lay.challenge_dir), "dns-01")
    assert request_for(site(lay, "shop.example.net"), lay.certs_dir, lay.challenge_dir).names == ("shop.example.net",)
