"""DKIM keys: made only by explicit commands, private halves 0600 and never in a plan."""

from __future__ import annotations

import base64
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from dns_helpers import converge, plan_for, provider_for, query
from estate_builder import SITE, EstateBuilder, mailbox
from typer.testing import CliRunner, Result

from ispctl.providers.dns.dkim import (
    DkimError,
    create_key,
    current_selectors,
    key_dir,
    next_selector,
    private_path,
    public_path,
    read_public,
    retire_keys,
    selector_order,
    start_rotation,
    txt_value,
)
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.reconciler.cli.app import app
from ispctl.reconciler.engine.diff import compute_plan
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.views.text import plan_json

NO_OVERRIDE = {"ISPCTL_DKIM_DIR": None, "ISPCTL_OPENDKIM_DIR": None}  # key dir from their ispctl.yaml; no tables


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_key_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    assert create_key(tmp_path, "acme.example", "s1", 1024) == "created"
    private, public = private_path(tmp_path, "acme.example", "s1"), public_path(tmp_path, "acme.example", "s1")
    assert (mode(private), mode(public), mode(private.parent)) == (0o600, 0o644, 0o750)
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert read_public(tmp_path, "acme.example", "s1") == base64.b64encode(der).decode()
    assert sorted(p.name for p in private.parent.iterdir()) == ["s1.private", "s1.pub"]  # no temp files left


def test_an_existing_key_is_never_replaced_by_create(tmp_path: Path) -> None:
    create_key(tmp_path, "acme.example", "s1", 1024)
    private = private_path(tmp_path, "acme.example", "s1")
    before = private.read_bytes()
    assert create_key(tmp_path, "acme.example", "s1", 1024) == "exists"
    assert private.read_bytes() == before


def test_a_lost_public_half_is_restored_from_the_private_key(tmp_path: Path) -> None:
    create_key(tmp_path, "acme.example", "s1", 1024)
    public = public_path(tmp_path, "acme.example", "s1")
    original = public.read_bytes()
    public.unlink()
    assert read_public(tmp_path, "acme.example", "s1") is None
    assert create_key(tmp_path, "acme.example", "s1", 1024) == "restored"
    assert public.read_bytes() == original


def test_a_public_key_without_its_private_key_is_not_paired_with_a_new_one(tmp_path: Path) -> None:
    public = public_path(tmp_path, "acme.example", "s1")
    public.parent.mkdir(parents=True)
    public.write_text("stale")
    with pytest.raises(DkimError, match="exists without its private key s1.private; move it away"):
        create_key(tmp_path, "acme.example", "s1", 1024)


def test_a_damaged_public_key_is_reported(tmp_path: Path) -> None:
    public = public_path(tmp_path, "acme.example", "s1")
    public.parent.mkdir(parents=True)
    public.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    with pytest.raises(DkimError, match="is not a PEM public key"):
        read_public(tmp_path, "acme.example", "s1")


def test_selectors_rotate_by_their_trailing_number() -> None:
    assert next_selector(["s1"]) == "s2" and next_selector(["ispctl9", "ispctl10"]) == "ispctl11"
    assert next_selector(["default"]) == "default2"
    assert sorted(["s10", "s2", "s1"], key=selector_order) == ["s1", "s2", "s10"]


def test_a_rotation_adds_a_key_beside_the_old_one_and_retires_it_only_when_allowed(tmp_path: Path) -> None:
    create_key(tmp_path, "acme.example", "s1", 1024)
    old_private = private_path(tmp_path, "acme.example", "s1").read_bytes()
    assert start_rotation(tmp_path, "acme.example", 1024) == "s2"
    assert current_selectors(tmp_path, "acme.example") == ["s1", "s2"]
    assert private_path(tmp_path, "acme.example", "s1").read_bytes() == old_private  # nothing replaced
    with pytest.raises(DkimError, match="already rotating .s1, s2.; finish with 'ispctl dkim retire"):
        start_rotation(tmp_path, "acme.example", 1024)
    with pytest.raises(DkimError, match="s2._domainkey.acme.example is not served by the DNS server yet"):
        retire_keys(tmp_path, "acme.example", False, timedelta(0))
    made = datetime.fromtimestamp(public_path(tmp_path, "acme.example", "s2").stat().st_mtime, UTC)
    with pytest.raises(DkimError, match="grace period .dns.dkim.grace_days. ends at"):
        retire_keys(tmp_path, "acme.example", True, timedelta(days=7), now=made + timedelta(days=6))
    assert retire_keys(tmp_path, "acme.example", True, timedelta(days=7), now=made + timedelta(days=7)) == ["s1"]
    assert current_selectors(tmp_path, "acme.example") == ["s2"]
    stamp = (made + timedelta(days=7)).strftime("%Y%m%dT%H%M%SZ")
    retired = private_path(tmp_path, "acme.example", "s1").with_name(f"s1.private.retired-{stamp}")
    assert retired.read_bytes() == old_private and mode(retired) == 0o600


