"""Yes/no settings: one set of spellings for every switch, in the environment and in YAML.

A switch accepts ``true``/``false``, ``yes``/``no``, ``on``/``off`` and ``1``/``0``, in any
case, and nothing else. Anything else is refused with the variable's or field's name:
reading an unknown word as "off" once turned ``ISPCTL_LDAP_STARTTLS=on`` into a clear-text
bind, and pydantic's own lax parsing would take ``t``, ``n`` or ``1.0`` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BeforeValidator

from ispctl.reconciler.engine.errors import ConfigError

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
SPELLINGS = "true/false, yes/no, on/off or 1/0 (any case)"


class NotAFlag(ValueError):
    """The value is none of the accepted spellings."""


def flag_value(value: object) -> bool:
    """The switch's value; ``NotAFlag`` for anything outside the documented spellings."""
    if isinstance(value, bool):
        return value
    # YAML reads a bare 1 or 0 as an integer; 1.0 or 2 are not switches.
    if type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise NotAFlag(f"must be {SPELLINGS}")


def env_flag(env: Mapping[str, str], variable: str, default: bool = False) -> bool:
    """A switch from the environment: unset or empty means ``default``; typos are errors."""
    raw = env.get(variable, "")
    if not raw.strip():
        return default
    try:
        return flag_value(raw)
    except NotAFlag:
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise ConfigError(f"{variable} must be {SPELLINGS} (got {shown!r})") from None


def _validate(value: object) -> bool:
    try:
        return flag_value(value)
    except NotAFlag as exc:
        # pydantic reports ValueError's text with the field's file:line:column.
        raise ValueError(str(exc)) from None


# A yes/no field of a desired-state file.
Flag = Annotated[bool, BeforeValidator(_validate)]
