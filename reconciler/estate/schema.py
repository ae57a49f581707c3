"""The desired-state language of one run: the core models plus the services' sections.

A service adds to the language in three ways, and the estate runs all of them without
naming any service:

* **sections** of the files (``Section``): ``directory:`` in ``ispctl.yaml``, ``dns:`` in a
  domain file; the models validated against are composed here from the core models
  (``ispctl.reconciler.estate.model``) and every registered section;
* **environment overrides** of site settings (``EnvOverride``): ``ISPCTL_MAIL_ROOT`` sets
  ``mail.root`` on one machine;
* a **compile hook** (``Extension``): given the validated catalog, the service checks its
  sections across files and returns its own resources, its problems, and attributes it
  adds to the estate's own resources (the mail store gives every mailbox its home);
* **inputs** of that hook outside the estate's files (``Inputs``): a digest of what else it
  reads (the DNS service's DKIM key store), so a snapshot of a run is of its inputs too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, create_model

from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.estate.compile import Extension
from ispctl.reconciler.estate.facts import FactsHook
from ispctl.reconciler.estate.model import (
    DomainFile,
    FileKind,
    FileModels,
    LocalPart,
    Mailbox,
    Section,
    Sectioned,
    SiteFile,
    TenantFile,
)
from ispctl.reconciler.estate.settings import EnvOverride

_BASES: dict[FileKind, type[Sectioned]] = {
    "site": SiteFile, "tenant": TenantFile, "domain": DomainFile, "mailbox": Mailbox,
}


# A digest of everything outside the estate's files that a service's compile hook reads (key
# files, folders, environment variables other than the schema's overrides), from the site
# settings (with their overrides) and the environment: whatever the hook would see differently
# gives another digest, and the same inputs always the same digest (never a time or an age).
# It is computed on every narrowed run: only what the hook reads, as cheaply as it can be read.
Inputs = Callable[[SiteFile, Mapping[str, str]], bytes]


@dataclass(frozen=True)
class NamedInputs:
    service: str
    inputs: Inputs


@dataclass(frozen=True)
class NamedExtension:
    service: str
    hook: Extension
    facts: FactsHook | None = None  # None: its rules across files are unknown (``estate.facts``)


@dataclass(frozen=True)
class EstateSchema:
    files: FileModels
    overrides: tuple[EnvOverride, ...] = ()
    extensions: tuple[NamedExtension, ...] = ()
    # Attributes services add to the estate's own kinds (kind -> names, e.g. a mailbox's
    # radius_* and ftp_*): nameable in lifecycle.ignore_changes even when no object has one yet.
    attributes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # What services' compile hooks read outside the estate's files (``Inputs``).
    inputs: tuple[NamedInputs, ...] = ()

    def inputs_key(self, site: SiteFile, env: Mapping[str, str]) -> bytes:
        """Every service's inputs digest in one value: a run whose hooks would read anything else
        outside the files gives another. A function two services share (the DNS and OpenDKIM
        services both read the DKIM key store) is called once."""
        parts = []
        for inputs in dict.fromkeys(named.inputs for named in self.inputs):
            digest = inputs(site, env)
            parts.append(len(digest).to_bytes(4, "big") + digest)
        return b"".join(parts)

    @classmethod
    def build(cls, sections: Iterable[Section[Any]] = (), overrides: Iterable[EnvOverride] = (),
              extensions: Iterable[NamedExtension] = (), default_providers: Sequence[str] = (),
              attributes: Mapping[str, Iterable[str]] | None = None,
              inputs: Iterable[NamedInputs] = ()) -> EstateSchema:
        """Compose the models; a section name taken twice (or by a core field) is refused."""
        by_file: dict[FileKind, list[Section[Any]]] = {kind: [] for kind in _BASES}
        for section in sections:
            base = _BASES[section.file]
            taken = {s.name for s in by_file[section.file]} | set(base.model_fields) | set(dir(base))
            if section.name in taken:
                raise ConfigError(f"two definitions of the {section.file} file's section {section.name!r}")
            by_file[section.file].append(section)
        mailbox = _compose("Mailbox", Mailbox, by_file["mailbox"])
        domain = _compose("DomainFile", DomainFile, by_file["domain"],
                          mailboxes=(dict[LocalPart, mailbox], Field(default_factory=dict)))  # type: ignore[valid-type]
        site = _compose("SiteFile", SiteFile, by_file["site"], providers=(tuple[str, ...], Field(
            tuple(default_providers),
            description="services this estate reconciles; ISPCTL_PROVIDERS overrides it per machine")))
        tenant = _compose("TenantFile", TenantFile, by_file["tenant"])
        files = FileModels(site, tenant, domain, mailbox)
        declared = {kind: frozenset(names) for kind, names in (attributes or {}).items()}
        return cls(files, tuple(overrides), tuple(extensions), declared, tuple(inputs))


def _compose(name: str, base: type[Any], sections: list[Section[Any]], **more: Any) -> type[Any]:
    fields: dict[str, Any] = dict(more)
    for section in sections:
        description = section.description or None
        if section.required:
            fields[section.name] = (section.model, Field(description=description))
        elif section.default is not None:
            fields[section.name] = (section.model, Field(section.default, description=description))
        else:
            fields[section.name] = (section.model | None, Field(None, description=description))
    if not fields:
        return base
    composed: type[Any] = create_model(name, __base__=base, __module__=base.__module__, **fields)
    return composed
