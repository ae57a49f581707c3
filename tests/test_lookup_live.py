"""``lookup.live``: the read commands read the live state as plan does, in bulk: one read per
provider for the whole estate, and a narrowed read (a few subtree searches, whatever the
estate's size) for one object, tenant or domain. Against a real slapd holding the example."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.estate.desired import EstateSession
from ispctl.reconciler.lookup.live import read_live
from tests.ldap_helpers import EXAMPLE, apply_example, env_of
from tests.wiring import open_session


@contextmanager
def counted(slapd: SlapdInstance) -> Iterator[tuple[EstateSession, dict[str, int]]]:
    """A session on the example with the directory provider, counting each provider's reads
    (the real read runs; the count is kept beside it)."""
    calls: dict[str, int] = {}
    with open_session(EXAMPLE, env=env_of(slapd, ISPCTL_PROVIDERS="ldap")) as session:
        for provider in session.providers:
            real: Callable[..., Any] = provider.read

            def read(*args: Any, _real: Callable[..., Any] = real, _name: str = provider.name,
                     **kwargs: Any) -> Any:
                calls[_name] = calls.get(_name, 0) + 1
                return _real(*args, **kwargs)

            provider.read = read  # type: ignore[method-assign]
        yield session, calls


def test_the_whole_estate_is_one_read_per_provider(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    with counted(slapd) as (session, calls):
        live = read_live(session)
    assert calls == {"ldap": 1}
    assert {key for kind, key in live if kind == "mailbox"} == {key for kind, key in session.desired
                                                               if kind == "mailbox"}


def test_one_object_or_tenant_reads_only_its_part(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    with counted(slapd) as (session, calls):
        live = read_live(session, frozenset({"mailbox.anna@xn--bckerei-mller-bfb28a.example"}))
        assert ("mailbox", "anna@xn--bckerei-mller-bfb28a.example") in live
        assert not any(key.endswith("@hartcole.example") for _, key in live)  # another tenant's: not read
        assert calls["ldap"] <= 3
        calls.clear()
        tenant = read_live(session, frozenset({"tenant.lawfirm"}))
        boxes = {key for kind, key in tenant if kind == "mailbox"}
        lawfirm = {key for kind, key in session.desired if kind == "mailbox" and key.endswith("@hartcole.example")}
        assert boxes == lawfirm
        assert calls["ldap"] <= 3