def test_rotate_needs_an_existing_key(tmp_path: Path) -> None:
    with pytest.raises(DkimError, match="acme.example has no DKIM key in .*'ispctl dkim init'"):
        start_rotation(tmp_path, "acme.example", 1024)


def test_rotate_needs_the_private_key_of_the_mail_host(tmp_path: Path) -> None:
    create_key(tmp_path, "acme.example", "s1", 1024)
    private_path(tmp_path, "acme.example", "s1").unlink()
    with pytest.raises(DkimError, match="s1.private is not here: rotate on the mail host"):
        start_rotation(tmp_path, "acme.example", 1024)


def test_the_environment_overrides_the_key_dir() -> None:
    assert key_dir("/etc/ispctl/dkim", {}) == Path("/etc/ispctl/dkim")
    assert key_dir("/etc/ispctl/dkim", {"ISPCTL_DKIM_DIR": "/srv/keys"}) == Path("/srv/keys")
    assert key_dir("/etc/ispctl/dkim", {"ISPCTL_DKIM_DIR": " "}) == Path("/etc/ispctl/dkim")


# --- the estate and the commands ----------------------------------------------------------

def dkim_estate(tmp_path: Path, bits: int = 1024, grace_days: int = 7) -> tuple[EstateBuilder, Path]:
    keys = tmp_path / "keys"
    dns: dict[str, Any] = {"ns": ["ns1.example.net."], "mail": {"mx": ["10 mx1.example.net."]},
                           "dkim": {"selector": "s1", "key_dir": str(keys), "bits": bits, "grace_days": grace_days}}
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": dns})
    builder.tenant("acme")
    builder.domain("acme", "acme.example", {"mailboxes": {"anna": mailbox()}})
    builder.domain("acme", "acme-alias.example", {"type": "alias", "alias_of": "acme.example"})
    builder.domain("acme", "web.example", {"services": ["web", "dns"]})
    builder.domain("acme", "elsewhere.example", {"type": "nodns", "mailboxes": {"bob": mailbox()}})
    builder.domain("acme", "own.example", {"dns": {"records": {"s1._domainkey": {"TXT": "v=DKIM1; p=MIIB"}}}})
    return builder, keys


def cli(builder: EstateBuilder, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["--no-color", *args, "--dir", str(builder.root)], input=input, env=NO_OVERRIDE)


def test_init_creates_keys_only_for_primary_mail_domains_with_dns(tmp_path: Path) -> None:
    builder, keys = dkim_estate(tmp_path)
    assert [p.location.file for p in builder.problems()] == ["desired-state/tenants/acme/acme.example.yaml"]
    done = cli(builder, "dkim", "init")
    assert done.exit_code == 0, done.output
    assert f"acme.example: created DKIM key s1 in {keys}/acme.example" in done.stdout
    assert sorted(p.name for p in keys.iterdir()) == ["acme.example"]
    again = cli(builder, "dkim", "init")
    assert again.exit_code == 0 and "created" not in again.stdout
    txt = builder.resources()[("dns", "acme.example/s1._domainkey/TXT")]
    public = read_public(keys, "acme.example", "s1")
    assert public is not None and txt.attrs["records"] == (f'"{txt_value(public)}"',)


def test_a_2048_bit_key_is_published_in_255_byte_strings_and_its_private_half_never_in_a_plan(tmp_path: Path) -> None:
    builder, keys = dkim_estate(tmp_path, bits=2048)
    assert cli(builder, "dkim", "init", "--domain", "ACME.example").exit_code == 0
    desired = builder.resources()
    record = desired[("dns", "acme.example/s1._domainkey/TXT")].attrs["records"]
    assert isinstance(record, tuple) and len(record) == 1
    strings = record[0][1:-1].split('" "')
    assert [len(s) for s in strings] == [255, len(txt_value(read_public(keys, "acme.example", "s1") or "")) - 255]
    text = plan_json(compute_plan(desired, {}))
    private = private_path(keys, "acme.example", "s1").read_text()
    body = "".join(private.splitlines()[1:-1])
    assert strings[0] in text
    assert not any(line in text for line in private.splitlines()[1:-1]) and body not in text
    assert "PRIVATE" not in text


