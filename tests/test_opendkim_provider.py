"""A DKIM key rotation as planned changes, against a real named, OpenDKIM and Postfix.

The estate is planned and applied through a session with the DNS provider (named) and the
OpenDKIM provider (the running instance's tables, reloaded by its pidfile), as ``ispctl apply``
on a mail host that also reaches the DNS server does. Mail is submitted through Postfix, signed
by OpenDKIM, and verified by dkimpy against what named serves.
"""

from __future__ import annotations

import difflib
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dkim
import pytest
from estate_builder import SITE, EstateBuilder, mailbox
from test_opendkim_daemon import resolver_of, signature_tags, submit_and_receive

from ispctl.providers.dns.dkim import create_key, retire_keys, start_rotation
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.opendkim.provider import SigningProvider
from ispctl.providers.opendkim.sandbox.daemon import OpenDkimInstance
from ispctl.providers.opendkim.sandbox.postfix import PostfixInstance, SmtpSinkInstance
from ispctl.providers.opendkim.tables import KEY_TABLE, SIGNING_TABLE, Entry, entry_of, format_tables, read_tables
from ispctl.reconciler.contract import ProviderError, write_rendered
from ispctl.reconciler.engine.apply import ApplyResult
from ispctl.reconciler.engine.plan import Plan
from tests.wiring import open_session

DOMAIN = "acme.example"
TXT = "dns.acme.example/{}._domainkey/TXT"
SIGNING = "signing.acme.example"


class Mail:
    """The running OpenDKIM (empty tables, as the sandbox starts it), Postfix and the sink."""

    def __init__(self, tmp_path: Path, keys: Path) -> None:
        self.sink = SmtpSinkInstance(tmp_path / "sink")
        self.signer = OpenDkimInstance(tmp_path / "opendkim", keys)
        self.postfix = PostfixInstance(tmp_path / "postfix", milters=self.signer.milter,
                                       relayhost=f"[127.0.0.1]:{self.sink.port}")

    def env(self) -> dict[str, str]:
        return {"ISPCTL_OPENDKIM_DIR": str(self.signer.workdir), "ISPCTL_OPENDKIM_PIDFILE": str(self.signer.pidfile)}

    def selector(self, named: NamedInstance) -> str | None:
        """The selector of a message submitted now (None: unsigned); a signed one must verify."""
        message = submit_and_receive(self.postfix, self.sink, f"anna@{DOMAIN}")
        tags = signature_tags(message, required=False)
        if tags:
            assert tags["d"] == DOMAIN and dkim.verify(message, dnsfunc=resolver_of(named)), message.decode()
        return tags.get("s")

    def after_reload(self, named: NamedInstance, expected: str) -> list[str | None]:
        """Selectors of messages sent until one is signed with ``expected``, then one more.

        OpenDKIM takes SIGUSR1 in a thread of its own and loads the tables at the next
        connection: the first message may, rarely, still meet the old tables."""
        seen = [self.selector(named)]
        while seen[-1] != expected and len(seen) < 20:
            seen.append(self.selector(named))
        seen.append(self.selector(named))
        return seen


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[EstateBuilder, Path]:
    monkeypatch.delenv("ISPCTL_DKIM_DIR", raising=False)
    keys = tmp_path / "keys"
    dns_site: dict[str, Any] = {"ns": ["ns1.example.net."], "mail": {"mx": ["10 mx1.example.net."]},
                                "dkim": {"selector": "s1", "key_dir": str(keys), "bits": 1024, "grace_days": 0}}
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns_site})
    builder.tenant("acme")
    builder.domain("acme", DOMAIN, {"mailboxes": {"anna": mailbox()}})
    create_key(keys, DOMAIN, "s1", 1024)
    return builder, keys


@pytest.fixture
def mail(tmp_path: Path, estate: tuple[EstateBuilder, Path]) -> Iterator[Mail]:
    running = Mail(tmp_path, estate[1])
    started: list[Any] = []
    try:
        for instance in (running.sink, running.signer, running.postfix):
            instance.start()
            started.append(instance)
        yield running
    finally:
        for instance in reversed(started):
            instance.stop()


