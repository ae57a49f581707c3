"""Faults in the DNS provider's zone changes, against a real named: SIGKILL at each step of a
zone's create, delete and type switch, named refusing a new zone, named restarted mid-apply.

A kill is real: a child process applies the plan with one rndc command or catalog update
wrapped so that the process SIGKILLs itself right after the real step returned. Afterwards
the plan must show work (never "No changes"), one plain apply must converge, and no
primary's data may be lost (it is served, or archived under the zone directory).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dns_helpers import converge, plan_for, provider_for, query, rrset, secondary, served, zone
from ldap_helpers import EXAMPLE, run_cli

import ispctl.providers.dns.catalog as cat
from ispctl.providers.dns.axfr import transfer
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.rndc import Rndc
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.reconciler.engine.apply import Event, apply_plan, observing
from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.resources import Resource

Z, OTHER = "example.net", "example.org"
TESTS = Path(__file__).resolve().parent


def primary_estate(name: str = Z) -> list[Resource]:
    return [zone(name), rrset(name, "ns1", "A", ["192.0.2.1"]), rrset(name, "ns2", "A", ["192.0.2.2"]),
            rrset(name, "www", "A", ["192.0.2.80"]), rrset(name, "@", "TXT", ['"kept data"'])]


def slave_estate(name: str = Z) -> list[Resource]:
    return [secondary(name, ("192.0.2.53",))]


def members(named: NamedInstance) -> dict[str, cat.Member]:
    return cat.read_catalog(transfer(DnsConnection.from_env(named.env()), "catalog.ispctl.invalid"))


def archived(named: NamedInstance, name: str) -> list[str]:
    """The archived zone files' texts of ``name``."""
    folder = named.zone_dir / "archive"
    return [p.read_text(encoding="utf-8") for p in sorted(folder.glob(f"{name}.*.db"))] if folder.exists() else []


# The child: plan and apply ``desired``, SIGKILLing itself right after the n-th call of ``step``.
_CHILD = """
import json, os, signal, sys
sys.path.insert(0, {tests!r})
from dns_helpers import plan_for, provider_for, rrset, secondary, zone
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns import rndc
from ispctl.reconciler.engine.apply import Event, apply_plan, observing
spec = json.loads(sys.argv[1])
named = NamedInstance.from_state(spec["state"])
desired = [eval(r) for r in spec["desired"]]
step, nth = spec["step"], spec["nth"]
calls = []
def killing(original):
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(1)
        if len(calls) == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper
if step == "catalog":
    from ispctl.providers.dns.provider import DnsProvider
    DnsProvider._send_catalog = killing(DnsProvider._send_catalog)
else:
    setattr(rndc.Rndc, step, killing(getattr(rndc.Rndc, step)))
provider = provider_for(named)
apply_plan(plan_for(provider, desired), lambda kind: provider)
print("not killed")
"""


