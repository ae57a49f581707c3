"""What the RADIUS service stores in the directory (``DirectoryPart``s), in FreeRADIUS's schema.

* on a mailbox: classes ``radiusprofile`` and ``ispctlRadiusAccount`` while it has RADIUS
  values, with ``dialupAccess``, ``radiusProfileDN``, ``ispctlRadiusAuthMethod``, the
  credentials ``ispctlRadiusNTHash``/``ispctlRadiusCleartext``, ``radiusFramedIPAddress``,
  ``radiusFramedRoute`` and ``radiusReplyAttribute`` (its PAP password is ``userPassword``);
* ``access_account``: ``uid=<login>`` below its domain, classes ``account`` (what tells it from
  a mailbox), ``radiusprofile``, ``ispctlRadiusAccount``; the same attributes plus
  ``userPassword``, ``ispctlAccountStatus`` and ``description``;
* ``radius_profile``: ``cn=<key>`` below its tenant (or the base), classes
  ``radiusObjectProfile`` and ``radiusprofile``: ``radiusSessionTimeout``,
  ``radiusIdleTimeout``, ``radiusSimultaneousUse``, ``radiusReplyAttribute``.

``render`` maps the same LDAP names to RADIUS attributes. Schemas: FreeRADIUS's own
(``schema/freeradius.ldif``, a copy of Debian's) and ispctl's credentials schema
(``schema/ispctl-radius.ldif``).
"""

from __future__ import annotations

from pathlib import Path

from ispctl.providers.radius.compile import ACCOUNT, PROFILE
from ispctl.reconciler.contract import MAILBOX, DirectoryPart

SCHEMA_DIR = Path(__file__).parent / "schema"
FREERADIUS_SCHEMA = SCHEMA_DIR / "freeradius.ldif"
ISPCTL_RADIUS_SCHEMA = SCHEMA_DIR / "ispctl-radius.ldif"
SCHEMAS = (FREERADIUS_SCHEMA, ISPCTL_RADIUS_SCHEMA)
ACCOUNT_CLASSES = ("radiusprofile", "ispctlRadiusAccount")

# An account's values, by the standalone kind's field names (a mailbox's carry a radius_ prefix).
_ACCESS: dict[str, tuple[tuple[str, ...], str]] = {
    "access": (("dialupAccess",), "str"),  # "TRUE"/"FALSE" as text (see compile.access_attrs)
    "profile": (("radiusProfileDN",), "str"),
    "methods": (("ispctlRadiusAuthMethod",), "multi"),
    "nt_hash": (("ispctlRadiusNTHash",), "str"),
    "cleartext": (("ispctlRadiusCleartext",), "str"),
    "framed_ip": (("radiusFramedIPAddress",), "str"),
    "routes": (("radiusFramedRoute",), "multi"),
    "reply": (("radiusReplyAttribute",), "multi"),
}

PARTS = (
    DirectoryPart(MAILBOX, {f"radius_{name}": mapped for name, mapped in _ACCESS.items()},
                  object_classes=ACCOUNT_CLASSES, schemas=SCHEMAS,
                  sensitive=frozenset({"radius_nt_hash", "radius_cleartext"})),
    DirectoryPart(ACCOUNT, {**_ACCESS, "password": (("userPassword",), "str"),
                            "status": (("ispctlAccountStatus",), "str"), "description": (("description",), "str")},
                  object_classes=("account", *ACCOUNT_CLASSES), schemas=SCHEMAS, rdn_attr="uid",
                  identifying_class="account", sensitive=frozenset({"password", "nt_hash", "cleartext"})),
    DirectoryPart(PROFILE, {"session_timeout": (("radiusSessionTimeout",), "int"),
                            "idle_timeout": (("radiusIdleTimeout",), "int"),
                            "simultaneous_use": (("radiusSimultaneousUse",), "int"),
                            "reply": (("radiusReplyAttribute",), "multi")},
                  object_classes=("radiusObjectProfile", "radiusprofile"), schemas=SCHEMAS, rdn_attr="cn",
                  identifying_class="radiusObjectProfile"),
)
