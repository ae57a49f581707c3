"""named in ``ispctl sandbox``, and the sandbox's ``ISPCTL_PROVIDERS``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dns_helpers import query

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.sandbox.component import DnsComponent
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.ldap.sandbox.component import LdapComponent
from ispctl.reconciler.harness import sandbox
from ispctl.reconciler.harness.daemons import pids_matching
from tests.wiring import open_session

REPO = Path(__file__).resolve().parents[1]
LDAP = LdapComponent()
DNS = DnsComponent()


class MailHost(sandbox.Component):
    """A stand-in component that exports its own ISPCTL_PROVIDERS and runs nothing."""

    name = "mailhost"

    def up(self, workdir: Path, previous: dict[str, Any] | None, context_env: Any = None) -> dict[str, Any]:
        return {}

    def down(self, state: dict[str, Any]) -> bool:
        return False

    def status(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"running": True, "pid": None, "url": None}

    def env(self, state: dict[str, Any]) -> dict[str, str]:
        return {"ISPCTL_PROVIDERS": "mailstore, dns", "ISPCTL_MAIL_ROOT": "/srv/mail"}


def test_the_component_survives_and_is_found_again(tmp_path: Path) -> None:
    component = DnsComponent()
    state = component.up(tmp_path / "dns", None, {})
    try:
        status = component.status(state)
        assert status["running"] and status["url"].startswith("dns://127.0.0.1:")
        env = component.env(state)
        assert DnsConnection.from_env(env).port == state["port"]
        assert {"ISPCTL_RNDC_SERVER", "ISPCTL_RNDC_KEY_FILE", "ISPCTL_DNS_ZONE_DIR"} <= set(env)
    finally:
        assert component.down(state) is True
    assert component.down(state) is False and not component.status(state)["running"]
    again = component.up(tmp_path / "dns", state, {})
    try:
        assert again["port"] == state["port"] and again["tsig_secret"] == state["tsig_secret"]
    finally:
        component.down(again)


def test_sandbox_env_joins_the_providers_of_its_components(tmp_path: Path) -> None:
    root = tmp_path / ".sandbox"
    stub = MailHost()
    try:
        sandbox.up(root, [LDAP, DNS, stub])
        variables = sandbox.env(root, [LDAP, DNS, stub])
        # ldap serves the provider of its name, dns declares it, the stand-in exports its own.
        assert variables["ISPCTL_PROVIDERS"] == "ldap,dns,mailstore"
        assert variables["ISPCTL_MAIL_ROOT"] == "/srv/mail"
        assert sandbox.env(root, [LDAP])["ISPCTL_PROVIDERS"] == "ldap"
        # The sandbox's environment drives a real session: it plans and applies DNS against the sandbox.
        with open_session(REPO / "desired-state", {**variables, "ISPCTL_PROVIDERS": "dns"}) as session:
            result = session.apply(session.plan())
            assert result.ok, [(o.change.address, o.error) for o in result.failed][:3]
        named = NamedInstance.from_state(json.loads((root / "state.json").read_text())["components"]["dns"])
        assert query(named, "www.southbay.example.", "A")[1] == {"192.0.2.80"}
    finally:
        sandbox.down(root, components=[LDAP, DNS, stub])
    assert pids_matching(str(root)) == []
