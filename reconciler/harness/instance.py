"""The one base of the daemon instances services run in tests and the sandbox."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ispctl.reconciler.harness.daemons import Daemon, pid_alive, read_pid, stop_pidfile


class DaemonInstance(ABC):
    """One real daemon with its configuration, data, pidfile and log under ``workdir``.

    Subclasses write their configuration and call ``_run`` with their command line; a later
    process (``ispctl sandbox down``) rebuilds the instance from ``to_state`` and stops it
    through the pidfile, but only a process whose argv holds ``marker`` (the instance's own
    config path), so one sandbox or test never stops another's daemon.
    """

    daemon_name: ClassVar[str]
    # Keys of ``to_state`` holding ports: a restarted sandbox keeps them unless they were taken.
    port_keys: ClassVar[tuple[str, ...]] = ("port",)

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).absolute()
        self._daemon: Daemon | None = None

    @property
    @abstractmethod
    def marker(self) -> str:
        """What must appear in the daemon's argv (its own config path)."""

    @property
    @abstractmethod
    def url(self) -> str | None:
        """Where the daemon answers, for people."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """Environment that points ispctl (or people) at this daemon."""

    @abstractmethod
    def start(self, detach: bool = False) -> None:
        """Configure and start the daemon; ``detach`` lets it outlive this process (the sandbox)."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """JSON-able state from which ``from_state`` rebuilds this instance in another process."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: Mapping[str, Any]) -> DaemonInstance: ...

    @property
    def pidfile(self) -> Path:
        return self.workdir / f"{self.daemon_name}.pid"

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.daemon_name}.log"

    @property
    def pid(self) -> int | None:
        return read_pid(self.pidfile) if self.running() else None

    def running(self) -> bool:
        return pid_alive(self.pidfile, self.marker)

    def _run(self, argv: list[str], host: str, port: int, detach: bool,
             env: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        """Start the daemon in the foreground and wait until ``host:port`` answers."""
        self._daemon = Daemon(self.daemon_name, argv, self.workdir, host, port, marker=self.marker, env=env)
        self._daemon.start(detach=detach, timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._daemon is not None:
            self._daemon.stop(timeout)
            self._daemon = None
        else:
            stop_pidfile(self.pidfile, self.marker, timeout)
        self._stopped()

    def _stopped(self) -> None:  # noqa: B027 - an optional hook
        """Clean up after the daemon is gone (stale sockets); nothing by default."""
