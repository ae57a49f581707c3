"""Backend of ``ispctl sandbox up|down|status|env``: local throwaway services for trying ispctl.

The orchestration knows no service. Each service may contribute a *component* (its
declaration's ``sandbox``; the command line passes them in registry order) that can start
itself detached from a work directory, describe itself as JSON-able state, and stop again
from that state in a later CLI process. A component names the services whose providers it
lets ispctl run (``providers``), and ``env`` joins them into ``ISPCTL_PROVIDERS``.
Components start in order, after the ones they ``need``, and each one receives the
environment exported by the ones before it (Dovecot connects to the sandbox's slapd through
the ldap component's ``ISPCTL_LDAP_*``).

Layout under ``root`` (the caller picks it, normally ``.sandbox/`` in the current directory)::

    state.json      component states (0600: it holds the sandbox's generated passwords)
    .lock           serialises concurrent ``up``/``down`` calls
    <component>/    one work directory per component (kept by ``down`` unless purged)
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from ispctl.reconciler.engine.errors import IspctlError
from ispctl.reconciler.harness.daemons import port_accepts
from ispctl.reconciler.harness.instance import DaemonInstance

STATE_FILE = "state.json"
PROVIDERS_VAR = "ISPCTL_PROVIDERS"


class SandboxError(IspctlError):
    """The sandbox is not in a state that allows the requested operation."""


class Component(ABC):
    """What a service provides to take part in the sandbox."""

    name: ClassVar[str]
    # The services whose providers ispctl may run against this component (``sandbox env``).
    providers: ClassVar[tuple[str, ...]] = ()
    # Components that must be up first (their exported environment is this one's input).
    needs: ClassVar[tuple[str, ...]] = ()
    # Entries of the sandbox root outside the work directory that belong to it (``down --purge``).
    extra_dirs: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def up(self, workdir: Path, previous: dict[str, Any] | None,
           context_env: Mapping[str, str]) -> dict[str, Any]:
        """Start detached (reusing data in ``workdir``) and return the state to persist.

        ``context_env`` holds what the components before this one export (their ``env``).
        """

    @abstractmethod
    def down(self, state: dict[str, Any]) -> bool:
        """Stop the daemon described by ``state``; True when something was running."""

    @abstractmethod
    def status(self, state: dict[str, Any]) -> dict[str, Any]:
        """``{"running": bool, "pid": int | None, "url": str | None}`` for ``state``."""

    @abstractmethod
    def env(self, state: dict[str, Any]) -> dict[str, str]:
        """Environment variables that point ispctl at this component."""

    def purge(self, state: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        """Remove data the component keeps outside the sandbox root (``down --purge``)."""


class InstanceComponent(Component):
    """A component that runs one ``DaemonInstance``, reusing its ports and data across restarts."""

    instance_class: ClassVar[type[DaemonInstance]]

    def instance(self, workdir: Path, previous: dict[str, Any] | None,
                 context_env: Mapping[str, str]) -> DaemonInstance:
        """The instance to start: a new one, or the last run's with its data and free ports."""
        if previous is None:
            return self.instance_class.from_state({"workdir": str(workdir)})
        saved = dict(previous)
        # Reuse the old ports so exported environments keep working, unless something else
        # took them while the sandbox was down (the data does not depend on them).
        for key in self.instance_class.port_keys:
            if saved.get(key) and port_accepts("127.0.0.1", int(saved[key])):
                saved[key] = None
        saved["workdir"] = str(workdir)
        return self.instance_class.from_state(saved)

    def up(self, workdir: Path, previous: dict[str, Any] | None,
           context_env: Mapping[str, str]) -> dict[str, Any]:
        instance = self.instance(workdir, previous, context_env)
        instance.start(detach=True)
        return instance.to_state()

    def down(self, state: dict[str, Any]) -> bool:
        instance = self.instance_class.from_state(state)
        was_running = instance.running()
        instance.stop()
        return was_running

    def status(self, state: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance_class.from_state(state)
        return {"running": instance.running(), "pid": instance.pid, "url": instance.url}

    def env(self, state: dict[str, Any]) -> dict[str, str]:
        return self.instance_class.from_state(state).env()


def ordered(components: Iterable[Component]) -> list[Component]:
    """Components in start order: as given, each after the ones it needs."""
    pending = list(components)
    names = {c.name for c in pending}
    done: list[Component] = []
    while pending:
        ready = next((c for c in pending if all(n in {d.name for d in done} or n not in names for n in c.needs)), None)
        if ready is None:
            raise SandboxError(f"sandbox components need each other in a circle: {', '.join(c.name for c in pending)}")
        done.append(ready)
        pending.remove(ready)
    return done


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


def up(root: Path, components: Iterable[Component]) -> dict[str, Any]:
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
        for component in ordered(components):
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


def down(root: Path, components: Iterable[Component], purge: bool = False) -> None:
    """Stop every component; with ``purge`` also delete their data and the state file."""
    root = root.absolute()
    if not root.exists():
        return
    with _locked(root):
        state = _read_state(root)
        # Reverse start order: a service stops before the directory it reads from.
        for component in reversed(ordered(components)):
            previous = state["components"].get(component.name)
            if previous is not None:
                component.down(previous)
            if purge:
                shutil.rmtree(root / component.name, ignore_errors=True)
                for extra in component.extra_dirs:
                    shutil.rmtree(root / extra, ignore_errors=True)
                if previous is not None:
                    component.purge(previous)  # data a component keeps outside the sandbox root
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


def status(root: Path, components: Iterable[Component]) -> dict[str, Any]:
    """``{"root": str, "components": {name: {"running", "pid", "url"}}}``."""
    root = root.absolute()
    state = _read_state(root)
    report: dict[str, Any] = {"root": str(root), "components": {}}
    for component in ordered(components):
        previous = state["components"].get(component.name)
        if previous is None:
            report["components"][component.name] = {"running": False, "pid": None, "url": None}
        else:
            report["components"][component.name] = component.status(previous)
    return report


def env(root: Path, components: Iterable[Component]) -> dict[str, str]:
    """Environment for ispctl pointing at the running sandbox; raises when it is not up.

    ``ISPCTL_PROVIDERS`` is set to the providers the sandbox serves, joined from every
    component (its ``providers``, and any ``ISPCTL_PROVIDERS`` a component exports itself),
    so ispctl run against the sandbox reconciles exactly the services that are there.
    """
    root = root.absolute()
    state = _read_state(root)
    result: dict[str, str] = {}
    served: list[str] = []
    for component in ordered(components):
        previous = state["components"].get(component.name)
        if previous is None or not component.status(previous)["running"]:
            raise SandboxError(
                f"sandbox component {component.name} in {root} is not running "
                "(run: ispctl sandbox up)"
            )
        exported = dict(component.env(previous))
        served += [n.strip() for n in exported.pop(PROVIDERS_VAR, "").split(",") if n.strip()]
        served += component.providers
        result.update(exported)
    if served:
        result[PROVIDERS_VAR] = ",".join(dict.fromkeys(served))
    return result


def shell_exports(variables: dict[str, str]) -> str:
    """POSIX shell ``export`` lines, for ``eval "$(ispctl sandbox env)"``."""
    lines = (f"export {key}={shlex.quote(value)}\n" for key, value in sorted(variables.items()))
    return "".join(lines)
