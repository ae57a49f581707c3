"""Backend of ``ispctl sandbox up|down|status|env``: local throwaway services for trying ispctl.

The orchestration knows no service. Each service contributes a *component* (named by a dotted
path in ``COMPONENTS``) that can start itself detached from a work directory, describe itself as
JSON-able state, and stop again from that state in a later CLI process. Adding a service (named,
dovecot, ...) means adding one entry to ``COMPONENTS``; a component names the engine providers
it serves in a ``providers`` attribute, and ``env`` joins them into ``ISPCTL_PROVIDERS``.
Components start in list order, and each one receives the environment exported by the ones
before it (Dovecot connects to the sandbox's slapd through the ldap component's ``ISPCTL_LDAP_*``).

Layout under ``root`` (the caller picks it, normally ``.sandbox/`` in the current directory)::

    state.json      component states (0600: it holds the sandbox's generated passwords)
    .lock           serialises concurrent ``up``/``down`` calls
    <component>/    one work directory per component (kept by ``down`` unless purged)
"""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import shlex
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

COMPONENTS: list[str] = [
    "providers.ldap.sandbox_component:LdapComponent",
    "providers.dovecot.sandbox_component:DovecotComponent",
    "providers.dns.sandbox_component:DnsComponent",
]
STATE_FILE = "state.json"
PROVIDERS_VAR = "ISPCTL_PROVIDERS"


class SandboxError(Exception):
    """The sandbox is not in a state that allows the requested operation."""


class SandboxComponent(Protocol):
    """What a service provides to take part in the sandbox."""

    name: str

    def up(self, workdir: Path, previous: dict[str, Any] | None,
           context_env: Mapping[str, str]) -> dict[str, Any]:
        """Start detached (reusing data in ``workdir``) and return the state to persist.

        ``context_env`` holds what the components before this one export (their ``env``).
        A component may also name directories of the sandbox root outside its work directory
        that belong to it in an ``extra_dirs`` attribute; ``down --purge`` removes them.
        """
        ...

    def down(self, state: dict[str, Any]) -> bool:
        """Stop the daemon described by ``state``; True when something was running."""
        ...

    def status(self, state: dict[str, Any]) -> dict[str, Any]:
        """``{"running": bool, "pid": int | None, "url": str | None}`` for ``state``."""
        ...

    def env(self, state: dict[str, Any]) -> dict[str, str]:
        """Environment variables that point ispctl at this component."""
        ...


def load_components(paths: list[str] | None = None) -> list[SandboxComponent]:
    """Instantiate the components named ``"package.module:Class"``."""
    components: list[SandboxComponent] = []
    for dotted in COMPONENTS if paths is None else paths:
        module_name, _, attr = dotted.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        components.append(factory())
    return components


def _read_state(root: Path) -> dict[str, Any]:
    path = root / STATE_FILE
    if not path.exists():
        return {"components": {}}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("components", {})
    return data


def _write_state(root: Path, state: dict[str, Any]) -> None:
    # Write-then-rename so a crash never leaves a truncated state file behind; the file is
    # created 0600 because it carries generated passwords.
    tmp = root / f".{STATE_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, root / STATE_FILE)


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the sandbox so two CLI calls cannot start it twice."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def up(root: Path, components: list[str] | None = None) -> dict[str, Any]:
    """Start every component that is not running yet; report what each one is doing.

    Returns ``{"root": str, "components": {name: {"action": "started" | "already running",
    "running", "pid", "url"}}}``. State is saved after each component, so when a later one fails
    the ones already started are still known to ``down``.
    """
    root = root.absolute()
    report: dict[str, Any] = {"root": str(root), "components": {}}
    with _locked(root):
        state = _read_state(root)
        context_env: dict[str, str] = {}
        for component in load_components(components):
            previous = state["components"].get(component.name)
            if previous is not None and component.status(previous)["running"]:
                action = "already running"
            else:
                state["components"][component.name] = component.up(
                    root / component.name, previous, dict(context_env))
                _write_state(root, state)
                action = "started"
            current = component.status(state["components"][component.name])
            report["components"][component.name] = {"action": action, **current}
            context_env.update(component.env(state["components"][component.name]))
    return report


