"""The contract's registry: services with unique names and kinds, composed into one language."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import pytest

from ispctl.providers.registry import BUILTIN
from ispctl.reconciler.contract import ConfigError, DirectoryPart, Provider, Registry, Resource, Service, SiteFile
from tests.wiring import REGISTRY


class _Owns(Provider):
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({"tenant"})

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        return []

    def _create(self, resource: Resource) -> None: ...

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None: ...

    def _delete(self, resource: Resource) -> None: ...


def _build(site: SiteFile, env: object) -> Provider:
    return _Owns()


def test_the_builtin_services_declare_everything_they_bring() -> None:
    assert REGISTRY.names[: len(BUILTIN)] == ("ldap", "mailstore", "dovecot", "postfix", "dns", "web",
                                                "radius", "ftp", "sieve", "opendkim", "adopt")
    ldap, mailstore, dns = (REGISTRY.get(name) for name in ("ldap", "mailstore", "dns"))
    # The directory also stores the kinds other services declare as directory parts (RADIUS's, FTP's).
    assert ldap is not None and ldap.enabled_by_default
    assert ldap.kinds == {"tenant", "domain", "mailbox", "alias", "access_account", "radius_profile", "ftp_login"}
    assert mailstore is not None and mailstore.kinds == {"maildir"} and mailstore.compile is not None
    assert dns is not None and dns.kinds == {"dns_zone", "dns"} and {s.file for s in dns.sections} == {"site", "domain"}
    web = REGISTRY.get("web")
    assert web is not None and web.compile is not None and web.overrides
    assert {s.file for s in web.sections} == {"site", "domain", "tenant"}
    # Configuration-only services reconcile nothing, but bring commands (and a sandbox part).
    dovecot = REGISTRY.get("dovecot")
    # Dovecot's provider keeps the mailboxes' hosts in a cluster (and moves them); the rest is configuration.
    assert dovecot is not None and dovecot.kinds == {"mailhost"} and dovecot.commands is not None
    assert dovecot.sandbox is not None
    radius = REGISTRY.get("radius")
    assert radius is not None and radius.provider is None and radius.directory and radius.compile is not None
    assert [c.name for c in REGISTRY.components()] == ["ldap", "dovecot", "dns", "web", "freeradius", "ftp", "opendkim"]


def test_a_name_or_kind_claimed_twice_is_refused() -> None:
    twin = Service(name="ldap", summary="another directory")
    with pytest.raises(ConfigError, match="two services are named 'ldap'"):
        REGISTRY.extended([twin])
    grabber = Service(name="grabber", summary="claims tenants", provider=_Owns, build=_build)
    with pytest.raises(ConfigError, match="resource kind 'tenant' is claimed by ldap and grabber"):
        REGISTRY.extended([grabber])


def test_a_provider_needs_its_factory_and_the_reverse() -> None:
    with pytest.raises(ConfigError, match="declares a provider class without a factory"):
        Registry((Service(name="half", summary="no factory", provider=_Owns),))


def test_the_default_providers_are_the_services_that_enable_themselves() -> None:
    site = REGISTRY.schema.files.site.model_validate({"directory": {"base_dn": "o=x"}})
    assert site.providers == ("ldap",)
    assert Registry(()).schema.files.site.model_validate({}).providers == ()


SCHEMA_FILE = Path(__file__).parent.parent / "providers" / "ftp" / "schema" / "pureftpd.ldif"
_FTP = DirectoryPart("mailbox", {"ftp_status": (("FTPStatus",), "str")}, ("PureFTPdUser",), schemas=(SCHEMA_FILE,))
_LOGIN = DirectoryPart("login", {"home": (("homeDirectory",), "str")}, ("account", "posixAccount"),
                       rdn_attr="uid", identifying_class="account")


# The built-in services that store nothing in the directory themselves (the others' parts
# would be in every expectation below).
PLAIN = tuple(s for s in BUILTIN if not s.directory)


def test_directory_parts_reach_the_directory_service_its_provider_and_its_sandbox() -> None:
    registry = Registry(PLAIN).extended([Service(name="ftpish", summary="x", directory=(_FTP, _LOGIN))])
    ldap = registry.get("ldap")
    assert ldap is not None and ldap.provider is not None and ldap.sandbox is not None
    assert ldap.kinds == {"tenant", "domain", "mailbox", "alias", "login"}
    assert "FTPStatus" in ldap.provider.MAP.attributes  # type: ignore[attr-defined]
    assert ldap.sandbox().schemas == (str(SCHEMA_FILE),)  # type: ignore[attr-defined]
    assert registry.directory_parts == (_FTP, _LOGIN)
    # Without parts the directory service is exactly the declared one.
    assert Registry(PLAIN).get("ldap") is BUILTIN[0]


def test_an_attribute_or_a_new_kind_two_services_claim_is_refused() -> None:
    one = Service(name="one", summary="x", directory=(_FTP,))
    two = Service(name="two", summary="x", directory=(DirectoryPart("alias", {"s": (("ftpstatus",), "str")}),))
    with pytest.raises(ConfigError, match="LDAP attribute 'ftpstatus' is claimed by one and two"):
        Registry(PLAIN).extended([one, two])
    with pytest.raises(ConfigError, match="directory kind 'login' is claimed by one and two"):
        Registry(PLAIN).extended([Service(name="one", summary="x", directory=(_LOGIN,)),
                                  Service(name="two", summary="x", directory=(_LOGIN,))])
    # New kinds are entries of their own: two may both be named by uid (an FTP login, a RADIUS account).
    other = DirectoryPart("dialin", {"password": (("userPassword",), "str")}, ("account",), rdn_attr="uid",
                          identifying_class="account")
    assert Registry(PLAIN).extended([Service(name="one", summary="x", directory=(_LOGIN,)),
                                     Service(name="two", summary="x", directory=(other,))]).get("ldap") is not None
    # A new kind another service's provider already owns.
    with pytest.raises(ConfigError, match="already stores kind 'mailbox'"):
        Registry(BUILTIN).extended([Service(name="one", summary="x", directory=(
            DirectoryPart("mailbox", {"h": (("h",), "str")}, ("c",), rdn_attr="cn", identifying_class="c"),))])
    with pytest.raises(ConfigError, match="resource kind 'maildir' is claimed by ldap and mailstore"):
        Registry(BUILTIN).extended([Service(name="one", summary="x", directory=(
            DirectoryPart("maildir", {"h": (("h",), "str")}, ("c",), rdn_attr="cn", identifying_class="c"),))])


def test_every_exported_name_resolves_the_lazy_ones_to_their_home_modules() -> None:
    # Apply's, the sandbox's and the editing commands' names load on first use (PEP 562): a name
    # in ``__all__`` missing from the table would fail only when a service first asks for it.
    from ispctl.reconciler import contract
    from ispctl.reconciler.engine import audit, journal, rendered, replicas
    from ispctl.reconciler.harness import sandbox
    from ispctl.reconciler.provision import yamlrt

    assert [name for name in contract.__all__ if not hasattr(contract, name)] == []
    assert contract.audit is audit and contract.MoveJournal is journal.MoveJournal
    assert contract.placed_host is journal.placed_host and contract.write_rendered is rendered.write_rendered
    assert contract.ReplicaWatch is replicas.ReplicaWatch and contract.Component is sandbox.Component
    assert contract.round_trip is yamlrt.round_trip
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        contract.Nothing  # noqa: B018