def apply_killed(named: NamedInstance, desired: list[str], step: str, nth: int = 1) -> None:
    """Apply ``desired`` (resource expressions) in a child that is SIGKILLed after the nth ``step``."""
    spec = {"state": named.to_state(), "desired": desired, "step": step, "nth": nth}
    done = subprocess.run([sys.executable, "-c", _CHILD.format(tests=str(TESTS)), json.dumps(spec)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr[-2000:])


def expressions(resources: list[Resource]) -> list[str]:
    out = []
    for r in resources:
        if r.kind == "dns_zone" and r.attrs["type"] == "secondary":
            out.append(f"secondary({r.key!r}, {tuple(r.attrs['primaries'])!r})")
        elif r.kind == "dns_zone":
            out.append(f"zone({r.key!r})")
        else:
            name, owner, rdtype = r.key.split("/")
            out.append(f"rrset({name!r}, {owner!r}, {rdtype!r}, {list(r.attrs['records'])!r})")
    return out


def converges_after(named: NamedInstance, desired: list[Resource]) -> None:
    provider = provider_for(named)
    plan = plan_for(provider, desired)
    assert not plan.empty, "the plan after the kill must show the unfinished work"
    converge(provider, desired)
    assert plan_for(provider_for(named), desired).empty


# -- deleting a zone ---------------------------------------------------------------------

def test_kill_between_delzone_and_the_catalog_update_plans_the_delete(named: NamedInstance) -> None:
    converge(provider_for(named), primary_estate() + primary_estate(OTHER))
    apply_killed(named, expressions(primary_estate(OTHER)), "delzone")
    assert not served(named, Z) and Z in members(named)  # named dropped it, the catalog did not
    plan = plan_for(provider_for(named), primary_estate(OTHER))
    assert [(c.address, c.action) for c in plan.changes] == [(f"dns_zone.{Z}", "delete")]
    converges_after(named, primary_estate(OTHER))
    assert set(members(named)) == {OTHER}
    assert any('"kept data"' in text for text in archived(named, Z)), "a deleted primary is archived"


def test_the_same_state_with_the_zone_still_wanted_is_recreated(named: NamedInstance) -> None:
    converge(provider_for(named), primary_estate())
    assert named.rndc("delzone", "-clean", Z).returncode == 0  # what an old ispctl's kill left
    converges_after(named, primary_estate())
    assert query(named, f"www.{Z}.", "A")[1] == {"192.0.2.80"}


# -- a primary turning secondary, and back -------------------------------------------------

@pytest.mark.parametrize(("step", "nth"), [("catalog", 1), ("delzone", 1), ("addzone", 1)])
def test_kill_inside_primary_to_secondary_converges_and_keeps_the_data(named: NamedInstance, step: str,
                                                                         nth: int) -> None:
    converge(provider_for(named), primary_estate())
    apply_killed(named, expressions(slave_estate()), step, nth)
    converges_after(named, slave_estate())
    assert "type secondary;" in named.rndc("showzone", Z).stdout
    assert members(named)[Z].fingerprint is not None
    assert any('"kept data"' in text for text in archived(named, Z))


@pytest.mark.parametrize(("step", "nth"), [("delzone", 1), ("addzone", 1)])
def test_kill_inside_secondary_to_primary_converges(named: NamedInstance, step: str, nth: int) -> None:
    converge(provider_for(named), slave_estate())
    apply_killed(named, expressions(primary_estate()), step, nth)
    converges_after(named, primary_estate())
    assert query(named, f"www.{Z}.", "A")[1] == {"192.0.2.80"}
    assert not members(named)[Z].secondary


def test_kill_between_listing_and_adding_a_new_zone_converges(named: NamedInstance) -> None:
    apply_killed(named, expressions(primary_estate()), "catalog")
    assert Z in members(named) and not served(named, Z)
    converges_after(named, primary_estate())
    assert query(named, f"www.{Z}.", "A")[1] == {"192.0.2.80"}


# -- named refusing, or going away ------------------------------------------------------

def test_a_scoped_primary_never_reaches_named_and_the_live_zone_keeps_serving(named: NamedInstance) -> None:
    """The issue's case: fe80::1%eth0 as the new primary of a live primary zone."""
    provider = provider_for(named)
    converge(provider, primary_estate())
    result = apply_plan(plan_for(provider, [secondary(Z, ("fe80::1%eth0",))]), lambda kind: provider)
    assert not result.ok
    assert "is not a plain IP address" in (result.failed[0].error or "")
    assert query(named, f"www.{Z}.", "A")[1] == {"192.0.2.80"}
    assert (named.zone_dir / f"{Z}.db").exists()
    assert "type primary;" in named.rndc("showzone", Z).stdout


def test_named_refusing_the_secondary_restores_the_primary(named: NamedInstance,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    provider = provider_for(named)
    converge(provider, primary_estate())
    real = Rndc.addzone

    def refuse_secondaries(self: Rndc, name: str, config: str) -> None:
        if "type secondary" in config:  # named's own refusal, of a config it cannot parse
            real(self, name, config.replace("type secondary;", "type secondary; no-such-option yes;"))
        real(self, name, config)

    monkeypatch.setattr(Rndc, "addzone", refuse_secondaries)
    result = apply_plan(plan_for(provider, slave_estate()), lambda kind: provider)
    assert not result.ok
    error = result.failed[0].error or ""
    assert "addzone failed" in error and "served again, unchanged" in error
    assert query(named, f"www.{Z}.", "A")[1] == {"192.0.2.80"}
    monkeypatch.undo()
    converges_after(named, slave_estate())


def test_named_restarted_mid_apply_is_one_clear_error_and_a_rerun_converges(named: NamedInstance) -> None:
    provider = provider_for(named)
    desired = primary_estate() + primary_estate(OTHER) + primary_estate("example.com")
    converge(provider, primary_estate())
    original = provider.commit
    commits: list[str] = []

    def stop_after_first(batch: str) -> None:
        commits.append(batch)
        if len(commits) == 2:
            named.stop()
        original(batch)

    provider.commit = stop_after_first  # type: ignore[method-assign]
    changed = desired + [rrset(Z, "new", "A", ["192.0.2.9"])]
    result = apply_plan(plan_for(provider, changed), lambda kind: provider)
    named.start()
    errors = {o.error or "" for o in result.failed}
    assert errors and all("run 'ispctl apply' again" in e for e in errors), errors
    assert not any("Traceback" in e for e in errors)
    assert any("stopped or is restarting" in e for e in errors)
    assert any(e.startswith("dns: not tried: named") for e in errors), "later zones are not tried one by one"
    converge(provider_for(named), changed)
    assert plan_for(provider_for(named), changed).empty
    assert query(named, f"new.{Z}.", "A")[1] == {"192.0.2.9"}


def test_deleting_without_a_zone_dir_keeps_the_files_with_named(named: NamedInstance) -> None:
    converge(provider_for(named), primary_estate())
    env = {k: v for k, v in named.env().items() if k != "ISPCTL_DNS_ZONE_DIR"}
    from ispctl.providers.dns.provider import DnsProvider
    provider = DnsProvider(DnsConnection.from_env(env))
    converge(provider, [])
    assert not served(named, Z)
    assert (named.zone_dir / f"{Z}.db").exists(), "without an archive, named keeps the zone's file"


def test_unreachable_rndc_is_reported_as_such(named: NamedInstance) -> None:
    rndc = Rndc("127.0.0.1", named.control_port, str(named.rndc_key_file))
    named.stop()
    try:
        with pytest.raises(ProviderError, match="rndc showzone failed") as caught:
            rndc.zone_type(Z)
        assert type(caught.value).__name__ == "Unreachable"
    finally:
        named.start()
    assert os.path.exists(named.rndc_key_file)


def test_named_stopping_mid_apply_through_the_command_line(named: NamedInstance) -> None:
    """The whole apply command: one clear error naming what failed and what to run, no traceback,
    no secret; after named is back, one plain apply converges."""
    env = {**named.env(), "ISPCTL_PROVIDERS": "dns", "ISPCTL_DESIRED_STATE": str(EXAMPLE)}
    commits: list[str] = []

    def stop_named_at_the_third_zone(event: Event) -> None:
        if event.point == "commit" and event.batch is not None:
            commits.append(event.batch)
            if len(commits) == 3:
                named.stop()

    with observing(stop_named_at_the_third_zone):
        failed = run_cli(None, "apply", "--auto-approve", "-d", str(EXAMPLE), **env)
    named.start()
    output = failed.stdout + failed.stderr
    assert failed.exit_code != 0 and len(commits) >= 3
    assert "Traceback" not in output and "Internal error" not in output
    assert "run 'ispctl apply' again once" in output and f"at zone {commits[2]}" in output
    assert named.tsig_secret not in output and named.rndc_secret not in output
    fixed = run_cli(None, "apply", "--auto-approve", "-d", str(EXAMPLE), **env)
    assert fixed.exit_code == 0, fixed.stdout + fixed.stderr
    assert run_cli(None, "plan", "--detailed-exitcode", "-d", str(EXAMPLE), **env).exit_code == 0
