"""A real Dovecot (IMAP + POP3) on loopback, reading mailboxes from a directory.

Used by the tests and by ``ispctl sandbox``. The instance's ``dovecot.conf`` only holds what
makes it a private throwaway (its own base/state dirs, instance name, loopback listeners on
high ports, no TLS, plaintext logins allowed) and includes the files ``render`` ships to
operators, unchanged: what the tests prove about logins, status, flags and quota is what an
operator installs.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.dovecot.render import LDAP_CONF_FILE, SETTINGS_FILE, render, write_files
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.settings import DIRECTORY, DirectorySettings
from ispctl.providers.mailstore.settings import MAIL, MailSettings
from ispctl.reconciler.contract import EstateSchema, SiteFile
from ispctl.reconciler.harness.daemons import DaemonError, free_port, require_binary, socket_path, workdir_tag
from ispctl.reconciler.harness.instance import DaemonInstance

HOST = "127.0.0.1"
_INSTALL_HINT = "dovecot-imapd dovecot-pop3d dovecot-ldap dovecot-lmtpd dovecot-sieve dovecot-managesieved"
CONF_FILE = "dovecot.conf"
SENDMAIL = ".sendmail"  # in the outbox, beside the messages (*.eml) it keeps
# Dovecot puts its unix sockets in base_dir; sun_path is 108 bytes and the longest socket
# name below base_dir ("token-login/tokenlogin", "replication-notify-fifo") is ~24.
_MAX_BASE_DIR = 108 - 1 - 32
# Virtual-mail owner used when running as root (the site's default owner as well).
ROOT_MAIL_ID = 5000


def default_mail_owner() -> tuple[int, int]:
    """(uid, gid) for mail in a sandbox: 5000 as root, else whoever runs it (no setuid)."""
    if os.geteuid() == 0:
        return ROOT_MAIL_ID, ROOT_MAIL_ID
    return os.geteuid(), os.getegid()


def untraversable_ancestor(path: Path, uid: int, gid: int) -> Path | None:
    """The first existing ancestor of ``path`` that ``uid``/``gid`` may not enter, if any.

    Dovecot's mail processes run as the mail owner and must reach the homes below the mail
    root; a 0700 directory above it (``/root``, pytest's temp base) makes every login fail
    with an internal error, which is far harder to diagnose than this check.
    """
    for parent in reversed(path.absolute().parents):
        try:
            st = parent.stat()
        except FileNotFoundError:
            return None
        if uid == 0:
            continue
        if st.st_uid == uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid == gid:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            return parent
    return None


# The instance's LMTP socket, relative to its base_dir (Dovecot resolves it there).
LMTP_NAME = "ispctl-lmtp"


# The site settings the rendered files need: the directory's base and the mail store's owner.
_SITE = EstateSchema.build(sections=(DIRECTORY, MAIL)).files.site


class DovecotInstance(DaemonInstance):
    """One Dovecot with its config, sockets, state and log under ``workdir``."""

    daemon_name = "dovecot"
    port_keys = ("imap_port", "pop3_port", "sieve_port")

    def __init__(
        self,
        workdir: Path,
        ldap_env: Mapping[str, str],
        *,
        imap_port: int | None = None,
        pop3_port: int | None = None,
        mail_root: str | Path,
        mail_uid: int,
        mail_gid: int,
        base_dn: str | None = None,
        outbox: str | Path | None = None,
        sieve_port: int | None = None,
    ) -> None:
        super().__init__(workdir)
        self.ldap_env = dict(ldap_env)
        self.base_dn = base_dn or self.ldap_env.get("ISPCTL_LDAP_BASE_DN", "")
        if not self.base_dn:
            raise ValueError("base_dn is needed (or ISPCTL_LDAP_BASE_DN in ldap_env)")
        self.imap_port = imap_port or free_port(HOST)
        self.pop3_port = pop3_port or free_port(HOST)
        self.sieve_port = sieve_port or free_port(HOST)  # ManageSieve (dovecot-managesieved)
        self.mail_root = str(mail_root)
        self.mail_uid = mail_uid
        self.mail_gid = mail_gid
        # Where the mail owner can reach it (pytest's temp base is 0700): the catcher lives in it.
        self.outbox = Path(outbox) if outbox is not None else self.workdir / "outbox"

    # -- locations and facts ---------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.workdir / CONF_FILE

    @property
    def ldap_conf(self) -> Path:
        return self.workdir / LDAP_CONF_FILE

    @property
    def marker(self) -> str:
        return str(self.config_file)

    @property
    def base_dir(self) -> Path:
        # Dovecot's sockets live below base_dir: it must leave room for their names.
        return socket_path(self.workdir / "run", self.workdir, "ispctl-dovecot", _MAX_BASE_DIR)

    @property
    def lmtp_socket(self) -> Path:
        """Where this instance's LMTP server listens (what Postfix would deliver to)."""
        return self.base_dir / LMTP_NAME

    @property
    def _tag(self) -> str:
        return workdir_tag(self.workdir)

    @property
    def instance_name(self) -> str:
        return f"ispctl-{self._tag}"

    @property
    def imap_url(self) -> str:
        return f"imap://{HOST}:{self.imap_port}"

    @property
    def pop3_url(self) -> str:
        return f"pop3://{HOST}:{self.pop3_port}"

    @property
    def url(self) -> str:
        return self.imap_url

    def site(self) -> SiteFile:
        """The site settings this instance renders from (directory base and mail store)."""
        return _SITE.model_validate({
            "directory": DirectorySettings(base_dn=self.base_dn),
            "mail": MailSettings(root=self.mail_root, uid=self.mail_uid, gid=self.mail_gid),
        })

    def env(self) -> dict[str, str]:
        """Where ispctl (and people) find this Dovecot, and the mail store it serves."""
        return {
            "ISPCTL_IMAP_URL": self.imap_url,
            "ISPCTL_POP3_URL": self.pop3_url,
            "ISPCTL_MANAGESIEVE_URL": f"sieve://{HOST}:{self.sieve_port}",
            "ISPCTL_MAIL_ROOT": self.mail_root,
            "ISPCTL_MAIL_UID": str(self.mail_uid),
            "ISPCTL_MAIL_GID": str(self.mail_gid),
            # Where to hand it mail (as Postfix would) and where what it sends ends up.
            "ISPCTL_LMTP_SOCKET": str(self.lmtp_socket),
            "ISPCTL_MAIL_OUTBOX": str(self.outbox),
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir),
            "ldap_env": self.ldap_env,
            "base_dn": self.base_dn,
            "imap_port": self.imap_port,
            "pop3_port": self.pop3_port,
            "sieve_port": self.sieve_port,
            "mail_root": self.mail_root,
            "mail_uid": self.mail_uid,
            "mail_gid": self.mail_gid,
            "outbox": str(self.outbox),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DovecotInstance:
        return cls(
            Path(state["workdir"]), state["ldap_env"], base_dn=state["base_dn"],
            imap_port=state.get("imap_port"), pop3_port=state.get("pop3_port"), sieve_port=state.get("sieve_port"),
            mail_root=state["mail_root"], mail_uid=int(state["mail_uid"]),
            mail_gid=int(state["mail_gid"]), outbox=state.get("outbox"),
        )

    # -- configuration ---------------------------------------------------------------------

    def _instance_conf(self) -> str:
        root = os.geteuid() == 0
        # Without root there is no chroot and no privilege separation: every process runs
        # as the caller (checked by hand as nobody; the test-suite itself runs as root).
        no_chroot = [] if root else ["  chroot ="]
        lines = [
            "# Throwaway instance written by ispctl (tests / sandbox); the ispctl part is included.",
            f"instance_name = {self.instance_name}",
            f"base_dir = {self.base_dir}",
            f"state_dir = {self.workdir / 'state'}",
            f"log_path = {self.log_file}",
            "protocols = imap pop3 sieve",
            f"listen = {HOST}",
            "ssl = no",
            # Loopback only, and tests log in with LOGIN/USER+PASS: never in the shipped file.
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            # Refused logins answer at once instead of after up to 2 s: the outcome is the same,
            # and tests make several on purpose. (The per-IP penalty that follows a failure stays;
            # tests send refused logins from their own 127.0.1.x source addresses.)
            "auth_failure_delay = 0",
            "service imap-login {",
            f"  inet_listener imap {{\n    port = {self.imap_port}\n  }}",
            "  inet_listener imaps {\n    port = 0\n  }",
            *no_chroot,
            "}",
            # ManageSieve: users' own scripts (ispctl's run before them, see providers/sieve).
            "service managesieve-login {",
            f"  inet_listener sieve {{\n    port = {self.sieve_port}\n  }}",
            *no_chroot,
            "}",
            "service pop3-login {",
            f"  inet_listener pop3 {{\n    port = {self.pop3_port}\n  }}",
            "  inet_listener pop3s {\n    port = 0\n  }",
            *no_chroot,
            "}",
        ]
        if not root:
            user = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            lines += ["service anvil {", *no_chroot, "}",
                      f"default_login_user = {user}", f"default_internal_user = {user}",
                      f"default_internal_group = {group}"]
        # Sieve's vacation replies (and redirects) go to a catcher, never to a real MTA: one
        # file per message in ``outbox`` (the tests count them).
        lines.append(f"sendmail_path = {self.outbox / SENDMAIL}")
        lines.append(f"!include {SETTINGS_FILE}")
        return "\n".join(lines) + "\n"

    def write_config(self) -> None:
        """Render the shipped files plus the instance's own dovecot.conf into ``workdir``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        me = pwd.getpwuid(os.geteuid()).pw_name
        files = render(self.site(), LdapSettings.from_env(self.ldap_env), str(self.ldap_conf), LMTP_NAME, me, me)
        files[CONF_FILE] = self._instance_conf()
        write_files(files, self.workdir)
        self.outbox.mkdir(mode=0o1777, parents=True, exist_ok=True)
        self.outbox.chmod(0o1777)  # deliveries run as the mail owner
        catcher = self.outbox / SENDMAIL
        catcher.write_text(f'#!/bin/sh\n# sendmail for the sandbox: keeps each message, sends nothing.\n'
                           f'f="{self.outbox}/$(date +%s%N)-$$.eml"\n'
                           'for a; do to="$a"; done  # sendmail -i -f <from> -- <to>\n'
                           'printf "X-Envelope-To: %s\\n" "$to" > "$f"\n'
                           'cat >> "$f"\n')
        catcher.chmod(0o755)

    def _prepare_mail_root(self) -> None:
        # Homes are created by Dovecot on first login, as the mail owner: the root must be
        # writable by that owner.
        root = Path(self.mail_root)
        root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            st = root.stat()
            if (st.st_uid, st.st_gid) != (self.mail_uid, self.mail_gid):
                os.chown(root, self.mail_uid, self.mail_gid)
            root.chmod(0o750)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, detach: bool = False) -> None:
        dovecot = require_binary("dovecot", "dovecot-imapd", install=_INSTALL_HINT)
        if not Path("/usr/lib/dovecot/modules/auth/libauthdb_ldap.so").exists():
            raise DaemonError(f'Dovecot has no LDAP support: run "apt-get install {_INSTALL_HINT}"')
        if self.running():
            raise DaemonError(f"dovecot in {self.workdir} is already running")
        self.write_config()
        self._prepare_mail_root()
        for directory in (self.base_dir, self.workdir / "state"):
            directory.mkdir(parents=True, exist_ok=True)
        argv = [dovecot, "-F", "-c", str(self.config_file)]
        self._run(argv, HOST, self.imap_port, detach)

    def _stopped(self) -> None:
        if not self.running() and self.workdir not in self.base_dir.parents:
            # Only stale sockets are left in a base_dir outside the workdir; nothing else would
            # ever remove it.
            shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- tools -----------------------------------------------------------------------------

    def doveadm(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """``doveadm -c <this instance's config> ARGS``; the result is returned, not checked."""
        argv = [require_binary("doveadm", "dovecot-core", install=_INSTALL_HINT),
                "-c", str(self.config_file), *args]
        return subprocess.run(argv, input=input, capture_output=True, text=True, check=False,
                              timeout=60)
