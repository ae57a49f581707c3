"""The Dovecot part of ``ispctl sandbox``: IMAP/POP3 on loopback, wired to the sandbox slapd.

It starts after the LDAP component and reads that component's exported environment
(``ISPCTL_LDAP_*``) to connect. Its own environment points ispctl's mail store at
``<sandbox>/vmail`` (``ISPCTL_MAIL_ROOT``/``UID``/``GID``), so applying the estate in a sandbox
never writes homes under the site's real ``/var/vmail``.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.dovecot.sandbox.daemon import DovecotInstance, default_mail_owner, untraversable_ancestor
from ispctl.reconciler.contract import output
from ispctl.reconciler.harness.daemons import DaemonError, port_accepts
from ispctl.reconciler.harness.sandbox import InstanceComponent

# What this component needs from earlier ones; only these are kept in its state.
LDAP_KEYS = ("ISPCTL_LDAP_URL", "ISPCTL_LDAP_BIND_DN", "ISPCTL_LDAP_PASSWORD",
             "ISPCTL_LDAP_PASSWORD_FILE", "ISPCTL_LDAP_STARTTLS", "ISPCTL_LDAP_CA_FILE",
             "ISPCTL_LDAP_BASE_DN")
MAIL_DIR = "vmail"
OUTBOX_DIR = "outbox"  # beside the mail: what Dovecot sends (vacation replies)
# World-traversable place for the sandbox's mail when the checkout is not (see ``up``).
FALLBACK_PARENT = Path("/var/tmp")


class DovecotComponent(InstanceComponent):
    """Dovecot on loopback, reading the sandbox's directory; it serves the mail store's homes."""

    name = "dovecot"
    instance_class = DovecotInstance
    # The mail store and the Sieve scripts in its homes run wherever this component keeps the
    # mail (ISPCTL_MAIL_ROOT).
    providers = ("mailstore", "sieve")
    needs = ("ldap",)
    extra_dirs = (MAIL_DIR, OUTBOX_DIR)  # down --purge removes both

    def instance(self, workdir: Path, previous: dict[str, Any] | None,
                 context_env: Mapping[str, str]) -> DovecotInstance:
        ldap_env = {k: v for k, v in context_env.items() if k in LDAP_KEYS}
        if context_env.get("ISPCTL_DOVECOT_LDAP_BIND_DN") and context_env.get("ISPCTL_DOVECOT_LDAP_PASSWORD"):
            # Dovecot binds as its own read-only account, never as ispctl's apply account.
            ldap_env.pop("ISPCTL_LDAP_PASSWORD_FILE", None)
            ldap_env["ISPCTL_LDAP_BIND_DN"] = context_env["ISPCTL_DOVECOT_LDAP_BIND_DN"]
            ldap_env["ISPCTL_LDAP_PASSWORD"] = context_env["ISPCTL_DOVECOT_LDAP_PASSWORD"]
        if "ISPCTL_LDAP_URL" not in ldap_env or "ISPCTL_LDAP_BASE_DN" not in ldap_env:
            raise DaemonError("the dovecot sandbox component needs the ldap component to run first")
        uid, gid = default_mail_owner()
        ports: dict[str, int | None] = {"imap_port": None, "pop3_port": None, "sieve_port": None}
        if previous is not None:
            # Keep the ports of the last run so exported environments keep working, unless
            # something else took them while the sandbox was down.
            for key in ports:
                port = previous.get(key)
                ports[key] = int(port) if port and not port_accepts("127.0.0.1", int(port)) else None
        mail_root = workdir.parent.absolute() / MAIL_DIR
        if previous is not None and previous.get("mail_root"):
            mail_root = Path(previous["mail_root"])  # keep the mail of the last run
        elif untraversable_ancestor(mail_root, uid, gid) is not None:
            # The mail owner cannot enter the checkout (e.g. one under /root, mode 0700):
            # every login would fail. Keep the sandbox's mail where it can, instead.
            digest = hashlib.sha256(str(workdir.parent.absolute()).encode()).hexdigest()[:12]
            mail_root = FALLBACK_PARENT / f"ispctl-sandbox-{digest}" / MAIL_DIR
            mail_root.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            # Say whose it is, so a stray one can be traced to its sandbox.
            (mail_root.parent / "sandbox-root").write_text(str(workdir.parent.absolute()) + "\n")
            output.err().print(
                f"note: uid {uid} cannot enter {untraversable_ancestor(workdir, uid, gid)}; "
                f"the sandbox keeps its mail in {mail_root}", markup=False)
        # What Dovecot sends (vacation replies) is kept beside the mail, where the mail owner can write.
        return DovecotInstance(workdir, ldap_env, mail_root=mail_root, mail_uid=uid, mail_gid=gid,
                               imap_port=ports["imap_port"], pop3_port=ports["pop3_port"],
                               sieve_port=ports["sieve_port"],
                               outbox=mail_root.parent / OUTBOX_DIR)

    def purge(self, state: dict[str, Any]) -> None:
        """Remove a mail root kept outside the sandbox root (see ``instance``)."""
        mail_root = Path(str(state.get("mail_root") or ""))
        if mail_root.parent.parent == FALLBACK_PARENT and mail_root.parent.name.startswith("ispctl-sandbox-"):
            shutil.rmtree(mail_root.parent, ignore_errors=True)
