"""Service-agnostic helpers to run real daemons as child processes.

Every backing service ispctl talks to (slapd, named, Dovecot, ...) is run the same way in tests
and in the local sandbox: in the foreground, from its own work directory, on a loopback port.
This module knows nothing about any particular service: a service's instance class
(``DaemonInstance``) describes its command line and configuration, and this module starts it,
waits until it answers, and stops it again without ever touching an unrelated process.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path

from ispctl.reconciler.engine.errors import IspctlError

# Debian installs most daemons in sbin, which is not on a normal user's PATH.
_EXTRA_BIN_DIRS = ("/usr/sbin", "/sbin")
_LOG_TAIL_LINES = 20


class DaemonError(IspctlError):
    """The daemon could not be started (or did not become ready)."""


class DaemonUnavailable(DaemonError):
    """The daemon's binary is not installed on this machine."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free right now on ``host``.

    The kernel picks it, so parallel test runs do not collide; there is a small window before
    the daemon binds it, which ``Daemon.start`` detects (the port answering too early is refused).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_binary(binary: str, package: str, *, install: str | None = None) -> str:
    """Return the absolute path of ``binary`` or raise DaemonUnavailable naming the package.

    ``install`` is the package list to suggest to apt-get when a provider needs several packages
    together (e.g. slapd needs ldap-utils too); it defaults to ``package``.
    """
    search_path = os.pathsep.join(
        [p for p in os.environ.get("PATH", "").split(os.pathsep) if p] + list(_EXTRA_BIN_DIRS)
    )
    found = shutil.which(binary, path=search_path)
    if found is None:
        raise DaemonUnavailable(
            f'{binary} is not installed: run "apt-get install {install or package}" '
            f"(Debian package {package})"
        )
    return os.path.abspath(found)


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """Last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return ""


def read_pid(pidfile: Path) -> int | None:
    """PID recorded in a pidfile, or None when it is missing or garbled."""
    try:
        text = pidfile.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def _cmdline(pid: int) -> list[str] | None:
    """argv of a live process, or None when it is gone or a zombie (empty cmdline)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not raw:
        return None
    return raw.rstrip(b"\0").decode("utf-8", errors="replace").split("\0")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def _matches(pid: int, expect_in_cmdline: str) -> bool:
    argv = _cmdline(pid)
    return argv is not None and any(expect_in_cmdline in arg for arg in argv)


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _alive(pid: int) -> bool:
    _reap(pid)
    return Path(f"/proc/{pid}").exists() and not _is_zombie(pid)


