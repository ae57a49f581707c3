"""Settings that belong to an environment rather than to the estate.

The estate in git says what customers have; where the live services keep things can
differ between production, staging and a developer's sandbox. A few site settings may
therefore be overridden from the environment, and only these:

``ISPCTL_DESIRED_STATE``  the desired-state folder (default ``./desired-state``)
``ISPCTL_MAIL_ROOT``      ``mail.root``: where mailbox homes live
``ISPCTL_MAIL_UID``       ``mail.uid``: owner of mailbox homes
``ISPCTL_MAIL_GID``       ``mail.gid``
``ISPCTL_PROVIDERS``      ``providers``: which providers run on this machine, comma separated
                          (a CI runner may reach the directory but not the mail store)

Connection settings (``ISPCTL_LDAP_*`` and later services') are read by each provider.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from .errors import ConfigError, Location, Problem, ValidationFailed
from .loader import SITE_FILE, check_model
from .model import MailSettings, SiteFile
from .yamlload import load_document

MAIL_OVERRIDES = {"ISPCTL_MAIL_ROOT": "root", "ISPCTL_MAIL_UID": "uid", "ISPCTL_MAIL_GID": "gid"}


def load_site(root: Path, env: Mapping[str, str] | None = None) -> SiteFile:
    """The site settings alone (``ispctl.yaml``, validated as ``ispctl validate`` does, with the
    environment's overrides): for commands that need no tenant files, such as ``render``."""
    path = root / SITE_FILE
    display = str(Path(root.absolute().name) / SITE_FILE)
    if not path.is_file():
        raise ValidationFailed([Problem(Location(display), "", "site settings file is missing "
                                        "(use --dir or $ISPCTL_DESIRED_STATE)")])
    doc, problems = load_document(path, display)
    site = None
    if doc is not None:
        site, more = check_model(doc, SiteFile)
        problems = problems + more
    if problems or not isinstance(site, SiteFile):
        raise ValidationFailed(sorted(problems))
    return with_overrides(site, env)


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


def with_overrides(site: SiteFile, env: Mapping[str, str] | None = None) -> SiteFile:
    """The site settings with the environment's overrides applied (validated like the file)."""
    env = os.environ if env is None else env
    changes = {field: env[name] for name, field in MAIL_OVERRIDES.items() if env.get(name)}
    if not changes:
        return site
    try:
        mail = MailSettings.model_validate({**site.mail.model_dump(), **changes})
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        name = next(n for n, f in MAIL_OVERRIDES.items() if f == first["loc"][0])
        raise ConfigError(f"{name}: {first['msg']}") from None
    return site.model_copy(update={"mail": mail})
