"""How the RADIUS service's data is stored: the schema files and the parts' attributes, which
are exactly what FreeRADIUS's rendered ldap module reads (plus ispctl's own bookkeeping)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.radius.directory import FREERADIUS_SCHEMA, ISPCTL_RADIUS_SCHEMA, PARTS
from ispctl.providers.radius.render import ATTRIBUTE_MAP, PROFILE_FILTER, USER_FILTER, render_module

DEBIAN_SCHEMA = Path("/usr/share/doc/freeradius/schemas/ldap/openldap/freeradius.ldif.gz")
# Written for ispctl itself (reading the entry back, the plan), not for FreeRADIUS.
BOOKKEEPING = {"ispctlAccountStatus", "description"}


@pytest.mark.skipif(not DEBIAN_SCHEMA.exists(), reason="Debian's freeradius package is not installed")
def test_the_freeradius_schema_is_debians_unchanged() -> None:
    ours = [line for line in FREERADIUS_SCHEMA.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert ours == gzip.decompress(DEBIAN_SCHEMA.read_bytes()).decode("utf-8").splitlines()


def test_every_attribute_written_is_read_by_freeradius_or_is_bookkeeping() -> None:
    module = render_module(LdapSettings("ldap://l", "cn=r,dc=x", "p"), "dc=x")
    read = {source for _target, _op, source in ATTRIBUTE_MAP} | {"dialupAccess", "radiusProfileDN"}
    for part in PARTS:
        written = {name for names, _conv in part.fields.values() for name in names}
        assert written - read <= BOOKKEEPING, part.kind
    for name in read:
        assert f"'{name}'" in module
    for cls in ("radiusprofile", "radiusObjectProfile", "ispctlManaged"):
        assert f"objectClass={cls}" in USER_FILTER + PROFILE_FILTER


def test_the_classes_used_are_defined_by_the_schemas_loaded() -> None:
    text = FREERADIUS_SCHEMA.read_text(encoding="utf-8") + ISPCTL_RADIUS_SCHEMA.read_text(encoding="utf-8")
    for part in PARTS:
        for cls in part.object_classes:
            assert cls == "account" or f"NAME '{cls}'" in text, cls  # account: cosine, loaded by every slapd
        assert part.schemas == (FREERADIUS_SCHEMA, ISPCTL_RADIUS_SCHEMA)
