"""Settings that belong to an environment rather than to the estate.

The estate in git says what customers have; where the live services keep things can
differ between production, staging and a developer's sandbox. A few site settings may
therefore be overridden from the environment, and only these:

``ISPCTL_DESIRED_STATE``  the desired-state folder (default ``./desired-state``)
``ISPCTL_PROVIDERS``      ``providers``: which services run on this machine, comma separated
                          (a CI runner may reach the directory but not the mail store)

and the ones services declare for their own sections (``EnvOverride``: the mail store's
``ISPCTL_MAIL_ROOT`` sets ``mail.root``). Connection settings (``ISPCTL_LDAP_*``,
``ISPCTL_DNS_*``) are read by each provider.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ispctl.reconciler.engine.errors import ConfigError, Location, Problem, ValidationFailed
from ispctl.reconciler.estate.loader import SITE_FILE
from ispctl.reconciler.estate.model import Section, SiteFile
from ispctl.reconciler.estate.model_errors import check_model
from ispctl.reconciler.estate.sources import is_reference, reseller_site
from ispctl.reconciler.estate.yamlload import load_document


@dataclass(frozen=True)
class EnvOverride:
    """An environment variable that sets one field of a site section on this machine."""

    variable: str
    section: Section[Any]
    field: str


def desired_root(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("ISPCTL_DESIRED_STATE") or "desired-state")


def enabled_providers(site: SiteFile, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    raw = env.get("ISPCTL_PROVIDERS", "").strip()
    if not raw:
        return site.providers
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if not names:
        raise ConfigError("ISPCTL_PROVIDERS names no provider")
    return names


def with_overrides(site: SiteFile, overrides: Iterable[EnvOverride],
                   env: Mapping[str, str] | None = None) -> SiteFile:
    """The site settings with the environment's overrides applied (validated like the file)."""
    env = os.environ if env is None else env
    changed: dict[str, Any] = {}
    for items in _by_section(o for o in overrides if env.get(o.variable)).values():
        section = items[0].section
        current = site.section(section)
        values = {o.field: env[o.variable] for o in items}
        try:
            changed[section.name] = section.model.model_validate({**current.model_dump(), **values})
        except ValidationError as exc:
            first = exc.errors(include_input=False)[0]
            name = next(o.variable for o in items if o.field == first["loc"][0])
            raise ConfigError(f"{name}: {first['msg']}") from None
    return site.model_copy(update=changed) if changed else site


def _by_section(overrides: Iterable[EnvOverride]) -> dict[str, list[EnvOverride]]:
    found: dict[str, list[EnvOverride]] = {}
    for override in overrides:
        found.setdefault(override.section.name, []).append(override)
    return found


def load_site(root: Path, model: type[SiteFile], overrides: Iterable[EnvOverride] = (),
              env: Mapping[str, str] | None = None) -> SiteFile:
    """The site settings alone (``ispctl.yaml``, validated as ``ispctl validate`` does, with the
    environment's overrides): for commands that need no tenant files, such as ``render``."""
    path = root / SITE_FILE
    display = str(Path(root.absolute().name) / SITE_FILE)
    if not path.is_file():
        raise ValidationFailed([Problem(Location(display), "", "site settings file is missing "
                                        "(use --dir or $ISPCTL_DESIRED_STATE)")])
    doc, problems = load_document(path, display)
    if doc is not None and not problems and is_reference(doc):
        # A reseller's repository: the settings are those of the estate it belongs to.
        referenced, problems = reseller_site(root, doc, model, env)
        if referenced is None or problems:
            raise ValidationFailed(sorted(problems))
        return with_overrides(referenced, overrides, env)
    site = None
    if doc is not None:
        site, more = check_model(doc, model)
        problems = problems + more
    if problems or not isinstance(site, SiteFile):
        raise ValidationFailed(sorted(problems))
    return with_overrides(site, overrides, env)