def pids_matching(marker: str) -> list[int]:
    """Live processes (other than this one) with ``marker`` inside one of their arguments."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isascii() and entry.name.isdigit() and int(entry.name) != os.getpid():
            pid = int(entry.name)
            if _matches(pid, marker) and not _is_zombie(pid):
                found.append(pid)
    return sorted(found)


def pid_alive(pidfile: Path, expect_in_cmdline: str) -> bool:
    """True when the pidfile names a live process whose argv contains ``expect_in_cmdline``.

    The cmdline check guards against a stale pidfile whose PID the kernel has since handed to an
    unrelated process.
    """
    pid = read_pid(pidfile)
    return pid is not None and _alive(pid) and _matches(pid, expect_in_cmdline)


def _signal_group(pid: int, sig: int) -> None:
    # Daemons are started as session leaders, so their process group id equals their pid and
    # signalling the group also reaches helpers they forked. Fall back to the single process
    # when it is not a group leader (someone else started it).
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return not _alive(pid)


def stop_pidfile(pidfile: Path, expect_in_cmdline: str, timeout: float = 10.0) -> bool:
    """Stop the process named in ``pidfile`` (SIGTERM, then SIGKILL after ``timeout``).

    Only kills when ``/proc/<pid>/cmdline`` contains ``expect_in_cmdline``; returns True when a
    process was stopped, False when there was nothing (left) to stop. The pidfile is removed in
    both cases, since it no longer describes a running daemon.
    """
    pid = read_pid(pidfile)
    stopped = False
    if pid is not None and _alive(pid) and _matches(pid, expect_in_cmdline):
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
        stopped = True
    pidfile.unlink(missing_ok=True)
    return stopped


class _Popen(subprocess.Popen[bytes]):
    """Popen whose child may be meant to outlive the handle.

    The stock ``__del__`` warns "subprocess is still running" (ResourceWarning) when the handle is
    dropped before the child exits; for a detached daemon that is the intended outcome.
    """

    detached = False

    def __del__(self) -> None:
        if self.detached and self.poll() is None:
            return
        super().__del__()


class Daemon:
    """One foreground daemon process with its log and pidfile in ``workdir``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        workdir: Path,
        host: str,
        port: int,
        *,
        marker: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.workdir = Path(workdir)
        self.host = host
        self.port = port
        # What must appear in the process's argv before we signal it via the pidfile; providers
        # pass something instance-specific (their config dir) so one sandbox never stops another.
        self.marker = marker or self.argv[0]
        self.env = env
        self._proc: _Popen | None = None

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pidfile(self) -> Path:
        return self.workdir / f"{self.name}.pid"

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        return read_pid(self.pidfile)

    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return pid_alive(self.pidfile, self.marker)

    def start(self, detach: bool = False, timeout: float = 10.0) -> None:
        """Start the daemon and wait until its TCP port accepts connections.

        With ``detach`` the daemon is meant to outlive this Python process (the sandbox CLI);
        a later process finds it again through the pidfile (see ``stop_pidfile``).
        """
        if self.running():
            raise DaemonError(f"{self.name} is already running (pid {self.pid})")
        if port_accepts(self.host, self.port):
            # Otherwise the readiness poll below would be satisfied by someone else's server.
            raise DaemonError(f"{self.name}: port {self.host}:{self.port} is already in use")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._proc = _Popen(
                self.argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
            )
        self.pidfile.write_text(f"{self._proc.pid}\n", encoding="ascii")
        try:
            self._wait_ready(timeout)
        except DaemonError:
            self.stop(timeout=2.0)
            raise
        # The child runs in its own session, so it already survives our exit; detaching only
        # means dropping the handle later is expected rather than a leak worth a warning.
        self._proc.detached = detach

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise DaemonError(
                    f"{self.name} exited with status {code} before accepting connections on "
                    f"{self.host}:{self.port}; last lines of {self.log_file}:\n"
                    f"{log_tail(self.log_file)}"
                )
            if port_accepts(self.host, self.port):
                return
            time.sleep(0.02)
        raise DaemonError(
            f"{self.name} did not accept connections on {self.host}:{self.port} within "
            f"{timeout:g} s; last lines of {self.log_file}:\n{log_tail(self.log_file)}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the daemon's process group, SIGKILL it after ``timeout``, drop the pidfile."""
        proc = self._proc
        if proc is None:
            # Started by an earlier process: only the pidfile is left to go by.
            stop_pidfile(self.pidfile, self.marker, timeout)
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(5.0)
        self._proc = None
        self.pidfile.unlink(missing_ok=True)


def workdir_tag(workdir: Path) -> str:
    """A short, stable name for a work directory (the same in every later process)."""
    return hashlib.sha256(os.fsencode(Path(workdir).absolute())).hexdigest()[:16]


def socket_path(preferred: Path, workdir: Path, prefix: str, limit: int) -> Path:
    """``preferred`` if it fits a Unix socket address (sun_path, ``limit`` bytes), else a
    short path in the temp dir derived from ``workdir``, so ``sandbox down`` in a later
    process finds the same one."""
    if len(os.fsencode(preferred)) <= limit:
        return preferred
    return Path(tempfile.gettempdir()) / f"{prefix}-{workdir_tag(workdir)}"
