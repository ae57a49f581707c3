"""The engine's public flow with the real example estate and in-memory providers."""

from __future__ import annotations

import dataclasses
import gc
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from memory_provider import DescribingProvider, MemoryProvider

from ispctl.reconciler.engine.apply import Outcome
from ispctl.reconciler.engine.errors import ConfigError
from ispctl.reconciler.engine.provider import Within
from ispctl.reconciler.engine.resources import Resource
from ispctl.reconciler.engine.session import Session, in_scope
from ispctl.reconciler.estate.catalog import Catalog
from tests.wiring import REGISTRY, WIRING, load_desired, open_session

ESTATE = Path(__file__).resolve().parents[1] / "desired-state"


class Directory(MemoryProvider):
    name: ClassVar[str] = "directory"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"tenant", "domain"})


class MailStore(MemoryProvider):
    name: ClassVar[str] = "mailstore"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"mailbox", "alias"})


class AlsoMail(MemoryProvider):
    name: ClassVar[str] = "also-mail"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"mailbox"})


@pytest.fixture(scope="module")
def loaded() -> tuple[Catalog, dict[tuple[str, str], Resource]]:
    return load_desired(ESTATE)


@pytest.fixture
def desired(loaded: tuple[Catalog, dict[tuple[str, str], Resource]]) -> dict[tuple[str, str], Resource]:
    # The in-memory providers here stand for the directory; maildirs (the mail store's
    # kind) are covered by tests/test_mailstore_*, DNS zones and record sets (the DNS
    # provider's) by tests/test_dns_compile.py, web sites (the web provider's) by tests/test_web_*,
    # Sieve scripts (the sieve provider's) by tests/test_sieve_*.
    return {ident: r for ident, r in loaded[1].items()
            if r.kind not in ("maildir", "dns_zone", "dns", "site", "sieve")}


def session_with(desired: dict[tuple[str, str], Resource], *providers: MemoryProvider) -> Session:
    # Built by hand (not open_session) so a test can choose what the desired state holds.
    return Session(desired, list(providers))


def test_route_picks_the_single_owner(desired: dict[tuple[str, str], Resource]) -> None:
    directory, mail = Directory(), MailStore()
    session = session_with(desired, directory, mail)
    assert session.route("tenant") is directory
    assert session.route("alias") is mail


def test_route_errors_when_no_provider_supports_a_kind(desired: dict[tuple[str, str], Resource]) -> None:
    session = session_with(desired, Directory())
    with pytest.raises(ConfigError, match="resource kind 'mailbox' is supported by 0 providers; exactly one"):
        session.route("mailbox")


def test_route_errors_when_two_providers_support_a_kind(desired: dict[tuple[str, str], Resource]) -> None:
    session = session_with(desired, MailStore(), AlsoMail())
    with pytest.raises(ConfigError, match="resource kind 'mailbox' is supported by 2 providers"):
        session.route("mailbox")
    assert session.route("alias").name == "mailstore"  # other kinds are unaffected


def test_plan_checks_routing_before_reading(desired: dict[tuple[str, str], Resource]) -> None:
    # The directory alone cannot own mailboxes: planning must refuse, whatever is live.
    with pytest.raises(ConfigError, match="'alias' is supported by 0 providers"):
        session_with(desired, Directory()).plan()


def test_plan_refuses_a_doubly_owned_kind_even_if_nothing_desired_uses_it(
    desired: dict[tuple[str, str], Resource],
) -> None:
    # No mailbox is desired, but live mailboxes (to be pruned) would have two owners.
    no_mail = {i: r for i, r in desired.items() if r.kind != "mailbox"}
    with pytest.raises(ConfigError, match="'mailbox' is supported by 2 providers"):
        session_with(no_mail, Directory(), MailStore(), AlsoMail()).plan()


def test_open_session_plans_applies_and_converges() -> None:
    provider = MemoryProvider()
    with open_session(ESTATE, providers=[provider]) as session:
        first = session.plan()
        assert first.summary == {"add": 46, "change": 0, "destroy": 0}
        assert Counter(c.kind for c in first.changes) == {"mailbox": 25, "alias": 10, "domain": 6, "tenant": 5}
        assert not first.drifted
        seen: list[Outcome] = []
        result = session.apply(first, seen.append)
        assert result.ok, [(o.change.address, o.error) for o in result.failed]
        assert len(seen) == 46
        assert len(provider.store) == 46
        second = session.plan()
        assert second.empty, [c.address for c in second.changes]
        assert not provider.closed
    assert provider.closed  # connections are released when the session ends


