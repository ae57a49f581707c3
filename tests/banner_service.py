"""A service that exists only in the test suite, built on nothing but the public contract.

A domain may show a one-line banner (``banner: {text: ..., shout: ...}`` in its file); the
service keeps one file per domain in a folder on this machine (``banners.dir`` in
``ispctl.yaml``, ``ISPCTL_BANNER_DIR`` to override it), reads them back in one directory
scan, and moves a removed domain's banner to an attic instead of deleting it. It adds
``ispctl banner show``. It proves that a new service is one package and one registration:
``tests/test_service_plugin.py`` plans and applies it through the real command line with no
change to the engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from ispctl.reconciler.contract import (
    DOMAIN,
    Catalog,
    CommandContext,
    Commands,
    Compiled,
    DirOption,
    EnvOverride,
    Provider,
    ProviderError,
    Resource,
    Section,
    Service,
    SiteFile,
    Strict,
    address_of,
    output,
)

KIND = "banner"
SUFFIX = ".banner"
ATTIC = ".attic"


class BannerSettings(Strict):
    dir: str = Field("/var/lib/ispctl-banners", description="where the banner files live")

    @field_validator("dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be an absolute path")
        return value


class DomainBanner(Strict):
    text: str = Field(min_length=1, max_length=200)
    shout: bool = False


BANNERS = Section("site", "banners", BannerSettings, default=BannerSettings())
DOMAIN_BANNER = Section("domain", "banner", DomainBanner)


def compile_banners(catalog: Catalog) -> Compiled:
    out = Compiled()
    for domain in catalog.domains.values():
        banner = domain.spec.get_section(DOMAIN_BANNER)
        if banner is None:
            continue
        if domain.type == "alias":
            out.problems.append(domain.doc.problem(("banner",), "an alias domain shows its target's banner"))
            continue
        out.resources.append(Resource(
            KIND, domain.name, {"text": banner.text.upper() if banner.shout else banner.text},
            depends_on=(address_of(DOMAIN, domain.name),), source=domain.doc.location(("banner",)),
        ))
    return out


class BannerProvider(Provider):
    name: ClassVar[str] = "banner"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({KIND})
    ARCHIVES: ClassVar[Mapping[str, str]] = {KIND: "moved to the banner attic"}

    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, domain: str) -> Path:
        return self.root / f"{domain}{SUFFIX}"

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            if not entry.is_file() or not entry.name.endswith(SUFFIX):
                continue  # not a banner of ours
            data = json.loads(Path(entry.path).read_text(encoding="utf-8"))
            domain = entry.name[: -len(SUFFIX)]
            found.append(Resource(KIND, domain, {"text": data["text"]}, depends_on=(address_of(DOMAIN, domain),),
                                  recorded_fingerprint=data.get("fingerprint")))
        return found

    def _write(self, resource: Resource) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self._file(resource.key).with_suffix(".tmp")
        tmp.write_text(json.dumps({"text": resource.attrs["text"], "fingerprint": resource.fingerprint()}),
                       encoding="utf-8")
        os.replace(tmp, self._file(resource.key))

    def _create(self, resource: Resource) -> None:
        if self._file(resource.key).exists():
            raise ProviderError(f"{resource.address}: {self._file(resource.key)} exists already")
        self._write(resource)

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        self._write(after)

    def _delete(self, resource: Resource) -> None:
        attic = self.root / ATTIC
        attic.mkdir(exist_ok=True)
        os.replace(self._file(resource.key), attic / self._file(resource.key).name)


def build(site: SiteFile, env: Mapping[str, str]) -> BannerProvider:
    return BannerProvider(Path(site.section(BANNERS).dir))


def show_cmd(ctx: CommandContext, root: Path) -> int:
    folder = Path(ctx.site(root).section(BANNERS).dir)
    shown = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    for path in shown:
        text = json.loads(path.read_text(encoding="utf-8"))["text"]
        output.out().print(f"{path.name[: -len(SUFFIX)]}: {text}", markup=False)
    output.out().print(f"{len(shown)} banner(s) in {folder}", markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    group = commands.group("banner", "Domain banners (a service of the test suite).")

    @group.command("show")
    def show(dir: Path | None = DirOption) -> None:
        """List the banners on this machine."""
        ctx.run(lambda: show_cmd(ctx, ctx.root(dir)))


SERVICE = Service(
    name="banner",
    summary="a one-line banner per domain, in files (the test suite's own service)",
    provider=BannerProvider,
    build=build,
    sections=(BANNERS, DOMAIN_BANNER),
    overrides=(EnvOverride("ISPCTL_BANNER_DIR", BANNERS, "dir"),),
    compile=compile_banners,
    commands=register,
)
