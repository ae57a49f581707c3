"""A real OpenDKIM on loopback, configured by exactly what ``render`` ships to operators.

The instance's ``opendkim.conf`` is the rendered one with the tables in the workdir, the milter
socket on a free loopback port and three lines of its own at the end (foreground pidfile, no
syslog, and ``RequireSafeKeys false`` only when the key directory lies below a directory others
may write to, such as ``/tmp``: OpenDKIM then refuses every key, and pytest's temp dirs are there).
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.opendkim.render import CONF_FILE, SigningKey, render, write_files
from ispctl.reconciler.harness.daemons import DaemonError, free_port, require_binary
from ispctl.reconciler.harness.instance import DaemonInstance

HOST = "127.0.0.1"


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
        return self.workdir / CONF_FILE

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
        extra = ["# The instance's own (tests / sandbox):", f"PidFile {self.workdir / 'opendkim.run.pid'}",
                 "Syslog no"]
        if unsafe_ancestor(Path(self.key_dir)) is not None:
            extra.append("RequireSafeKeys false")
        files = render(self.keys, self.key_dir, str(self.workdir), self.url, extra=extra)
        write_files(files, self.workdir)

    def start(self, detach: bool = False) -> None:
        opendkim = require_binary("opendkim", "opendkim")
        if self.running():
            raise DaemonError(f"opendkim in {self.workdir} is already running")
        self.write_config()
        self._run([opendkim, "-f", "-x", str(self.config_file)], HOST, self.port, detach)
