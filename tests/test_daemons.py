"""ispctl.reconciler.harness.daemons against real child processes (a tiny Python TCP server stands in for a
service, because the module is service-agnostic)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ispctl.reconciler.harness.daemons import (
    Daemon,
    DaemonError,
    DaemonUnavailable,
    free_port,
    pid_alive,
    pids_matching,
    port_accepts,
    require_binary,
    stop_pidfile,
)

# Listens on the port given as argv[1]; with "stubborn" as argv[2] it ignores SIGTERM.
SERVER = """
import signal, socket, sys
if len(sys.argv) > 2 and sys.argv[2] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(16)
print("listening", flush=True)
while True:
    sock.accept()[0].close()
"""


def _server(tmp_path: Path, *extra: str) -> Daemon:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    port = free_port()
    return Daemon("toy", [sys.executable, str(script), str(port), *extra], tmp_path, "127.0.0.1",
                  port)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert not port_accepts("127.0.0.1", port)


def test_require_binary_searches_sbin_even_without_path(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert require_binary("slapd", "slapd") == "/usr/sbin/slapd"


def test_require_binary_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DaemonUnavailable) as info:
        require_binary("ldapadd", "ldap-utils", install="slapd ldap-utils")
    message = str(info.value)
    assert "ldapadd is not installed" in message
    assert "Debian package ldap-utils" in message
    assert 'apt-get install slapd ldap-utils' in message


def test_start_waits_for_port_and_stop_leaves_nothing(tmp_path: Path) -> None:
    daemon = _server(tmp_path)
    daemon.start()
    pid = daemon.pid
    assert pid is not None
    assert port_accepts("127.0.0.1", daemon.port)
    assert daemon.pidfile.read_text().strip() == str(pid)
    assert pid_alive(daemon.pidfile, "server.py")
    assert "listening" in daemon.log_file.read_text()
    daemon.stop()
    assert _gone(pid)
    assert not daemon.pidfile.exists()
    assert not port_accepts("127.0.0.1", daemon.port)


def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('no config here, giving up'); sys.exit(3)"]
    daemon = Daemon("broken", argv, tmp_path, "127.0.0.1", free_port())
    with pytest.raises(DaemonError) as info:
        daemon.start()
    assert "status 3" in str(info.value)
    assert "no config here, giving up" in str(info.value)
    assert not daemon.pidfile.exists()


def test_start_refuses_a_port_someone_else_serves(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        daemon = Daemon("late", [sys.executable, "-c", "pass"], tmp_path, "127.0.0.1", port)
        with pytest.raises(DaemonError, match="already in use"):
            daemon.start()


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    daemon = _server(tmp_path, "stubborn")
    daemon.start()
    pid = daemon.pid
    assert pid is not None
    daemon.stop(timeout=0.5)
    assert _gone(pid)


def test_detached_daemon_is_stopped_by_pidfile(tmp_path: Path) -> None:
    daemon = _server(tmp_path)
    daemon.start(detach=True)
    pid = daemon.pid
    assert pid is not None
    # A later CLI process only has the pidfile; the marker must match its command line.
    assert pid_alive(daemon.pidfile, str(tmp_path / "server.py"))
    assert pids_matching(str(tmp_path / "server.py")) == [pid]
    assert stop_pidfile(daemon.pidfile, str(tmp_path / "server.py"))
    assert _gone(pid)
    assert not daemon.pidfile.exists()
    assert not stop_pidfile(daemon.pidfile, "server.py")


def test_stop_pidfile_never_kills_an_unrelated_process(tmp_path: Path) -> None:
    # Simulates a stale pidfile whose PID now belongs to something else.
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        pidfile = tmp_path / "slapd.pid"
        pidfile.write_text(f"{other.pid}\n")
        assert not pid_alive(pidfile, "slapd")
        assert not stop_pidfile(pidfile, "slapd")
        assert other.poll() is None
        assert not pidfile.exists()
    finally:
        os.killpg(other.pid, signal.SIGTERM)
        other.wait(5)


def test_pid_alive_is_false_for_stale_or_garbled_pidfiles(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    pidfile = tmp_path / "x.pid"
    pidfile.write_text(finished.stdout)
    assert not pid_alive(pidfile, sys.executable)
    pidfile.write_text("not a pid\n")
    assert not pid_alive(pidfile, sys.executable)
    assert not pid_alive(tmp_path / "missing.pid", sys.executable)


def test_socket_paths_that_do_not_fit_move_to_a_stable_short_name(tmp_path: Path) -> None:
    from ispctl.reconciler.harness.daemons import socket_path, workdir_tag

    short = tmp_path / "s"
    assert socket_path(short, tmp_path, "ispctl-x", 200) == short
    deep = tmp_path / ("d" * 120) / "sock"
    moved = socket_path(deep, tmp_path / ("d" * 120), "ispctl-x", 100)
    assert moved.name == f"ispctl-x-{workdir_tag(tmp_path / ('d' * 120))}" and len(str(moved)) < 100
    # Another process computes the same name for the same work directory.
    assert socket_path(deep, tmp_path / ("d" * 120), "ispctl-x", 100) == moved
