"""The DNS provider through the engine and the CLI, with the example estate and a real named."""

from __future__ import annotations

from pathlib import Path

import dns.rcode
from dns_helpers import query
from ldap_helpers import EXAMPLE, copy_example, estate_repo, run_cli

from ispctl.providers.dns import DnsProvider, build
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.settings import IgnoreRule
from tests.wiring import REGISTRY, WIRING, load_desired


def dns_env(named: NamedInstance) -> dict[str, str | None]:
    return {**named.env(), "ISPCTL_PROVIDERS": "dns", "ISPCTL_DESIRED_STATE": str(EXAMPLE)}


def test_the_registry_builds_the_provider_with_the_sites_ignore_rules(named: NamedInstance) -> None:
    service = REGISTRY.get("dns")
    assert service is not None and service.build is build and service.provider is DnsProvider
    catalog, _ = load_desired(EXAMPLE, {})
    provider = WIRING.provider("dns", catalog.estate.site, named.env())
    assert isinstance(provider, DnsProvider) and provider.SUPPORTS == {"dns_zone", "dns"}
    assert IgnoreRule(name="_acme-challenge*", type="TXT") in provider.rules
    assert isinstance(build(catalog.estate.site, named.env()), DnsProvider)


def test_the_example_estate_is_served_exactly_and_drift_shows_in_the_plan(named: NamedInstance) -> None:
    env = dns_env(named)
    applied = run_cli(None, "apply", "--auto-approve", "-d", str(EXAMPLE), **env)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    again = run_cli(None, "plan", "--detailed-exitcode", "-d", str(EXAMPLE), **env)
    assert again.exit_code == 0, again.stdout
    # What a client gets matches the compiled YAML, record set by record set.
    _, desired = load_desired(EXAMPLE, {})
    checked = 0
    for (kind, key), resource in sorted(desired.items()):
        zone, owner, rdtype = key.split("/") if kind == "dns" else (key, "", "")
        if kind != "dns" or owner.endswith("lab") or "*" in owner:
            continue  # delegations answer with referrals; wildcards are checked below
        name = f"{zone}." if owner == "@" else f"{owner}.{zone}."
        assert query(named, name, rdtype) == (dns.rcode.NOERROR, set(resource.attrs["records"])), key
        checked += 1
    assert checked > 30
    assert query(named, "anything.dev.northwind.example.", "A")[0] == dns.rcode.NOERROR
    # A hand edit is drift, shown per record set with old and new values; a token the
    # certificate client wrote is not ispctl's and is not in the plan.
    done = named.nsupdate("update delete www.northwind.example. A\n"
                          "update add www.northwind.example. 300 A 203.0.113.99\n"
                          'update add _acme-challenge.northwind.example. 60 TXT "token"\n')
    assert done.returncode == 0, done.stderr
    drift = run_cli(None, "plan", "--detailed-exitcode", "-d", str(EXAMPLE), **env)
    assert drift.exit_code == 2, drift.stdout
    assert "dns.northwind.example/www/A" in drift.stdout and "changed outside ispctl" in drift.stdout
    assert "203.0.113.99" in drift.stdout and "192.0.2.80" in drift.stdout
    assert "_acme-challenge" not in drift.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in drift.stdout
    fixed = run_cli(None, "apply", "--auto-approve", "-d", str(EXAMPLE), **env)
    assert fixed.exit_code == 0, fixed.stdout
    assert query(named, "www.northwind.example.", "A")[1] == {"192.0.2.80"}
    assert query(named, "_acme-challenge.northwind.example.", "TXT")[1] == {'"token"'}


def test_a_secondary_domain_of_the_estate_is_a_secondary_zone(named: NamedInstance, tmp_path: Path) -> None:
    env = dns_env(named)
    assert run_cli(None, "apply", "--auto-approve", "-d", str(EXAMPLE), **env).exit_code == 0
    _, desired = load_desired(EXAMPLE, {})
    secondaries = [r for r in desired.values() if r.kind == "dns_zone" and r.attrs["type"] == "secondary"]
    assert secondaries, "the example estate has a slave domain"
    for zone in secondaries:
        shown = named.rndc("showzone", zone.key).stdout
        assert "type secondary;" in shown
        assert all(f"{p};" in shown for p in zone.attrs["primaries"])


def test_importing_a_live_zone_ispctl_wrote_gives_an_empty_plan(named: NamedInstance, tmp_path: Path) -> None:
    estate = copy_example(tmp_path)
    env = {**dns_env(named), "ISPCTL_DESIRED_STATE": str(estate)}
    assert run_cli(None, "apply", "--auto-approve", "-d", str(estate), **env).exit_code == 0
    done = named.nsupdate("update add extra.southbay.example. 300 A 192.0.2.44\n")
    assert done.returncode == 0, done.stderr
    imported = run_cli(None, "import", "dns", "--zone", "southbay.example", "-d", str(estate), **env)
    assert imported.exit_code == 0, imported.stdout + imported.stderr
    written = (estate / "tenants" / "southbay" / "southbay.example.yaml").read_text(encoding="utf-8")
    assert "extra" in written and "_ispctl-fingerprint" not in written
    after = run_cli(None, "plan", "--detailed-exitcode", "-d", str(estate), **env)
    assert after.exit_code == 0, after.stdout


def test_dns_changes_follow_their_domain_into_scopes_even_on_a_dns_only_runner(
    named: NamedInstance, tmp_path: Path
) -> None:
    import json

    estate = copy_example(tmp_path)
    env = {**dns_env(named), "ISPCTL_DESIRED_STATE": str(estate)}
    assert run_cli(None, "apply", "--auto-approve", "-d", str(estate), **env).exit_code == 0
    path = estate / "tenants/northwind/northwind.example.yaml"
    path.write_text(path.read_text().replace("198.51.100.7,", "198.51.100.8,"))
    # No directory provider runs here: the link from a record to its domain and tenant comes
    # from the compiled desired state.
    scoped = run_cli(None, "plan", "--json", "--tenant", "northwind", "-d", str(estate), **env)
    assert [c["address"] for c in json.loads(scoped.stdout)["changes"]] == ["dns.northwind.example/vpn/A"]
    other = run_cli(None, "plan", "--json", "--tenant", "southbay", "-d", str(estate), **env)
    assert json.loads(other.stdout)["changes"] == []
    md = run_cli(None, "plan", "--format", "markdown", "-d", str(estate), **env).stdout
    assert "<details><summary><b>tenant.northwind</b>: 1 to change</summary>" in md


def test_a_removed_domain_file_plans_its_zone_delete_in_a_changed_since_plan(
    named: NamedInstance, tmp_path: Path
) -> None:
    import json

    _repo, estate = estate_repo(tmp_path)
    env = {**dns_env(named), "ISPCTL_DESIRED_STATE": str(estate)}
    assert run_cli(None, "apply", "--auto-approve", "-d", str(estate), **env).exit_code == 0
    (estate / "tenants/southbay/southbay.example.yaml").unlink()
    # Only the DNS provider runs: nothing live links the zone to a tenant, but git knows
    # which domain the removed file declared.
    planned = run_cli(None, "plan", "--json", "--changed-since", "HEAD", "-d", str(estate), **env)
    changes = json.loads(planned.stdout)["changes"]
    assert "dns_zone.southbay.example" in {c["address"] for c in changes}
    assert {c["action"] for c in changes} == {"delete"}
    assert not any("northwind" in c["address"] for c in changes)