def test_init_for_a_domain_that_gets_no_key_is_refused(tmp_path: Path) -> None:
    builder, keys = dkim_estate(tmp_path)
    for domain in ("acme-alias.example", "web.example", "elsewhere.example", "own.example", "nowhere.example"):
        done = cli(builder, "dkim", "init", "--domain", domain)
        assert done.exit_code == 1
        assert f"Error: {domain} gets no DKIM key" in done.stderr
    assert not keys.exists()


def test_init_refuses_while_the_estate_has_other_problems(tmp_path: Path) -> None:
    builder, keys = dkim_estate(tmp_path)
    builder.domain("acme", "broken.example", {"dns": {"records": {"@": {"CNAME": "x.example."}}}})
    done = cli(builder, "dkim", "init")
    assert done.exit_code == 1
    assert "dns.records['@'].CNAME: a CNAME cannot be at the zone apex" in done.stderr
    assert "no DKIM key" not in done.stderr  # the problem init would fix is not listed
    assert not keys.exists()


def test_init_without_dkim_settings_says_how_to_enable_it(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": {"ns": ["ns1.example.net."]}})
    done = cli(builder, "dkim", "init")
    assert done.exit_code == 1
    assert "DKIM is not enabled: add dns.dkim (selector, key_dir, bits) to ispctl.yaml" in done.stderr


def test_a_plan_runner_with_only_the_public_keys_validates_and_plans(tmp_path: Path) -> None:
    builder, keys = dkim_estate(tmp_path)
    assert cli(builder, "dkim", "init").exit_code == 0
    private_path(keys, "acme.example", "s1").unlink()  # what a CI runner without the mail host's secrets has
    txt = builder.resources()[("dns", "acme.example/s1._domainkey/TXT")]
    assert txt.attrs["records"] == (f'"{txt_value(read_public(keys, "acme.example", "s1") or "")}"',)


def test_the_rotation_steps_show_in_the_plans_against_a_real_named(tmp_path: Path, named: NamedInstance) -> None:
    builder, keys = dkim_estate(tmp_path, grace_days=0)
    assert cli(builder, "dkim", "init").exit_code == 0
    provider = provider_for(named)

    def dns_resources() -> list[Resource]:
        return [replace(r, depends_on=()) for (kind, _), r in builder.resources().items()
                if kind in ("dns_zone", "dns")]

    def changes() -> set[tuple[str, str]]:
        return {(c.action, c.address) for c in plan_for(provider, dns_resources()).changes}

    def status() -> str:
        shown = CliRunner().invoke(app, ["--no-color", "dkim", "status", "--domain", "acme.example", "--dir",
                                         str(builder.root)], env={**NO_OVERRIDE, **named.env()})
        assert shown.exit_code == 0, shown.output
        return shown.stdout

    converge(provider, dns_resources())
    assert "acme.example: keys s1; s1 is the key; not rotating" in status()
    done = cli(builder, "dkim", "rotate", "--domain", "acme.example")
    assert done.exit_code == 0, done.output
    assert "1. publish: dns.acme.example/s2._domainkey/TXT created" in done.stdout
    assert "2. switch: signing.acme.example selector s1 -> s2, applied after the record" in done.stdout
    assert changes() == {("create", "dns.acme.example/s2._domainkey/TXT")}
    assert "acme.example: keys s1, s2; rotating: s2 is not served yet (step 1); the next apply publishes" in status()
    early = CliRunner().invoke(app, ["--no-color", "dkim", "retire", "--domain", "acme.example", "--yes",
                                     "--dir", str(builder.root)], env={**NO_OVERRIDE, **named.env()})
    assert early.exit_code == 1 and "s2._domainkey.acme.example is not served by the DNS server yet" in early.stderr
    converge(provider, dns_resources())
    assert query(named, "s2._domainkey.acme.example.", "TXT")[1]
    assert "rotating: s2 is served; step 3: 'ispctl dkim retire' now removes s1" in status()
    retired = CliRunner().invoke(app, ["--no-color", "dkim", "retire", "--domain", "acme.example", "--yes",
                                       "--dir", str(builder.root)], env={**NO_OVERRIDE, **named.env()})
    assert retired.exit_code == 0, retired.output
    assert changes() == {("delete", "dns.acme.example/s1._domainkey/TXT")}
    assert "acme.example: keys s2; s2 is the key; not rotating" in status()
    converge(provider, dns_resources())
    assert query(named, "s1._domainkey.acme.example.", "TXT")[1] == set()
    assert cli(builder, "dkim", "init").exit_code == 0 and current_selectors(keys, "acme.example") == ["s2"]
