"""The directory's section of ``ispctl.yaml``: which subtree ispctl owns, how it reads it."""

from __future__ import annotations

from typing import Annotated

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn
from pydantic import Field, field_validator

from ispctl.reconciler.contract import Section, Strict


class DirectorySettings(Strict):
    base_dn: str = Field(description="DN of the subtree ispctl owns; it must already exist")
    page_size: Annotated[int, Field(ge=10, le=100_000)] = 1000

    @field_validator("base_dn")
    @classmethod
    def _a_dn(cls, value: str) -> str:
        # The base names everything ispctl may touch: a malformed one must stop validation,
        # not surface later as a lock error or (with a line break) a different base.
        if any(not c.isprintable() for c in value):
            raise ValueError("must not contain a line break, tab or other control character")
        try:
            parse_dn(value)
        except LDAPInvalidDnError as exc:
            raise ValueError(f"is not a distinguished name such as ou=ispctl,dc=example,dc=net ({exc})") from None
        return value


DIRECTORY = Section("site", "directory", DirectorySettings, required=True,
                    description="the LDAP subtree ispctl owns (connection: ISPCTL_LDAP_*)")
