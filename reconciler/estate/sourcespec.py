"""How the site settings name the repositories an estate is composed of (README "An estate
of several repositories").

A git repository cannot hide one reseller's folder from another, so an estate may be read
from several: the ISP's own (site settings and its own tenants) and one per reseller,
each a local checkout (``path``) or a git URL at a pinned ``commit`` (never "the latest":
what is planned is what was reviewed). Only the models live here; reading is
``ispctl.reconciler.estate.sources``.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import re
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ispctl.reconciler.estate.names import check_tenant

_SHA = re.compile(r"[0-9a-f]{40}")


def _commit(value: str) -> str:
    if not _SHA.fullmatch(value):
        # A branch or tag moves: only a full commit id says what was reviewed.
        raise ValueError("must be a full 40-character commit id (lower-case hex), never a branch or tag")
    return value


def _folder(value: str) -> str:
    parts = value.split("/")
    if not value or value.startswith("/") or any(p in ("", "..") for p in parts) or not value.isprintable():
        raise ValueError("must be a relative folder inside the repository (no '..', no leading '/')")
    return value


def _url(value: str) -> str:
    if value.startswith("-") or not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError("is not a git URL (https://, ssh://, file:// or host:path)")
    if urlsplit(value).password is not None:
        # ispctl.yaml is in git: a token there is a leak (the value is not repeated here).
        raise ValueError("holds a password or token (user:secret@); use a deploy key, a credential helper or "
                         "git's url.<base>.insteadOf on the machine instead")
    return value


def _source_name(value: str) -> str:
    check_tenant(value)  # the same shape as a tenant name: it shows in every path
    return value


Commit = Annotated[str, AfterValidator(_commit)]
SourceName = Annotated[str, AfterValidator(_source_name)]


class SourceSpec(BaseModel):
    """One repository: a local checkout or a git URL at a pinned commit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(None, description="a local checkout, relative to the folder of ispctl.yaml")
    git: Annotated[str, AfterValidator(_url)] | None = Field(
        None, description="a git URL (https://, ssh://, file://); needs commit")
    commit: Commit | None = Field(None, description="the commit to read; the checkout's HEAD must be it")
    dir: Annotated[str, AfterValidator(_folder)] = Field(
        "desired-state", description="the folder in the repository that holds tenants/ (and ispctl.yaml)")
    resellers: list[SourceName] | None = Field(
        None, description="the resellers this repository may declare (default: the source's own name)")

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.path is None) == (self.git is None):
            raise ValueError("give exactly one of path (a local checkout) or git (a URL, with commit)")
        if self.git is not None and self.commit is None:
            raise ValueError("a git source needs commit: the full id of the commit to read (never the latest)")
        return self


class SourceSite(BaseModel):
    """A reseller's ``ispctl.yaml``: the estate's site settings come from the ISP's repository,
    and this repository is one of that estate's sources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: SourceSpec = Field(description="the repository with the estate's site settings, pinned")
    source: SourceName = Field(description="the name this repository has under sources: in those settings")
