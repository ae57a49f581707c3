"""The named part of ``ispctl sandbox``: a detached BIND that later CLI calls find again."""

from __future__ import annotations

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.reconciler.harness.sandbox import InstanceComponent


class DnsComponent(InstanceComponent):
    """DNS needs nothing from the other components."""

    name = "dns"
    providers = ("dns",)
    instance_class = NamedInstance
