"""Two slapds (delta-syncrepl provider and consumer) and two nameds (primary and a secondary
following its catalog zone) on loopback: the smallest cluster, for the replication tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.dns.sandbox.secondary import SecondaryNamedInstance
from ispctl.providers.ldap.sandbox.replica import ConsumerSlapdInstance, ProviderSlapdInstance
from ispctl.reconciler.harness.daemons import free_port
from ispctl.reconciler.harness.instance import DaemonInstance

D = TypeVar("D", bound=DaemonInstance)

# Long enough for a loaded machine; a test fails, never waits, when it is exceeded.
PATIENCE = 60.0


@dataclass
class Cluster:
    provider: ProviderSlapdInstance
    consumer: ConsumerSlapdInstance
    primary: NamedInstance
    secondary: SecondaryNamedInstance

    def env(self) -> dict[str, str]:
        """ispctl's connection: the provider (as the apply account) and the DNS primary; never a replica."""
        ldap = self.provider.account_env("apply")
        wanted = ("ISPCTL_LDAP_URL", "ISPCTL_LDAP_BIND_DN", "ISPCTL_LDAP_PASSWORD")
        return {**{k: ldap[k] for k in wanted}, **self.primary.env(), "ISPCTL_PROVIDERS": "ldap,dns"}

    def cluster_yaml(self, wait: str) -> str:
        return (f"cluster:\n  wait: {wait}\n  hosts:\n    replica1.example.net:\n"
                "      roles: [directory_replica, dns_secondary, imap]\n"
                f"      directory: {self.consumer.url}\n      dns: {self.secondary.address}\n")


def started(stack: ExitStack, instance: D) -> D:
    """Start a test daemon and have ``stack`` stop it on the way out (unless it stopped already)."""
    instance.start()

    def stop() -> None:
        if instance.running():
            instance.stop()
    stack.callback(stop)
    return instance


def dns_pair(stack: ExitStack, work: Path) -> tuple[NamedInstance, SecondaryNamedInstance]:
    """A primary named notifying a secondary that follows its catalog zone, both stopped by ``stack``."""
    secondary_port = free_port()
    primary = started(stack, NamedInstance(work / "primary", notify_ports=(secondary_port,)))
    secondary = started(stack, SecondaryNamedInstance(work / "secondary", primary_port=primary.port,
                                                      tsig_secret=primary.tsig_secret, port=secondary_port))
    return primary, secondary


@contextmanager
def running_cluster(tmp_path: Path) -> Iterator[Cluster]:
    with ExitStack() as stack:
        provider = started(stack, ProviderSlapdInstance(tmp_path / "provider"))
        consumer = started(stack, ConsumerSlapdInstance.of(provider, tmp_path / "consumer"))
        primary, secondary = dns_pair(stack, tmp_path)
        yield Cluster(provider, consumer, primary, secondary)


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (replication is asynchronous); fail naming ``what`` after PATIENCE."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {PATIENCE:.0f} s: {what}")
        time.sleep(0.1)