def down(root: Path, purge: bool = False, components: list[str] | None = None) -> None:
    """Stop every component; with ``purge`` also delete their data and the state file."""
    root = root.absolute()
    if not root.exists():
        return
    with _locked(root):
        state = _read_state(root)
        # Reverse start order: a service stops before the directory it reads from.
        for component in reversed(load_components(components)):
            previous = state["components"].get(component.name)
            if previous is not None:
                component.down(previous)
            if purge:
                shutil.rmtree(root / component.name, ignore_errors=True)
                for extra in getattr(component, "extra_dirs", ()):
                    shutil.rmtree(root / extra, ignore_errors=True)
                purge_hook = getattr(component, "purge", None)
                if previous is not None and purge_hook is not None:
                    purge_hook(previous)  # data a component keeps outside the sandbox root
                state["components"].pop(component.name, None)
        if purge and not state["components"]:
            (root / STATE_FILE).unlink(missing_ok=True)
        elif (root / STATE_FILE).exists():
            # Keep the state (ports, passwords) so the next ``up`` reuses the kept data.
            _write_state(root, state)
    if purge:
        (root / ".lock").unlink(missing_ok=True)
        try:
            root.rmdir()
        except OSError:
            pass  # not empty: something else lives there, leave it


def status(root: Path, components: list[str] | None = None) -> dict[str, Any]:
    """``{"root": str, "components": {name: {"running", "pid", "url"}}}``."""
    root = root.absolute()
    state = _read_state(root)
    report: dict[str, Any] = {"root": str(root), "components": {}}
    for component in load_components(components):
        previous = state["components"].get(component.name)
        if previous is None:
            report["components"][component.name] = {"running": False, "pid": None, "url": None}
        else:
            report["components"][component.name] = component.status(previous)
    return report


def env(root: Path, components: list[str] | None = None) -> dict[str, str]:
    """Environment for ispctl pointing at the running sandbox; raises when it is not up.

    ``ISPCTL_PROVIDERS`` is set to the providers the sandbox serves, joined from every
    component (``served_providers``, and any ``ISPCTL_PROVIDERS`` a component exports itself),
    so ispctl run against the sandbox reconciles exactly the services that are there.
    """
    root = root.absolute()
    state = _read_state(root)
    result: dict[str, str] = {}
    served: list[str] = []
    for component in load_components(components):
        previous = state["components"].get(component.name)
        if previous is None or not component.status(previous)["running"]:
            raise SandboxError(
                f"sandbox component {component.name} in {root} is not running "
                "(run: ispctl sandbox up)"
            )
        exported = dict(component.env(previous))
        served += [n.strip() for n in exported.pop(PROVIDERS_VAR, "").split(",") if n.strip()]
        served += served_providers(component)
        result.update(exported)
    if served:
        result[PROVIDERS_VAR] = ",".join(dict.fromkeys(served))
    return result


def served_providers(component: SandboxComponent) -> tuple[str, ...]:
    """The engine providers a component lets ispctl run against the sandbox.

    A component names them in a ``providers`` attribute (the mail store runs wherever the
    Dovecot component keeps the mail); without one, a component named like a registered
    provider (``ldap``) serves that provider.
    """
    declared = getattr(component, "providers", None)
    if declared is not None:
        return tuple(declared)
    from .engine import PROVIDERS  # the registry; imported late, it pulls in the whole engine

    return (component.name,) if component.name in PROVIDERS else ()


def shell_exports(variables: dict[str, str]) -> str:
    """POSIX shell ``export`` lines, for ``eval "$(ispctl sandbox env)"``."""
    lines = (f"export {key}={shlex.quote(value)}\n" for key, value in sorted(variables.items()))
    return "".join(lines)
