"""The directory's replica check: contextCSN of each consumer against the provider's, on real slapds."""

from __future__ import annotations

from pathlib import Path

from replica_helpers import eventually

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.replication import DirectoryReplicas, compare, csn_time, parse_csns
from ispctl.providers.ldap.sandbox.replica import ConsumerSlapdInstance, ProviderSlapdInstance

A = "20261202101500.000000Z#000000#000#000000"
B = "20261202101502.500000Z#000000#000#000000"
OTHER = "20261202101400.000000Z#000000#001#000000"


def test_csns_compare_per_server_id() -> None:
    assert parse_csns([A, B, OTHER, "garbage"]) == {"000": B, "001": OTHER}
    assert compare({"000": B}, {"000": B}) == (0, None)
    assert compare({"000": A}, {"000": B}) == (0, None)  # ahead: the provider changed again since
    assert compare({"000": B}, {"000": A}) == (1, 2.5)
    assert compare({"000": B, "001": OTHER}, {"000": B}) == (1, None)  # nothing of server 001: lag unknown
    assert csn_time("nonsense") is None


def _ou(provider: ProviderSlapdInstance, name: str) -> None:
    done = provider.ldapadd(f"dn: ou={name},{provider.managed_base}\nobjectClass: organizationalUnit\nou: {name}\n")
    assert done.returncode == 0, done.stderr


def _has(consumer: ConsumerSlapdInstance, name: str) -> bool:
    return bool(consumer.ldapsearch(consumer.managed_base, f"(ou={name})", "1.1"))


def test_a_consumer_is_in_sync_unreachable_or_behind_by_the_age_of_what_it_lacks(tmp_path: Path) -> None:
    provider = ProviderSlapdInstance(tmp_path / "provider")
    provider.start()
    consumer = ConsumerSlapdInstance.of(provider, tmp_path / "consumer")
    try:
        consumer.start()
        # The apply account: an entry of the directory, so the consumer has it too (a root DN is per server).
        settings = LdapSettings.from_env(provider.account_env("apply"))
        _ou(provider, "one")
        eventually(lambda: _has(consumer, "one"), "the consumer has ou=one")
        watch = DirectoryReplicas(settings, provider.managed_base, [("r1", consumer.url)])
        [state] = watch.poll()
        assert state.in_sync and state.error is None and state.detail["suffix"] == provider.suffix
        assert state.detail["provider_csn"] == state.detail["replica_csn"]

        consumer.stop()
        _ou(provider, "two")
        watch = DirectoryReplicas(settings, provider.managed_base, [("r1", consumer.url)])
        [down] = watch.poll()
        assert not down.in_sync and down.error and "cannot connect" in down.error

        # Back, but its provider away: it answers with what it had, behind by the age of "two".
        provider.stop()
        consumer.start()
        [behind] = watch.poll()
        assert not behind.in_sync and behind.error is None and behind.behind == 1
        assert behind.lag_seconds is not None and behind.lag_seconds > 0
        assert "contextCSN" in behind.detail["summary"]
        provider.start()
        eventually(lambda: _has(consumer, "two"), "the consumer catches up once the provider is back")
        eventually(lambda: watch.poll()[0].in_sync, "the check sees it in sync")
        watch.close()
    finally:
        if consumer.running():
            consumer.stop()
        if provider.running():
            provider.stop()
