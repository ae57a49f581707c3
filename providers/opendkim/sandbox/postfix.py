"""A real Postfix on loopback with its own configuration directory, and an SMTP sink behind it.

Postfix runs as root from ``<workdir>/conf`` (``master -c <conf> -d``: in the foreground, its
argv naming the instance's config) with its own queue and data directories, every service
unchrooted, smtpd on a free loopback port, the milters given (OpenDKIM) for both smtpd and
pickup, and all mail relayed to ``relayhost`` - Postfix's own ``smtp-sink``, which dumps each
message into a directory the tests read. Nothing of the system's Postfix (``/etc/postfix``,
``/var/spool/postfix``) is written; ``postfix check`` creates the queue's directories.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.reconciler.harness.daemons import DaemonError, free_port, require_binary
from ispctl.reconciler.harness.instance import DaemonInstance

HOST = "127.0.0.1"
DAEMON_DIRECTORY = "/usr/lib/postfix/sbin"
MAIL_OWNER = "postfix"
SPOOL_PARENT = Path("/var/tmp")
# master.cf: every service unchrooted (column 5 "n"): a chroot would need copies of /etc files
# in the queue directory. The set Postfix needs to accept, sign (cleanup runs the milters of
# pickup's mail), queue and relay a message; no local delivery.
_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _postfix_can_enter(path: Path) -> bool:
    """Whether the postfix user may traverse every existing directory down to ``path``."""
    owner = pwd.getpwnam(MAIL_OWNER)
    for parent in [*reversed(path.absolute().parents), path.absolute()]:
        try:
            st = parent.stat()
        except FileNotFoundError:
            return True
        bit = 0o100 if st.st_uid == owner.pw_uid else 0o010 if st.st_gid == owner.pw_gid else 0o001
        if not st.st_mode & bit:
            return False
    return True


def _spool(workdir: Path, what: str) -> Path:
    """``workdir`` when the postfix user can enter it, else a directory of its own under /var/tmp."""
    if os.geteuid() != 0 or _postfix_can_enter(workdir):
        return workdir
    digest = hashlib.sha256(str(workdir.absolute()).encode()).hexdigest()[:12]
    return SPOOL_PARENT / f"ispctl-{what}-{digest}"


def _require_root() -> None:
    if os.geteuid() != 0:
        raise DaemonError("a private Postfix needs root (its master changes to the postfix user)")
    try:
        pwd.getpwnam(MAIL_OWNER)
    except KeyError:
        raise DaemonError('there is no postfix user: run "apt-get install postfix"') from None


class SmtpSinkInstance(DaemonInstance):
    """``smtp-sink`` on loopback, writing every message it accepts into ``<workdir>/mail``."""

    daemon_name = "smtp-sink"

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        super().__init__(workdir)
        self.port = port or free_port(HOST)

    @property
    def mail_dir(self) -> Path:
        """Where the messages are dumped: reachable by the postfix user it runs as (see ``_spool``)."""
        return _spool(self.workdir, "sink") / "mail"

    @property
    def marker(self) -> str:
        return str(self.mail_dir)

    def _stopped(self) -> None:
        if not self.running() and self.mail_dir.parent != self.workdir:
            shutil.rmtree(self.mail_dir.parent, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        return {"ISPCTL_SINK_DIR": str(self.mail_dir)}

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "port": self.port}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SmtpSinkInstance:
        return cls(Path(state["workdir"]), port=state.get("port"))

    def messages(self) -> list[bytes]:
        """Every message received, oldest first, as smtp-sink dumped it (its X-* lines first)."""
        files = sorted(self.mail_dir.iterdir(), key=lambda p: p.stat().st_mtime_ns) if self.mail_dir.exists() else []
        return [p.read_bytes() for p in files if p.is_file()]

    def start(self, detach: bool = False) -> None:
        sink = require_binary("smtp-sink", "postfix")
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        user: list[str] = []
        if os.geteuid() == 0:
            _require_root()
            shutil.chown(self.mail_dir, MAIL_OWNER)
            user = ["-u", MAIL_OWNER]  # it refuses to run as root
        # -d: one file per message (strftime template + a random suffix); backlog 10.
        self._run([sink, *user, "-d", f"{self.mail_dir}/%Y%m%d%H%M%S.", f"{HOST}:{self.port}", "10"],
                  HOST, self.port, detach)


class PostfixInstance(DaemonInstance):
    """One Postfix master with config, queue and data below ``workdir``."""

    daemon_name = "postfix"

    def __init__(self, workdir: Path, *, milters: str, relayhost: str, port: int | None = None,
                 myhostname: str = "mx.sandbox.test") -> None:
        super().__init__(workdir)
        self.milters = milters
        self.relayhost = relayhost
        self.port = port or free_port(HOST)
        self.myhostname = myhostname

    @property
    def config_dir(self) -> Path:
        return self.workdir / "conf"

    @property
    def spool(self) -> Path:
        """Queue, data and log: in the workdir, unless the postfix user cannot reach it there.

        Postfix's unprivileged processes (as the postfix user) work in the queue directory and
        postlogd writes the log; below a 0700 directory (pytest's temp base, /root) master
        exits at once without a word. Then they go to a directory of this instance's own under
        /var/tmp, removed when it stops.
        """
        return _spool(self.workdir, "postfix")

    @property
    def marker(self) -> str:
        return str(self.config_dir)

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        return {"ISPCTL_SMTP_URL": self.url}

    def to_state(self) -> dict[str, Any]:
        return {"workdir": str(self.workdir), "port": self.port, "milters": self.milters,
                "relayhost": self.relayhost, "myhostname": self.myhostname}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PostfixInstance:
        return cls(Path(state["workdir"]), milters=state["milters"], relayhost=state["relayhost"],
                   port=state.get("port"), myhostname=state.get("myhostname") or "mx.sandbox.test")

    def main_cf(self) -> str:
        lines = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.spool / "queue"),
            "data_directory": str(self.spool / "data"),
            # postfix-files (what check creates) stays the package's
            "meta_directory": "/etc/postfix",
            "mail_owner": MAIL_OWNER,
            "setgid_group": "postdrop",
            "inet_interfaces": HOST,
            "inet_protocols": "ipv4",
            "myhostname": self.myhostname,
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "relayhost": self.relayhost,
            # the relay is a numeric address: no DNS (the machine may have no resolver)
            "smtp_host_lookup": "native",
            "smtpd_milters": self.milters,
            "non_smtpd_milters": "$smtpd_milters",
            # a signer that is down delays mail rather than letting it leave unsigned
            "milter_default_action": "tempfail",
            # no syslog here: postlogd writes the log, which must lie below a listed prefix
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.spool),
        }
        return "".join(f"{k} = {v}\n" for k, v in lines.items())

    def write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "main.cf").write_text(self.main_cf(), encoding="utf-8")
        smtpd = f"{HOST}:{self.port} inet n       -       n       -       -       smtpd\n"
        (self.config_dir / "master.cf").write_text(smtpd + _SERVICES, encoding="utf-8")

    @property
    def maillog(self) -> Path:
        return self.spool / "maillog"

    def postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``postfix -c <this instance's config> ARGS``; the result is returned, not checked."""
        return subprocess.run([require_binary("postfix", "postfix"), "-c", str(self.config_dir), *args],
                              capture_output=True, text=True, check=False, timeout=60)

    def start(self, detach: bool = False) -> None:
        _require_root()
        master = Path(DAEMON_DIRECTORY) / "master"
        if not master.exists():
            raise DaemonError('Postfix is not installed: run "apt-get install postfix"')
        if self.running():
            raise DaemonError(f"postfix in {self.workdir} is already running")
        self.write_config()
        data = self.spool / "data"
        data.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.chown(data, MAIL_OWNER)
        (self.spool / "queue").mkdir(parents=True, exist_ok=True)
        checked = self.postfix("check")  # creates the queue's directories with their owners and modes
        if checked.returncode != 0:
            raise DaemonError(f"postfix check failed for {self.config_dir}: {checked.stderr.strip()} "
                              f"{self.maillog.read_text() if self.maillog.exists() else ''}")
        self._run([str(master), "-c", str(self.config_dir), "-d"], HOST, self.port, detach)

    def _stopped(self) -> None:
        if not self.running() and self.spool != self.workdir:
            shutil.rmtree(self.spool, ignore_errors=True)

    def flush(self) -> None:
        """Try deferred mail again now (``postqueue -f``)."""
        subprocess.run([require_binary("postqueue", "postfix"), "-c", str(self.config_dir), "-f"],
                       capture_output=True, check=False, timeout=60)
