"""The provider base class: bulk read keyed by identity, kind checks on every write.

``ListingProvider`` is a real subclass whose service is a fixed list of objects: the base
class's own logic (filtering, duplicate detection, kind checks) is what runs here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import pytest
from memory_provider import MemoryProvider

from ispctl.reconciler.engine.errors import IspctlError, ProviderError
from ispctl.reconciler.engine.provider import Provider, Within
from ispctl.reconciler.engine.resources import Resource


class ListingProvider(Provider):
    name: ClassVar[str] = "listing"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"domain", "mailbox"})

    def __init__(self, objects: Iterable[Resource]) -> None:
        self.objects = list(objects)
        self.asked: list[frozenset[str]] = []
        self.writes: list[tuple[str, str]] = []

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        self.asked.append(kinds)
        return list(self.objects)  # deliberately unfiltered: the base class must filter

    def _create(self, resource: Resource) -> None:
        self.writes.append(("create", resource.address))

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        self.writes.append(("update", after.address))

    def _delete(self, resource: Resource) -> None:
        self.writes.append(("delete", resource.address))


DOM = Resource("domain", "x.example", {"status": "active"})
BOX = Resource("mailbox", "a@x.example", {"quota": 1}, parent="domain.x.example")
TENANT = Resource("tenant", "t")


def test_read_keys_by_identity() -> None:
    live = ListingProvider([DOM, BOX]).read()
    assert live == {("domain", "x.example"): DOM, ("mailbox", "a@x.example"): BOX}


def test_read_rejects_duplicate_identities() -> None:
    twin = Resource("mailbox", "a@x.example", {"quota": 2}, parent="domain.other.example")
    with pytest.raises(ProviderError, match=r"listing: mailbox\.a@x\.example exists more than once") as info:
        ListingProvider([DOM, BOX, twin]).read()
    assert isinstance(info.value, IspctlError)  # the CLI reports it without a traceback


def test_a_narrowed_read_reads_everything_unless_the_provider_can_do_better() -> None:
    # Reading all is always a correct answer to "at least this part"; the base class still
    # filters kinds and refuses duplicates on that path.
    within = Within(frozenset({"domain.x.example"}))
    assert ListingProvider([DOM, BOX]).read(within=within) == ListingProvider([DOM, BOX]).read()

    class Narrowing(ListingProvider):
        def _read_within(self, kinds: frozenset[str], within: Within) -> Iterable[Resource]:
            return [r for r in self._read_live(kinds) if r.address in within.anchors | within.addresses]

    narrowed = Narrowing([DOM, BOX, TENANT]).read(within=within)
    assert narrowed == {("domain", "x.example"): DOM}
    assert Narrowing([DOM, BOX]).read() == ListingProvider([DOM, BOX]).read()


def test_same_key_in_two_kinds_is_not_a_duplicate() -> None:
    other = Resource("domain", "a@x.example")
    assert len(ListingProvider([BOX, other]).read()) == 2


def test_read_drops_kinds_outside_supports() -> None:
    provider = ListingProvider([DOM, BOX, TENANT])
    assert set(provider.read()) == {DOM.identity, BOX.identity}
    assert provider.asked == [frozenset({"domain", "mailbox"})]


def test_read_narrows_to_requested_kinds() -> None:
    provider = ListingProvider([DOM, BOX, TENANT])
    assert set(provider.read(["mailbox", "tenant"])) == {BOX.identity}
    # tenant is not ours: it is never even asked of the service.
    assert provider.asked == [frozenset({"mailbox"})]


def test_duplicates_of_unrequested_kinds_do_not_matter() -> None:
    provider = ListingProvider([DOM, BOX, BOX])
    assert set(provider.read(["domain"])) == {DOM.identity}


@pytest.mark.parametrize("action", ["create", "update", "delete"])
def test_writes_of_unsupported_kinds_are_rejected(action: str) -> None:
    provider = ListingProvider([])
    with pytest.raises(ProviderError, match=r"listing does not support tenant \(tenant\.t\)"):
        if action == "create":
            provider.create(TENANT)
        elif action == "update":
            provider.update(TENANT, TENANT, ())
        else:
            provider.delete(TENANT)
    assert provider.writes == []  # rejected before reaching the service


def test_supported_writes_reach_the_hooks() -> None:
    provider = ListingProvider([])
    provider.create(DOM)
    provider.update(BOX, BOX, ("quota",))
    provider.delete(DOM)
    assert provider.writes == [("create", "domain.x.example"), ("update", "mailbox.a@x.example"),
                               ("delete", "domain.x.example")]


def test_base_close_is_harmless() -> None:
    ListingProvider([]).close()


def test_provider_is_abstract() -> None:
    with pytest.raises(TypeError):
        Provider()  # type: ignore[abstract]


def test_memory_provider_records_fingerprints_on_write() -> None:
    # The engine tests rely on this: what a write stores reads back without drift.
    provider = MemoryProvider()
    provider.create(DOM)
    provider.create(BOX)
    edited = Resource("mailbox", BOX.key, {"quota": 3}, parent=BOX.parent)
    provider.update(BOX, edited, ("quota",))
    live = provider.read()
    assert live[BOX.identity].recorded_fingerprint == edited.fingerprint()
    assert [r.drifted() for r in live.values()] == [None, None]


def test_memory_provider_refuses_out_of_order_writes() -> None:
    provider = MemoryProvider()
    with pytest.raises(ProviderError, match="parent domain.x.example of mailbox.a@x.example does not exist"):
        provider.create(BOX)
    provider.create(DOM)
    provider.create(BOX)
    with pytest.raises(ProviderError, match="still has children: mailbox.a@x.example"):
        provider.delete(DOM)
    with pytest.raises(ProviderError, match="already exists"):
        provider.create(DOM)


def test_memory_provider_fails_configured_addresses_only() -> None:
    provider = MemoryProvider(fail={"domain.x.example"})
    with pytest.raises(ProviderError, match="configured to fail"):
        provider.create(DOM)
    provider.create(Resource("domain", "y.example"))
    assert provider.log == [("create", "domain.y.example")]


def test_a_provider_reconciles_all_unless_it_says_otherwise() -> None:
    class Placed(MemoryProvider):
        def reconciles(self, resource: Resource) -> bool:
            return resource.key.startswith("here")

    assert MemoryProvider().reconciles_all()
    assert not Placed().reconciles_all()  # (it overrides reconciles and says nothing more)