def plan_and_apply(root: Path, env: dict[str, str]) -> tuple[Plan, ApplyResult]:
    with open_session(root, env) as session:
        plan = session.plan()
        return plan, session.apply(plan)


def steps(plan: Plan) -> list[tuple[str, str]]:
    return [(c.action, c.address) for c in plan.changes if c.kind != "dns" or "_domainkey" in c.key]


def order(result: ApplyResult) -> list[str]:
    return [o.change.address for o in result.outcomes if "_domainkey" in o.change.address or
            o.change.kind == "signing"]


def test_a_rotation_is_three_planned_steps_and_mail_is_signed_with_the_served_key_throughout(
        named: NamedInstance, mail: Mail, estate: tuple[EstateBuilder, Path]) -> None:
    builder, keys = estate
    env = {**named.env(), **mail.env(), "ISPCTL_PROVIDERS": "dns,opendkim"}
    assert mail.selector(named) is None  # empty tables: nothing signs yet

    first, result = plan_and_apply(builder.root, env)
    assert ("create", SIGNING) in steps(first) and ("create", TXT.format("s1")) in steps(first)
    assert result.ok, result.failed
    assert order(result) == [TXT.format("s1"), SIGNING]  # the record exists before anything signs with it
    assert mail.after_reload(named, "s1")[-2:] == ["s1", "s1"]

    # Step 1 and 2: the new key's record is created, then signing switches to it (after it, in one apply).
    assert start_rotation(keys, DOMAIN, 1024) == "s2"
    assert mail.selector(named) == "s1"  # made, not planned: nothing changed yet
    rotate, result = plan_and_apply(builder.root, env)
    assert steps(rotate) == [("create", TXT.format("s2")), ("update", SIGNING)]  # as the plan lists them
    switch = next(c for c in rotate.changes if c.address == SIGNING)
    assert {a.name: (a.before, a.after) for a in switch.attrs}["selector"] == ("s1", "s2")
    assert result.ok, result.failed
    assert order(result) == [TXT.format("s2"), SIGNING]
    seen = mail.after_reload(named, "s2")
    assert set(seen) <= {"s1", "s2"} and seen[-2:] == ["s2", "s2"], seen  # verified against named each time

    # Step 3: after the grace period the old key is retired; its record goes in the next plan, alone.
    assert retire_keys(keys, DOMAIN, True, timedelta(days=0)) == ["s1"]
    retire, result = plan_and_apply(builder.root, env)
    assert steps(retire) == [("delete", TXT.format("s1"))]
    assert result.ok, result.failed
    assert mail.selector(named) == "s2"
    last, _ = plan_and_apply(builder.root, env)
    assert last.empty


def test_signing_never_switches_to_a_record_named_does_not_serve(
        named: NamedInstance, mail: Mail, estate: tuple[EstateBuilder, Path]) -> None:
    builder, keys = estate
    both = {**named.env(), **mail.env(), "ISPCTL_PROVIDERS": "dns,opendkim"}
    assert plan_and_apply(builder.root, both)[1].ok
    start_rotation(keys, DOMAIN, 1024)
    tables = {name: (mail.signer.workdir / name).read_text() for name in (KEY_TABLE, SIGNING_TABLE)}
    # The mail host applies before the DNS host published s2: the switch is planned, and refused.
    mail_host = {**named.env(), **mail.env(), "ISPCTL_PROVIDERS": "opendkim"}
    plan, result = plan_and_apply(builder.root, mail_host)
    assert steps(plan) == [("update", SIGNING)]
    assert [(o.change.address, o.status) for o in result.outcomes] == [(SIGNING, "failed")]
    assert "serves no record at s2._domainkey.acme.example" in (result.outcomes[0].error or "")
    assert {name: (mail.signer.workdir / name).read_text() for name in tables} == tables
    assert mail.selector(named) == "s1"
    # Without a DNS server to ask, no switch either.
    no_dns = {**mail.env(), "ISPCTL_PROVIDERS": "opendkim"}
    _, result = plan_and_apply(builder.root, no_dns)
    assert "set ISPCTL_DNS_SERVER" in (result.outcomes[0].error or "")
    assert [e.selector for e in read_tables(mail.signer.workdir)] == ["s1"]


