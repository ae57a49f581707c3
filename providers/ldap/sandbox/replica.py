"""Two real slapds replicating: a delta-syncrepl provider and a read-only consumer of it.

Each starts as the plain sandbox slapd (``SlapdInstance``) and is then changed at run time over
ldapi with the LDIF of ``providers/ldap/replication_config.py``, the way an operator changes an
existing directory, so the tests exercise the production text. The consumer adds no entries of
its own: everything it holds, the suffix and the accounts included, comes from the provider.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispctl.providers.ldap.replication_config import consumer_ldif, provider_ldif
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha
from ispctl.reconciler.harness.daemons import DaemonError

REPLICATOR_RDN = "cn=replicator"
_DONE = "replication"  # marker file: the run-time configuration was applied (a restart keeps it)


def _secret_file(path: Path, make: bool) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8")
    if not make:
        raise DaemonError(f"{path} is missing: the provider was not started yet")
    value = secrets.token_hex(16)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(value, encoding="utf-8")
    return value


class ProviderSlapdInstance(SlapdInstance):
    """The sandbox slapd, also a delta-syncrepl provider with a replication account."""

    @property
    def replicator_dn(self) -> str:
        return f"{REPLICATOR_RDN},{self.suffix}"

    @property
    def replicator_password(self) -> str:
        return _secret_file(self.workdir / "replicator", make=False)

    def start(self, detach: bool = False) -> None:
        super().start(detach)
        if (self.workdir / _DONE).exists():
            return
        password = _secret_file(self.workdir / "replicator", make=True)
        accesslog = self.workdir / "accesslog"
        accesslog.mkdir(exist_ok=True)
        steps = (
            ("ldapmodify", provider_ldif(self.replicator_dn, str(accesslog), nosync=self.nosync)),
        )
        for tool, ldif in steps:
            done = self.external(tool, input=ldif)
            if done.returncode != 0:
                self.stop()
                raise DaemonError(f"cannot make slapd in {self.workdir} a provider:\n{done.stderr}")
        added = self.ldapadd(f"dn: {self.replicator_dn}\nobjectClass: organizationalRole\n"
                             f"objectClass: simpleSecurityObject\ncn: replicator\nuserPassword: {ssha(password)}\n"
                             "description: OpenLDAP replication (syncrepl) reads the directory as this account\n")
        if added.returncode != 0:
            self.stop()
            raise DaemonError(f"cannot add the replication account to slapd in {self.workdir}:\n{added.stderr}")
        (self.workdir / _DONE).write_text("provider\n", encoding="utf-8")


class ConsumerSlapdInstance(SlapdInstance):
    """A read-only consumer of a provider: same suffix and schemas, no entries of its own."""

    def __init__(self, workdir: Path, *, provider_url: str, replicator_dn: str, replicator_password: str,
                 rid: int = 1, retry: str = "1 +", **kwargs: Any) -> None:
        super().__init__(workdir, **kwargs)
        self.provider_url = provider_url
        self.replicator_dn = replicator_dn
        self.replicator_password = replicator_password
        self.rid = rid
        self.retry = retry  # how often syncrepl reconnects to a provider that went away

    @classmethod
    def of(cls, provider: ProviderSlapdInstance, workdir: Path, rid: int = 1) -> ConsumerSlapdInstance:
        return cls(workdir, provider_url=provider.url, replicator_dn=provider.replicator_dn,
                   replicator_password=provider.replicator_password, rid=rid, suffix=provider.suffix,
                   managed_base=provider.managed_base, root_dn=provider.bind_dn, schemas=provider.schemas)

    def to_state(self) -> dict[str, Any]:
        return {**super().to_state(), "provider_url": self.provider_url, "replicator_dn": self.replicator_dn,
                "replicator_password": self.replicator_password, "rid": self.rid, "retry": self.retry}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ConsumerSlapdInstance:
        return cls(Path(state["workdir"]), provider_url=state["provider_url"], replicator_dn=state["replicator_dn"],
                   replicator_password=state["replicator_password"], rid=int(state.get("rid", 1)),
                   retry=state.get("retry", "1 +"), port=state.get("port"), suffix=state["suffix"],
                   managed_base=state["managed_base"], root_dn=state["root_dn"], root_password=state["password"],
                   schemas=tuple(state.get("schemas", ())))

    def _seed(self) -> None:
        # Nothing of its own: a consumer that added the base entries would hold other entryUUIDs
        # than the provider's, and syncrepl would fight them.
        (self.workdir / "seeded").write_text("a consumer: its entries come from the provider\n", encoding="utf-8")

    def start(self, detach: bool = False) -> None:
        super().start(detach)
        if (self.workdir / _DONE).exists():
            return  # a restart: syncrepl resumes from the cookie it stored
        done = self.external("ldapmodify", input=consumer_ldif(
            self.rid, self.provider_url, self.suffix, self.replicator_dn, self.replicator_password,
            retry=self.retry))
        if done.returncode != 0:
            self.stop()
            raise DaemonError(f"cannot make slapd in {self.workdir} a consumer of {self.provider_url}:\n{done.stderr}")
        (self.workdir / _DONE).write_text("consumer\n", encoding="utf-8")
