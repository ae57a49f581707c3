"""The OpenLDAP part of ``ispctl sandbox``: a detached slapd that later CLI calls find again."""

from __future__ import annotations

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.harness.sandbox import InstanceComponent


class LdapComponent(InstanceComponent):
    """The directory comes first and needs nothing from other components."""

    name = "ldap"
    providers = ("ldap",)
    instance_class = SlapdInstance
