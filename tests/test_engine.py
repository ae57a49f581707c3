"""The engine's public flow with the real example estate and in-memory providers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest
from memory_provider import MemoryProvider

from reconciler.apply import Outcome
from reconciler.catalog import Catalog
from reconciler.engine import Session, load_desired, load_provider, open_session
from reconciler.errors import ConfigError
from reconciler.resources import Resource

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
    return loaded[1]


def session_with(desired: dict[tuple[str, str], Resource], *providers: MemoryProvider) -> Session:
    # Built by hand (not open_session) so a test can choose what the desired state holds.
    return Session(load_desired(ESTATE)[0], desired, list(providers))


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
        assert first.summary == {"add": 45, "change": 0, "destroy": 0}
        assert Counter(c.kind for c in first.changes) == {"mailbox": 24, "alias": 10, "domain": 6, "tenant": 5}
        assert not first.drifted
        seen: list[Outcome] = []
        result = session.apply(first, seen.append)
        assert result.ok, [(o.change.address, o.error) for o in result.failed]
        assert len(seen) == 45
        assert len(provider.store) == 45
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
    assert len(directory.store) + len(mail.store) == 45
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
        assert len(again.desired) == 45


def test_load_provider_rejects_unknown_names(loaded: tuple[Catalog, dict[tuple[str, str], Resource]]) -> None:
    catalog = loaded[0]
    with pytest.raises(ConfigError, match="unknown provider 'nope'; known: ldap"):
        load_provider("nope", catalog.estate.site, {})