def test_the_old_record_is_deleted_only_after_signing_left_it(
        named: NamedInstance, mail: Mail, estate: tuple[EstateBuilder, Path]) -> None:
    builder, keys = estate
    both = {**named.env(), **mail.env(), "ISPCTL_PROVIDERS": "dns,opendkim"}
    assert plan_and_apply(builder.root, both)[1].ok
    start_rotation(keys, DOMAIN, 1024)
    # The DNS host publishes s2 alone; then s1's public half is taken away by hand before the
    # mail host switched ('ispctl dkim retire' refuses that: test_opendkim_commands).
    assert plan_and_apply(builder.root, {**named.env(), "ISPCTL_PROVIDERS": "dns"})[1].ok
    (keys / DOMAIN / "s1.pub").rename(keys / "s1.pub.by-hand")
    assert mail.selector(named) == "s1"
    plan, result = plan_and_apply(builder.root, both)
    assert steps(plan) == [("delete", TXT.format("s1")), ("update", SIGNING)]
    assert result.ok, result.failed
    assert order(result) == [SIGNING, TXT.format("s1")]
    assert mail.after_reload(named, "s2")[-2:] == ["s2", "s2"]


def test_a_plan_narrowed_to_the_tenant_holds_its_domain_s_switch(
        named: NamedInstance, mail: Mail, estate: tuple[EstateBuilder, Path]) -> None:
    builder, keys = estate
    builder.tenant("other")
    builder.domain("other", "other.example", {"mailboxes": {"otto": mailbox()}})
    create_key(keys, "other.example", "s1", 1024)
    env = {**named.env(), **mail.env(), "ISPCTL_PROVIDERS": "dns,opendkim"}
    assert plan_and_apply(builder.root, env)[1].ok
    start_rotation(keys, DOMAIN, 1024)
    with open_session(builder.root, env) as session:
        full = steps(session.plan())
        assert steps(session.plan(anchors=frozenset({"tenant.acme"}))) == full == [
            ("create", TXT.format("s2")), ("update", SIGNING)]
        assert steps(session.plan(anchors=frozenset({"tenant.other"}))) == []


@pytest.mark.parametrize("change", ["create", "update", "delete"])
def test_each_change_shows_the_lines_of_the_tables_it_replaces(tmp_path: Path, change: str) -> None:
    def entry(domain: str, selector: str) -> Entry:
        return entry_of(Entry(domain, selector, f"/k/{domain}/{selector}.private").resource())

    hand_made = Entry("beta.example", "s3", "/k/beta.example/s3.private")  # no fingerprint comment: one line
    live = [entry("acme.example", "s1"), hand_made, entry("gamma.example", "s1")]
    write_rendered(format_tables(live), tmp_path)
    provider = SigningProvider(tmp_path, tmp_path / "pid", None)
    read = {key: r for (_, key), r in provider.read().items()}
    before, after = {"create": (None, entry("delta.example", "s1").resource()),
                     "update": (read["beta.example"], entry("beta.example", "s4").resource()),
                     "delete": (read["gamma.example"], None)}[change]
    wanted = {e.domain: e for e in live}
    if after is None:
        del wanted["gamma.example"]
    else:
        wanted[after.key] = entry_of(after)
    old, new = format_tables(live), format_tables(wanted.values())
    expected = [line for name in (KEY_TABLE, SIGNING_TABLE) for line in difflib.unified_diff(
        old[name].splitlines(), new[name].splitlines(), str(tmp_path / name), str(tmp_path / name), n=0, lineterm="")]
    assert list(provider.describe(before, after)) == expected


def test_a_stale_pidfile_naming_another_process_is_never_signalled(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "30"])  # SIGUSR1 would end it
    try:
        (tmp_path / "opendkim.pid").write_text(f"{other.pid}\n")
        SigningProvider(tmp_path, tmp_path / "opendkim.pid", None).reload()
        SigningProvider(tmp_path, tmp_path / "missing.pid", None).reload()  # not running: nothing to tell
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
    (tmp_path / "bad.pid").write_text("not a pid\n")
    with pytest.raises(ProviderError, match="the tables are written, but OpenDKIM's pidfile .* cannot be read"):
        SigningProvider(tmp_path, tmp_path / "bad.pid", None).reload()
