"""The FreeRADIUS part of ``ispctl sandbox``: RADIUS on loopback, reading the sandbox's slapd.

It starts after the LDAP component and binds as FreeRADIUS's own read-only account
(``ISPCTL_FREERADIUS_LDAP_*``, exported by that component), never as ispctl's apply account.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.ldap.connection import LdapSettings, connect
from ispctl.providers.radius.sandbox.radiusd import RadiusdInstance, udp_port_free
from ispctl.reconciler.contract import ProviderError
from ispctl.reconciler.harness.daemons import DaemonError
from ispctl.reconciler.harness.sandbox import InstanceComponent

# What this component needs from earlier ones; only these are kept in its state.
LDAP_KEYS = ("ISPCTL_LDAP_URL", "ISPCTL_LDAP_STARTTLS", "ISPCTL_LDAP_CA_FILE", "ISPCTL_LDAP_BASE_DN")
ACCOUNT_PREFIX = "ISPCTL_FREERADIUS_LDAP"
PLAN_PREFIX = "ISPCTL_PLAN_LDAP"


def binds(env: Mapping[str, str], bind_dn: str, password: str) -> bool:
    """Whether ``bind_dn`` can bind to the directory ``env`` names (a simple bind, then unbind)."""
    settings = LdapSettings.from_env({**env, "ISPCTL_LDAP_BIND_DN": bind_dn, "ISPCTL_LDAP_PASSWORD": password})
    try:
        connect(settings).unbind()
    except ProviderError:
        return False
    return True


def radius_ldap_env(context_env: Mapping[str, str], *, check: bool = False) -> dict[str, str]:
    """The directory connection FreeRADIUS gets: the URL and base of ispctl's, its own account.

    With ``check``, an account that cannot bind (a sandbox directory made before FreeRADIUS's
    account existed: the passwords file names it, the directory has no such entry) is not used."""
    env = {k: v for k, v in context_env.items() if k in LDAP_KEYS}
    bind_dn = context_env.get(f"{ACCOUNT_PREFIX}_BIND_DN")
    password = context_env.get(f"{ACCOUNT_PREFIX}_PASSWORD")
    if bind_dn and password and check and "ISPCTL_LDAP_URL" in env and not binds(env, bind_dn, password):
        bind_dn = password = None
    if not bind_dn or not password:
        # A sandbox whose directory predates FreeRADIUS's account: ispctl's read-only plan
        # account (it reads hashes too), never the apply account.
        bind_dn = context_env.get(f"{PLAN_PREFIX}_BIND_DN")
        password = context_env.get(f"{PLAN_PREFIX}_PASSWORD")
    if "ISPCTL_LDAP_URL" not in env or "ISPCTL_LDAP_BASE_DN" not in env or not bind_dn or not password:
        raise DaemonError("the freeradius sandbox component needs the ldap component to run first, with "
                          f"FreeRADIUS's account ({ACCOUNT_PREFIX}_BIND_DN/_PASSWORD; a sandbox made before it "
                          "existed: ispctl sandbox down --purge, then up)")
    env["ISPCTL_LDAP_BIND_DN"] = bind_dn
    env["ISPCTL_LDAP_PASSWORD"] = password
    return env


class RadiusComponent(InstanceComponent):
    """FreeRADIUS on loopback; it serves no provider of its own (the accounts are directory entries)."""

    name = "freeradius"
    instance_class = RadiusdInstance
    needs = ("ldap",)

    def instance(self, workdir: Path, previous: dict[str, Any] | None,
                 context_env: Mapping[str, str]) -> RadiusdInstance:
        env = radius_ldap_env(context_env, check=True)
        if previous is None:
            return RadiusdInstance(workdir, env)
        # The last run's ports and client secret, so what people typed into radtest keeps
        # working; a port is picked afresh when another process holds it now.
        ports = {key: previous.get(key) if previous.get(key) and udp_port_free(int(previous[key])) else None
                 for key in RadiusdInstance.port_keys}
        return RadiusdInstance(workdir, env, auth_port=ports["auth_port"], acct_port=ports["acct_port"],
                               inner_port=ports["inner_port"], secret=previous.get("secret"))
