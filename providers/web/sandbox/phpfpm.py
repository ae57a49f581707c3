"""A real php-fpm 8.2 in the foreground, configured from scratch in a work directory.

Used by the test-suite and by ``ispctl sandbox``: ``php-fpm8.2 -F -y <workdir>/php-fpm.conf``
whose main config ``include``s ``<pools_dir>/*.conf``, the one pool file per PHP site that ispctl
renders. The sites' pools listen on Unix sockets in the web layout's ``socket_dir``, where
Apache's ``proxy_fcgi`` reaches them.

php-fpm refuses to start without a single pool ("No pool defined"), and a sandbox or a test
starts before ispctl has rendered any site. So the main config carries one internal pool of
its own, ``ispctl-sandbox-internal``: ``pm = ondemand`` (no worker runs until someone connects),
as ``nobody``, on a root-only socket in the work directory. Its socket is also how we know the
master is up: php-fpm opens every pool's socket before it serves, and has no TCP port to poll.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.web.sandbox.apache import WebLayout, exited
from ispctl.reconciler.harness.daemons import Daemon, DaemonError, log_tail, read_pid, require_binary, socket_path
from ispctl.reconciler.harness.instance import DaemonInstance

BINARY = "php-fpm8.2"
PACKAGE = "php8.2-fpm"
INTERNAL_POOL = "ispctl-sandbox-internal"
# sun_path is 108 bytes on Linux; leave room for the terminating NUL and some slack.
_MAX_SOCKET_PATH = 100
# What the master logs once it serves, after a start and after every reload (SIGUSR2 re-execs it).
_READY = "ready to handle connections"


def unix_accepts(path: Path, timeout: float = 0.2) -> bool:
    """True when something accepts connections on the Unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fsencode(path))
        except OSError:
            return False
        return True


class _SocketDaemon(Daemon):
    """A daemon whose readiness is a Unix socket accepting connections (php-fpm has no TCP port)."""

    def __init__(self, name: str, argv: list[str], workdir: Path, ready_socket: Path, *, marker: str,
                 env: dict[str, str]) -> None:
        # Port 0 never answers, so the base class's "port already in use" check never fires;
        # the instance checks the socket itself before starting.
        super().__init__(name, argv, workdir, "127.0.0.1", 0, marker=marker, env=env)
        self.ready_socket = ready_socket

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while not unix_accepts(self.ready_socket):
            code = self._proc.poll()
            if code is not None:
                raise DaemonError(f"{self.name} exited with status {code} before accepting connections on "
                                  f"{self.ready_socket}; last lines of {self.log_file}:\n{log_tail(self.log_file)}")
            if time.monotonic() > deadline:
                raise DaemonError(f"{self.name} did not accept connections on {self.ready_socket} within "
                                  f"{timeout:g} s; last lines of {self.log_file}:\n{log_tail(self.log_file)}")
            time.sleep(0.01)


