"""A real OpenDKIM on loopback, configured by exactly what ``render`` ships to operators.

The instance runs from ``instance-opendkim.conf``: the rendered ``opendkim.conf`` (tables in the
workdir, the milter socket on a free loopback port, its own pidfile, no syslog, no user switch)
and, only when the key directory lies below a directory others may write to such as ``/tmp``
(OpenDKIM then refuses every key, and pytest's temp dirs are there), ``RequireSafeKeys false``.
"""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.opendkim.render import CONF_FILE, SigningKey, render, write_files
from ispctl.reconciler.harness.daemons import DaemonError, free_port, port_accepts, require_binary
from ispctl.reconciler.harness.instance import DaemonInstance

HOST = "127.0.0.1"
INSTANCE_CONF = "instance-opendkim.conf"


def unsafe_ancestor(path: Path) -> Path | None:
    """The first directory above ``path`` that group or others may write to, if any."""
    for parent in reversed(path.absolute().parents):
        try:
            if parent.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return parent
        except FileNotFoundError:
            return None
    return None


class OpenDkimInstance(DaemonInstance):
    """One opendkim signing with the keys given, its config, tables, pidfile and log in ``workdir``."""

    daemon_name = "opendkim"

    def __init__(self, workdir: Path, key_dir: str | Path, keys: Iterable[SigningKey] = (),
                 *, port: int | None = None) -> None:
        super().__init__(workdir)
        self.key_dir = str(Path(key_dir).absolute())
        self.keys = list(keys)
        self.port = port or free_port(HOST)

    @property
    def config_file(self) -> Path:
        """The shipped opendkim.conf plus the instance's lines; it reads the tables beside it,
        so 'ispctl render opendkim --out <workdir>' changes what this instance signs."""
        return self.workdir / INSTANCE_CONF

    @property
    def marker(self) -> str:
        return str(self.config_file)

    @property
    def url(self) -> str:
        return f"inet:{self.port}@{HOST}"

    @property
    def milter(self) -> str:
        """The milter address as Postfix writes it (``smtpd_milters``)."""
        return f"inet:{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        return {"ISPCTL_DKIM_DIR": self.key_dir, "ISPCTL_OPENDKIM_MILTER": self.milter}

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "key_dir": self.key_dir, "port": self.port,
                "keys": [[k.domain, k.selector, list(k.published)] for k in self.keys]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> OpenDkimInstance:
        keys = [SigningKey(d, s, tuple(p)) for d, s, p in state.get("keys") or ()]
        workdir = Path(state["workdir"])
        return cls(workdir, state.get("key_dir") or workdir.parent / "dkim", keys, port=state.get("port"))

    def write_config(self) -> None:
        files = render(self.keys, self.key_dir, str(self.workdir), self.url, user=None,
                       pidfile=str(self.workdir / "opendkim.run.pid"), syslog=False)
        instance = files[CONF_FILE]
        if unsafe_ancestor(Path(self.key_dir)) is not None:
            instance += "# The instance's own: its keys lie below a directory others may write to (/tmp).\n"
            instance += "RequireSafeKeys false\n"
        files[INSTANCE_CONF] = instance
        write_files(files, self.workdir)

    def start(self, detach: bool = False) -> None:
        self.write_config()
        self.start_with_existing_config(detach)

    def start_with_existing_config(self, detach: bool = False) -> None:
        """Start from the files in the workdir as they are (the sandbox's, rendered by the CLI)."""
        opendkim = require_binary("opendkim", "opendkim")
        if self.running():
            raise DaemonError(f"opendkim in {self.workdir} is already running")
        self._run([opendkim, "-f", "-x", str(self.config_file)], HOST, self.port, detach)

    def reload(self) -> None:
        """SIGUSR1: OpenDKIM reads its configuration and tables again (the socket stays)."""
        pid = self.pid
        if pid is None:
            raise DaemonError(f"opendkim in {self.workdir} is not running")
        os.kill(pid, signal.SIGUSR1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then wake the milter's listener so the signal takes effect at once.

        libmilter's listener looks at its stop flag only when its poll returns: at a
        connection or every 5 s, so a plain SIGTERM costs up to 5 s per stop. Connecting until
        the socket refuses wakes it; the harness's stop then waits (or kills) as for any daemon."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + min(timeout, 2.0)
            while port_accepts(HOST, self.port) and time.monotonic() < deadline:
                time.sleep(0.02)
        super().stop(timeout)
