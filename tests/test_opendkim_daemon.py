"""Mail submitted through a real Postfix leaves signed by the real OpenDKIM, and verifies (dkimpy)
against the record the real named serves after the DNS provider applied the estate's zones."""

from __future__ import annotations

import email
import smtplib
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import dkim
import dns.resolver
import pytest
from dns_helpers import converge, provider_for
from estate_builder import SITE, EstateBuilder, mailbox

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.dkim import create_key, served_key, start_rotation
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.opendkim.render import SigningKey, signing_keys
from ispctl.providers.opendkim.sandbox.daemon import OpenDkimInstance
from ispctl.providers.opendkim.sandbox.postfix import PostfixInstance, SmtpSinkInstance

DOMAINS = ("acme.example", "beta.example")


@pytest.fixture
def estate(tmp_path: Path) -> tuple[EstateBuilder, Path]:
    keys = tmp_path / "keys"
    dns_site: dict[str, Any] = {"ns": ["ns1.example.net."], "mail": {"mx": ["10 mx1.example.net."]},
                                "dkim": {"selector": "s1", "key_dir": str(keys), "bits": 1024}}
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns_site})
    builder.tenant("acme")
    for name in DOMAINS:
        builder.domain("acme", name, {"mailboxes": {"anna": mailbox()}})
        create_key(keys, name, "s1", 1024)
    return builder, keys


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSinkInstance]:
    instance = SmtpSinkInstance(tmp_path / "sink")
    instance.start()
    yield instance
    instance.stop()


def publish(builder: EstateBuilder, named: NamedInstance) -> None:
    """The DNS provider applies the estate's zones to named (as 'ispctl apply' does)."""
    desired = [replace(r, depends_on=()) for (kind, _), r in builder.resources().items() if kind in ("dns_zone", "dns")]
    converge(provider_for(named), desired)


def served_by(named: NamedInstance) -> Any:
    conn = DnsConnection.from_env(named.env())
    return lambda domain, selector: served_key(conn, domain, selector)


def resolver_of(named: NamedInstance) -> Any:
    """dkimpy's DNS lookup, answered by named (never by a table of the test's own)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], named.port

    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(b"".join(r.strings) for r in answer)
    return txt


def submit_and_receive(postfix: PostfixInstance, sink: SmtpSinkInstance, sender: str) -> bytes:
    """Submit one message and return it as the sink wrote it, once complete.

    smtp-sink creates its file when the message starts and writes it as it arrives: a file just
    seen may still be empty (read so, a signed message looked unsigned now and then). The body
    comes last and names this message, so the file is complete once it holds the body."""
    before = set(sink.mail_dir.iterdir()) if sink.mail_dir.exists() else set()
    marker = f"Hello from {sender} #{uuid.uuid4().hex}.".encode()
    body = f"From: {sender}\r\nTo: bob@remote.test\r\nSubject: signed?\r\n\r\n".encode() + marker + b"\r\n"
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.sendmail(sender, ["bob@remote.test"], body)
    for _ in range(300):  # Postfix relays at once; wait for the sink's file, not a fixed time
        for path in set(sink.mail_dir.iterdir()) - before if sink.mail_dir.exists() else ():
            data = path.read_bytes()
            if marker + b"\n" in data or marker + b"\r\n" in data:  # its last line, ended
                return data
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived at the sink; Postfix's log:\n{postfix.maillog.read_text()}")


def signature_tags(message: bytes, required: bool = True) -> dict[str, str]:
    header = email.message_from_bytes(message)["DKIM-Signature"]
    if header is None and not required:
        return {}
    assert header is not None, message.decode()
    return {k.strip(): "".join(v.split()) for k, _, v in (t.partition("=") for t in header.split(";")) if k.strip()}


def test_mail_through_postfix_leaves_signed_and_verifies_against_named(
        tmp_path: Path, named: NamedInstance, sink: SmtpSinkInstance, estate: tuple[EstateBuilder, Path]) -> None:
    builder, keys = estate
    publish(builder, named)
    signer = OpenDkimInstance(tmp_path / "opendkim", keys, signing_keys(keys, DOMAINS, served_by(named)))
    signer.start()
    postfix = PostfixInstance(tmp_path / "postfix", milters=signer.milter, relayhost=f"[127.0.0.1]:{sink.port}")
    try:
        postfix.start()
        for domain in DOMAINS:
            message = submit_and_receive(postfix, sink, f"anna@{domain}")
            tags = signature_tags(message)
            assert (tags["d"], tags["s"]) == (domain, "s1")
            assert dkim.verify(message, dnsfunc=resolver_of(named))
            tampered = message.replace(b"Hello from", b"Hello, from")
            assert not dkim.verify(tampered, dnsfunc=resolver_of(named))
        unsigned = submit_and_receive(postfix, sink, "someone@elsewhere.test")
        assert email.message_from_bytes(unsigned)["DKIM-Signature"] is None  # not a domain of ours
    finally:
        postfix.stop()
        signer.stop()


def test_a_rotation_signs_with_the_new_key_only_once_named_serves_it(
        tmp_path: Path, named: NamedInstance, sink: SmtpSinkInstance, estate: tuple[EstateBuilder, Path]) -> None:
    builder, keys = estate
    publish(builder, named)
    assert start_rotation(keys, "acme.example", 1024) == "s2"
    # Step 1 done, not applied yet: the new record is not served, the old key keeps signing.
    assert signing_keys(keys, ["acme.example"], served_by(named)) == [SigningKey("acme.example", "s1", ("s1", "s2"))]
    publish(builder, named)
    chosen = signing_keys(keys, ["acme.example"], served_by(named))
    assert chosen == [SigningKey("acme.example", "s2", ("s1", "s2"))]
    signer = OpenDkimInstance(tmp_path / "opendkim", keys, chosen)
    signer.start()
    postfix = PostfixInstance(tmp_path / "postfix", milters=signer.milter, relayhost=f"[127.0.0.1]:{sink.port}")
    try:
        postfix.start()
        message = submit_and_receive(postfix, sink, "anna@acme.example")
        assert signature_tags(message)["s"] == "s2"
        assert dkim.verify(message, dnsfunc=resolver_of(named))
    finally:
        postfix.stop()
        signer.stop()