def test_session_spans_two_providers(desired: dict[tuple[str, str], Resource]) -> None:
    directory, mail = Directory(), MailStore()
    session = session_with(desired, directory, mail)
    result = session.apply(session.plan())
    assert result.ok
    assert {r.kind for r in directory.store.values()} == {"tenant", "domain"}
    assert {r.kind for r in mail.store.values()} == {"mailbox", "alias"}
    assert len(directory.store) + len(mail.store) == 46
    assert session.plan().empty


def test_removing_from_desired_state_destroys_only_that(desired: dict[tuple[str, str], Resource]) -> None:
    provider = MemoryProvider()
    full = session_with(desired, provider)
    assert full.apply(full.plan()).ok
    domain = "domain.hartcole.example"
    smaller = {i: r for i, r in desired.items() if r.address != domain and r.parent != domain}
    gone = len(desired) - len(smaller)
    reduced = session_with(smaller, provider)
    plan = reduced.plan()
    assert plan.summary == {"add": 0, "change": 0, "destroy": gone}
    assert reduced.plan(prune=False).empty
    assert reduced.apply(plan).ok
    assert domain not in provider.store
    assert reduced.plan().empty


def test_a_second_session_finds_nothing_to_do() -> None:
    provider = MemoryProvider()
    with open_session(ESTATE, providers=[provider]) as session:
        assert session.apply(session.plan()).ok
    with open_session(ESTATE, providers=[provider]) as again:
        assert again.plan().empty
        assert len(again.desired) == 46


def test_load_provider_rejects_unknown_names(loaded: tuple[Catalog, dict[tuple[str, str], Resource]]) -> None:
    catalog = loaded[0]
    known = sorted(s.name for s in REGISTRY if s.build is not None)
    assert {"ldap", "mailstore"} <= set(known)
    with pytest.raises(ConfigError, match=f"unknown provider 'nope'; known: {', '.join(known)}$"):
        WIRING.provider("nope", catalog.estate.site, {})


class HomeStore(MemoryProvider):
    name: ClassVar[str] = "homes"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"maildir"})
    ARCHIVES: ClassVar[Mapping[str, str]] = {"maildir": "moved to the mail archive"}


def test_a_session_plans_only_the_kinds_its_providers_own(
    loaded: tuple[Catalog, dict[tuple[str, str], Resource]],
) -> None:
    everything = loaded[1]
    assert Counter(kind for kind, _ in everything)["maildir"] == 25
    assert set(in_scope(everything, [Directory()])) == {i for i in everything if i[0] in ("tenant", "domain")}
    homes = HomeStore()
    with open_session(ESTATE, providers=[homes]) as session:
        first = session.plan()
        assert Counter(c.kind for c in first.changes) == {"maildir": 25}
        assert session.apply(first).ok and len(homes.store) == 25
    with open_session(ESTATE, providers=[homes, MemoryProvider()]) as both:
        # DNS kinds, web sites and Sieve scripts stay out of scope: neither provider owns them.
        assert Counter(kind for kind, _ in both.desired) == Counter(
            kind for kind, _ in everything if not kind.startswith("dns") and kind not in ("site", "sieve")
        )


def test_deletes_of_a_providers_archive_kinds_are_planned_as_archives(
    loaded: tuple[Catalog, dict[tuple[str, str], Resource]],
) -> None:
    homes = HomeStore()
    with open_session(ESTATE, providers=[homes]) as session:
        assert session.apply(session.plan()).ok
    gone = next(iter(homes.store))
    smaller = {i: r for i, r in loaded[1].items() if i[0] == "maildir" and r.address != gone}
    (change,) = Session(smaller, [homes]).plan().changes
    assert (change.address, change.action, change.archive) == (gone, "delete", True)