class PhpFpmInstance(DaemonInstance):
    """One php-fpm master with its config, pool files and log under ``workdir``."""

    daemon_name = "php-fpm"
    port_keys = ()

    def __init__(self, workdir: Path, *, public: Path | None = None) -> None:
        super().__init__(workdir)
        self.layout = WebLayout(Path(public).absolute() if public is not None else self.workdir / "public")

    # -- locations ---------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.workdir / "php-fpm.conf"

    @property
    def pools_dir(self) -> Path:
        """Where ispctl's pool files go (``include=<pools_dir>/*.conf``)."""
        return self.workdir / "pools"

    @property
    def fpm_pidfile(self) -> Path:
        """php-fpm's own pid file (the harness keeps its own beside it)."""
        return self.workdir / "run" / "php-fpm.pid"

    @property
    def internal_socket(self) -> Path:
        return socket_path(self.workdir / "internal.sock", self.workdir, "ispctl-php-fpm", _MAX_SOCKET_PATH)

    @property
    def marker(self) -> str:
        # The master retitles itself "php-fpm: master process (<config>)": the path survives.
        return str(self.config_file)

    @property
    def url(self) -> str:
        return f"unix:{self.internal_socket}"

    def test_argv(self) -> list[str]:
        """``php-fpm8.2 -t`` against this instance's config (what ispctl runs before a reload)."""
        return [require_binary(BINARY, PACKAGE), "-t", "-y", str(self.config_file)]

    def reload_argv(self) -> list[str]:
        """SIGUSR2 to the master named in php-fpm's own pid file (php-fpm has no ``-k``)."""
        return [require_binary("pkill", "procps"), "-USR2", "--pidfile", str(self.fpm_pidfile)]

    def env(self) -> dict[str, str]:
        """What points ispctl's web provider at this php-fpm (the Apache half adds its own)."""
        return {
            "ISPCTL_WEB_POOLS_DIR": str(self.pools_dir),
            "ISPCTL_WEB_SOCKET_DIR": str(self.layout.socket_dir),
            "ISPCTL_WEB_PHP_TEST": shlex.join(self.test_argv()),
            "ISPCTL_WEB_PHP_RELOAD": shlex.join(self.reload_argv()),
        }

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "public": str(self.layout.public)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PhpFpmInstance:
        public = state.get("public")
        return cls(Path(state["workdir"]), public=Path(public) if public else None)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, detach: bool = False) -> None:
        binary = require_binary(BINARY, PACKAGE)
        if self.running():
            raise DaemonError(f"php-fpm in {self.workdir} is already running")
        if unix_accepts(self.internal_socket):
            raise DaemonError(f"php-fpm: {self.internal_socket} is already served by another process")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pools_dir.mkdir(exist_ok=True)
        self.fpm_pidfile.parent.mkdir(exist_ok=True)
        self.layout.create()
        self.config_file.write_text(self._config(), encoding="utf-8")
        # Without NOTIFY_SOCKET php-fpm (built with systemd support) does not talk to systemd.
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        argv = [binary, "-F", "-y", str(self.config_file)]
        self._daemon = _SocketDaemon(self.daemon_name, argv, self.workdir, self.internal_socket, marker=self.marker,
                                     env=env)
        mark = len(self.log_text())  # a restart appends to the same log
        self._daemon.start(detach=detach)
        # Its sockets are open; its own "ready" line says the master's event loop (and with it
        # the SIGUSR2 handler a reload needs) is running too.
        try:
            self.wait_ready(mark, timeout=10.0)
        except DaemonError:
            self.stop()
            raise

    def _stopped(self) -> None:
        # A master killed hard leaves its sockets behind; a later start binds them afresh anyway.
        self.internal_socket.unlink(missing_ok=True)

    def _config(self) -> str:
        return f"""; Written by ispctl's web sandbox; rewritten on every start.
[global]
pid = {self.fpm_pidfile}
; The harness's own log (stdout/stderr) is this file too, so one file tells the whole story.
error_log = {self.log_file}
log_level = notice
daemonize = no
include = {self.pools_dir}/*.conf

; php-fpm needs at least one pool; this one runs nothing until connected to (see the module).
[{INTERNAL_POOL}]
user = nobody
group = nogroup
listen = {self.internal_socket}
listen.owner = root
listen.group = root
listen.mode = 0600
pm = ondemand
pm.max_children = 1
"""

    # -- tools for tests, the sandbox and people ----------------------------------------

    def config_test(self) -> subprocess.CompletedProcess[str]:
        """``php-fpm8.2 -t`` on this instance's config as it is on disk now (pool files included)."""
        return subprocess.run(self.test_argv(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False, timeout=60)

    def log_text(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""

    def reload(self, timeout: float = 30.0) -> None:
        """Reload (SIGUSR2: the master re-executes itself) and wait until it serves again.

        The config is tested first: a master that re-executes into a broken config exits, and
        every PHP site with it. Raises DaemonError with php-fpm's message when the test fails
        or the master died.
        """
        pid = self.pid
        if pid is None:
            raise DaemonError(f"php-fpm in {self.workdir} is not running")
        tested = self.config_test()
        if tested.returncode != 0:
            raise DaemonError(f"php-fpm config test failed, not reloading: {tested.stderr.strip()}")
        mark = len(self.log_text())
        os.kill(pid, signal.SIGUSR2)
        self.wait_ready(mark, timeout)

    def wait_ready(self, since: int, timeout: float = 30.0) -> None:
        """Wait until the master logs, after offset ``since`` of its log, that it serves again;
        for a reload someone else signalled (``reload_argv``)."""
        deadline = time.monotonic() + timeout
        pid = read_pid(self.pidfile)
        while _READY not in self.log_text()[since:]:
            if exited(pid):
                raise DaemonError(f"php-fpm exited before it was ready; last lines of {self.log_file}:\n"
                                  f"{log_tail(self.log_file)}")
            if time.monotonic() > deadline:
                raise DaemonError(f"php-fpm did not log that it is ready within {timeout:g} s; see {self.log_file}")
            time.sleep(0.01)
