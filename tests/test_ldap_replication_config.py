"""The replication configuration an operator applies, on two real slapds: the consumer is a
read-only copy that refers writes to the provider, and the changelog is the replication account's alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from replica_helpers import eventually

from ispctl.providers.ldap.replication_config import consumer_ldif, provider_ldif, syncrepl_value
from ispctl.providers.ldap.sandbox.replica import ConsumerSlapdInstance, ProviderSlapdInstance


def test_values_a_syncrepl_line_cannot_carry_are_refused() -> None:
    with pytest.raises(ValueError, match="replication password"):
        syncrepl_value(1, "ldap://p", "dc=example,dc=net", "cn=r,dc=example,dc=net", 'pa"ss')
    with pytest.raises(ValueError, match="replica id"):
        consumer_ldif(0, "ldap://p", "dc=example,dc=net", "cn=r,dc=example,dc=net", "pw")
    with pytest.raises(ValueError, match="replication account"):
        provider_ldif("cn=r\n,dc=x", "/tmp/accesslog")
    value = syncrepl_value(7, "ldap://p:389", "dc=example,dc=net", "cn=r,dc=example,dc=net", "pw")
    assert value.startswith("rid=007 provider=ldap://p:389 ") and "syncdata=accesslog" in value
    assert "type=refreshAndPersist" in value and 'logbase="cn=accesslog"' in value


def _search(instance: ProviderSlapdInstance | ConsumerSlapdInstance, dn: str, password: str,
            base: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ldapsearch", "-x", "-H", instance.url, "-D", dn, "-w", password, "-LLL", "-b", base,
                           "(objectClass=*)", "1.1"], capture_output=True, text=True, check=False, timeout=30)


def test_the_consumer_refers_writes_and_only_the_replication_account_reads_the_changelog(tmp_path: Path) -> None:
    provider = ProviderSlapdInstance(tmp_path / "provider")
    provider.start()
    consumer = ConsumerSlapdInstance.of(provider, tmp_path / "consumer")
    try:
        consumer.start()
        accounts = provider.account_env("apply")
        dn, password = accounts["ISPCTL_LDAP_BIND_DN"], accounts["ISPCTL_LDAP_PASSWORD"]
        # The consumer holds the provider's entries (the accounts included) and none of its own.
        eventually(lambda: _search(consumer, dn, password, consumer.managed_base).returncode == 0,
                   "the consumer has the managed base and the apply account")
        write = subprocess.run(["ldapadd", "-x", "-H", consumer.url, "-D", dn, "-w", password],
                               input=f"dn: ou=x,{consumer.managed_base}\nobjectClass: organizationalUnit\nou: x\n",
                               capture_output=True, text=True, check=False, timeout=30)
        assert write.returncode == 10, write.stdout + write.stderr  # referral
        assert provider.url in write.stderr + write.stdout
        # The changelog holds every change with its values (password hashes): apply's account and
        # anonymous see nothing of it, the replication account reads it.
        changes = _search(provider, dn, password, "cn=accesslog")
        assert changes.returncode == 32 or "dn:" not in changes.stdout, changes.stdout
        anonymous = subprocess.run(["ldapsearch", "-x", "-H", provider.url, "-LLL", "-b", "cn=accesslog", "1.1"],
                                   capture_output=True, text=True, check=False, timeout=30)
        assert "dn:" not in anonymous.stdout
        replicator = _search(provider, provider.replicator_dn, provider.replicator_password, "cn=accesslog")
        assert replicator.returncode == 0 and "reqStart=" in replicator.stdout
        # A provider restart keeps the configuration (the changelog database is found again).
        provider.stop()
        provider.start()
        done = provider.ldapadd(f"dn: ou=after,{provider.managed_base}\nobjectClass: organizationalUnit\nou: after\n")
        assert done.returncode == 0, done.stderr
        eventually(lambda: "ou=after" in consumer.ldapsearch(consumer.managed_base, "(ou=after)", "1.1"),
                   "the consumer follows the restarted provider")
    finally:
        if consumer.running():
            consumer.stop()
        provider.stop()
