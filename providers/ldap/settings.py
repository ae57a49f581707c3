"""The directory's section of ``ispctl.yaml``: which subtree ispctl owns, how it reads it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ispctl.reconciler.contract import Section, Strict


class DirectorySettings(Strict):
    base_dn: str = Field(description="DN of the subtree ispctl owns; it must already exist")
    page_size: Annotated[int, Field(ge=10, le=100_000)] = 1000


DIRECTORY = Section("site", "directory", DirectorySettings, required=True,
                    description="the LDAP subtree ispctl owns (connection: ISPCTL_LDAP_*)")
