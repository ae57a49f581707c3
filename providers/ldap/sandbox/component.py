"""The OpenLDAP part of ``ispctl sandbox``: a detached slapd that later CLI calls find again."""

from __future__ import annotations

from ispctl.reconciler.harness.sandbox import InstanceComponent

from .slapd import SlapdInstance


class LdapComponent(InstanceComponent):
    """The directory comes first and needs nothing from other components."""

    name = "ldap"
    providers = ("ldap",)
    instance_class = SlapdInstance
