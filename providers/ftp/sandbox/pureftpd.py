"""A real pure-ftpd-ldap on loopback, reading its logins from a directory.

Started from a work directory with the ``db/ldap.conf`` ``render`` ships to operators,
unchanged, and the same options the rendered ``conf/`` files give Debian's wrapper (chroot
everyone, create homes on the first login, no anonymous, the lowest uid), plus what makes it a
private throwaway: a loopback listener on a free port and a free passive port range on
loopback. It stays in the foreground (``-g`` only writes its pid) and is stopped by PID.

pure-ftpd must run as root: it chroots into each home and runs the session as the login's
uid. Homes are made by pure-ftpd itself (``-j``), owned by that uid.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.ftp.render import daemon_args, render_ldap_conf
from ispctl.providers.ftp.settings import FTP
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.reconciler.contract import EstateSchema
from ispctl.reconciler.harness.daemons import DaemonError, free_port, require_binary
from ispctl.reconciler.harness.instance import DaemonInstance

HOST = "127.0.0.1"
PASSIVE_PORTS = 10  # enough for the tests' sessions; each transfer takes one
_INSTALL_HINT = "pure-ftpd-ldap"
LDAP_CONF = "ldap.conf"
# The site settings the rendered file needs: the directory's base and the FTP section.
_SITE = EstateSchema.build(sections=(DIRECTORY, FTP)).files.site


def free_range(count: int, host: str = HOST, low: int = 30000, high: int = 60000) -> tuple[int, int]:
    """``count`` consecutive ports all free on ``host`` right now (each is bound once to see)."""
    start = low + int.from_bytes(os.urandom(2), "big") % (high - low - count)
    for first in range(start, high - count, count):
        held: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind((host, port))
            return first, first + count - 1
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise DaemonError(f"no {count} consecutive free ports on {host} between {low} and {high}")


class PureFtpdInstance(DaemonInstance):
    """One pure-ftpd-ldap with its LDAP config, pidfile and log under ``workdir``."""

    daemon_name = "pure-ftpd"
    port_keys = ("port",)

    def __init__(self, workdir: Path, ldap_env: Mapping[str, str], *, base_dn: str | None = None,
                 port: int | None = None, passive: tuple[int, int] | None = None, min_uid: int = 1000,
                 ftp_root: Path | None = None, host: str | None = None) -> None:
        super().__init__(workdir)
        self.host = host  # a cluster host: serve only the logins placed on it (render.login_filter)
        self.ldap_env = dict(ldap_env)
        self.base_dn = base_dn or self.ldap_env.get("ISPCTL_LDAP_BASE_DN", "")
        self.port = port or free_port(HOST)
        self.passive = passive or free_range(PASSIVE_PORTS)
        self.min_uid = min_uid
        self.ftp_root = Path(ftp_root) if ftp_root is not None else self.workdir / "ftp"

    @property
    def conf_file(self) -> Path:
        return self.workdir / LDAP_CONF

    @property
    def marker(self) -> str:
        return str(self.conf_file)

    @property
    def url(self) -> str:
        return f"ftp://{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        return {"ISPCTL_FTP_ROOT": str(self.ftp_root), "ISPCTL_FTP_MIN_UID": str(self.min_uid),
                "ISPCTL_FTP_URL": self.url}

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "ldap_env": self.ldap_env, "base_dn": self.base_dn, "port": self.port,
                "passive": list(self.passive), "min_uid": self.min_uid, "ftp_root": str(self.ftp_root),
                "host": self.host}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PureFtpdInstance:
        passive = state.get("passive")
        return cls(Path(state["workdir"]), state.get("ldap_env") or {}, base_dn=state.get("base_dn"),
                   port=state.get("port"), passive=(int(passive[0]), int(passive[1])) if passive else None,
                   min_uid=int(state.get("min_uid", 1000)),
                   ftp_root=Path(state["ftp_root"]) if state.get("ftp_root") else None, host=state.get("host"))

    def site(self) -> Any:
        return _SITE.model_validate({"directory": {"base_dn": self.base_dn},
                                     "ftp": {"root": str(self.ftp_root), "min_uid": self.min_uid}})

    def start(self, detach: bool = False) -> None:
        binary = require_binary("pure-ftpd-ldap", "pure-ftpd-ldap", install=_INSTALL_HINT)
        if os.geteuid() != 0:
            raise DaemonError("pure-ftpd must run as root (it chroots into each home and runs the session as the "
                              "login's uid)")
        if self.running():
            raise DaemonError(f"pure-ftpd in {self.workdir} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ftp_root.mkdir(parents=True, exist_ok=True)
        site = self.site()
        text = render_ldap_conf(site, LdapSettings.from_env(self.ldap_env), self.host)
        # Created 0600 before the password is written into it.
        self.conf_file.touch(mode=0o600)
        self.conf_file.chmod(0o600)
        self.conf_file.write_text(text, encoding="utf-8")
        low, high = self.passive
        # pure-ftpd rewrites its process title ("pure-ftpd (SERVER)"), which would hide the
        # marker a later `sandbox down` checks before signalling the pid. coreutils' timeout with
        # no limit (0) stays its parent with the whole command line, and the stop signals the
        # process group, so both go.
        wrapper = require_binary("timeout", "coreutils")
        argv = [wrapper, "0", binary, *daemon_args(site, str(self.conf_file)), "-S", f"{HOST},{self.port}",
                "-p", f"{low}:{high}", "-P", HOST]
        self._run(argv, HOST, self.port, detach)
