"""The FTP part of ``ispctl sandbox``: pure-ftpd-ldap on loopback, reading the sandbox's directory
as its own read-only account (the ldap component exports ``ISPCTL_PUREFTPD_LDAP_*``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.ftp.sandbox.pureftpd import PureFtpdInstance
from ispctl.reconciler.harness.daemons import DaemonError, port_accepts
from ispctl.reconciler.harness.sandbox import InstanceComponent

FTP_DIR = "ftp-homes"  # beside the component's work directory (root/ftp), not in it
_KEEP = ("ISPCTL_LDAP_URL", "ISPCTL_LDAP_STARTTLS", "ISPCTL_LDAP_CA_FILE", "ISPCTL_LDAP_BASE_DN")


class PureFtpdComponent(InstanceComponent):
    name = "ftp"
    instance_class = PureFtpdInstance
    needs = ("ldap",)
    extra_dirs = (FTP_DIR,)

    def instance(self, workdir: Path, previous: dict[str, Any] | None,
                 context_env: Mapping[str, str]) -> PureFtpdInstance:
        ldap_env = {k: v for k, v in context_env.items() if k in _KEEP}
        dn, password = context_env.get("ISPCTL_PUREFTPD_LDAP_BIND_DN"), context_env.get("ISPCTL_PUREFTPD_LDAP_PASSWORD")
        if "ISPCTL_LDAP_URL" not in ldap_env or not dn or not password:
            raise DaemonError("the ftp sandbox component needs the ldap component first, with pure-ftpd's account "
                              "(ISPCTL_PUREFTPD_LDAP_*): `ispctl sandbox down --purge` and `up` make one")
        # pure-ftpd binds as its own read-only account, never as ispctl's apply account.
        ldap_env.update({"ISPCTL_LDAP_BIND_DN": dn, "ISPCTL_LDAP_PASSWORD": password})
        port: int | None = None
        passive: tuple[int, int] | None = None
        if previous is not None:
            # The last run's ports, unless something else took them while the sandbox was down.
            saved = previous.get("port")
            port = int(saved) if saved and not port_accepts("127.0.0.1", int(saved)) else None
            saved_range = previous.get("passive")
            passive = (int(saved_range[0]), int(saved_range[1])) if saved_range else None
        return PureFtpdInstance(workdir, ldap_env, port=port, passive=passive,
                                ftp_root=workdir.parent.absolute() / FTP_DIR)