def test_plan_says_which_provider_it_reads_before_reading_it(desired: dict[tuple[str, str], Resource]) -> None:
    directory, mail = Directory(), MailStore()
    seen: list[str] = []

    class Watched(MailStore):
        def _read_live(self, kinds: frozenset[str]) -> list[Resource]:
            seen.append("read mailstore")  # the label came first
            return list(super()._read_live(kinds))

    session = session_with(desired, directory, Watched())
    assert session.plan(progress=seen.append).summary["add"] == 46
    assert seen == ["reading directory", "reading mailstore", "read mailstore"]
    assert session_with(desired, directory, mail).plan().summary["add"] == 46  # no progress: as before


@pytest.mark.parametrize("anchors", [None, frozenset({"tenant.northwind"})])
def test_the_collector_is_paused_while_a_plan_reads_and_compares(
        loaded: tuple[Catalog, dict[tuple[str, str], Resource]], anchors: frozenset[str] | None) -> None:
    seen: list[bool] = []

    class Watching(MemoryProvider):
        name: ClassVar[str] = "watching"
        SUPPORTS: ClassVar[frozenset[str]] = frozenset({kind for kind, _ in loaded[1]})

        def _read_live(self, kinds: frozenset[str]) -> list[Resource]:
            seen.append(gc.isenabled())
            return list(super()._read_live(kinds))

        def _read_within(self, kinds: frozenset[str], within: Within) -> list[Resource]:
            seen.append(gc.isenabled())
            return list(super()._read_within(kinds, within))

    was = gc.isenabled()
    try:
        gc.enable()
        session = Session(loaded[1], [Watching()])
        session.plan(anchors=anchors)
        assert seen and not any(seen)
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


class DescribedMail(DescribingProvider):
    name: ClassVar[str] = "described-mail"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"mailbox", "alias"})


@pytest.mark.parametrize("anchors", [None, frozenset({"tenant.northwind"})])
def test_each_change_gets_its_provider_s_detail_from_one_call(
        desired: dict[tuple[str, str], Resource], anchors: frozenset[str] | None) -> None:
    directory, mail = Directory(), DescribedMail()
    assert session_with(desired, directory, mail).apply(session_with(desired, directory, mail).plan()).ok
    box = next(r for r in desired.values() if r.kind == "mailbox" and r.address.endswith("northwind.example")
               and isinstance(r.attrs.get("quota"), int) and r.sensitive & set(r.attrs))
    quota = box.attrs["quota"]
    assert isinstance(quota, int)
    bigger = {**desired, box.identity: dataclasses.replace(box, attrs={**box.attrs, "quota": quota + 1})}
    domain = next(r for r in desired.values() if r.kind == "domain" and r.key == "northwind.example")
    bigger[domain.identity] = dataclasses.replace(domain, attrs={**domain.attrs, "description": "renamed"})
    mail.described.clear()
    plan = session_with(bigger, directory, mail).plan(anchors=anchors)
    changes = {c.address: c for c in plan.changes}
    assert set(changes) == {box.address, domain.address}
    assert mail.described == [(box.address, box.address)]  # one call, for its own change only
    assert changes[domain.address].detail == ()  # the directory has nothing to add
    detail = changes[box.address].detail
    assert detail[:2] == (f"--- a/{box.key}.conf", f"+++ b/{box.key}.conf")
    assert [line for line in detail[2:] if line[:1] in "+-@"] == ["@@ -4,7 +4,7 @@", f"-quota = {quota}",
                                                                  f"+quota = {quota + 1}"]
    secrets = [str(box.attrs[name]) for name in box.sensitive if box.attrs.get(name)]
    assert secrets and not any(s in line for s in secrets for line in detail)
    mail.described.clear()
    assert session_with(desired, directory, mail).plan(anchors=anchors).empty
    assert mail.described == []


def test_in_scope_asks_no_object_of_a_provider_that_keeps_them_all(
    loaded: tuple[Catalog, dict[tuple[str, str], Resource]],
) -> None:
    asked: list[Resource] = []

    class Everywhere(HomeStore):
        def reconciles(self, resource: Resource) -> bool:
            asked.append(resource)
            return True

        def reconciles_all(self) -> bool:
            return True

    class Somewhere(Everywhere):
        def reconciles_all(self) -> bool:
            return False

    everything = loaded[1]
    maildirs = {i for i in everything if i[0] == "maildir"}
    assert set(in_scope(everything, [Everywhere()])) == maildirs and not asked
    assert set(in_scope(everything, [Somewhere()])) == maildirs and len(asked) == len(maildirs)
