"""The bulk reader (python-ldap) against a real slapd: connection settings, paging, lost
connections, and the provider's full read still telling drift of every kind."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ldap_helpers import BASE, EXAMPLE, EXAMPLE_COUNT, apply_example, env_of, find_one, ldap_ok, marked_entry_ldif

from ispctl.providers.ldap import dn as dnlib
from ispctl.providers.ldap import mapping, reader
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.engine.errors import ProviderError
from ispctl.reconciler.engine.resources import Resource
from tests.wiring import REGISTRY, load_desired, open_session

NW = f"associatedDomain=northwind.example,o=northwind,{BASE}"
SB = f"associatedDomain=southbay.example,o=southbay,{BASE}"


def settings_of(slapd: SlapdInstance, **extra: str) -> LdapSettings:
    return LdapSettings.from_env(env_of(slapd, **extra))


@contextmanager
def provider(slapd: SlapdInstance, page_size: int = 1000) -> Iterator[LdapProvider]:
    instance = LdapProvider(settings_of(slapd), BASE, page_size, retries=2, pause=0.05)
    try:
        yield instance
    finally:
        instance.close()


def read_all(slapd: SlapdInstance, page_size: int, **extra: str) -> tuple[list[int], reader.Stats]:
    """The sizes of the pages of a read of the managed subtree, and what it took."""
    bulk = reader.Reader(settings_of(slapd, **extra), retries=0)

    def sizes(conn: reader.Connection, _again: bool) -> list[int]:
        return [len(page) for page in reader.paged(conn, BASE, mapping.SEARCH_FILTER,
                                                    mapping.search_attributes(), page_size)]

    return bulk.run(sizes), bulk.stats


# -- the connection ----------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1000, 10])
def test_a_paged_read_hands_over_every_entry_one_page_at_a_time(slapd: SlapdInstance, page_size: int) -> None:
    apply_example(slapd)
    pages, stats = read_all(slapd, page_size)
    assert sum(pages) == EXAMPLE_COUNT and max(pages) <= page_size
    assert len(pages) == math.ceil(EXAMPLE_COUNT / page_size)
    # One connection; one request per page (the next page is asked for before this one is parsed).
    assert (stats.connections, stats.searches) == (1, len(pages))


@pytest.mark.parametrize("page_size", [1000, 10])
def test_a_subtree_is_asked_for_once_unpaged_and_paged_only_past_a_page(slapd: SlapdInstance, page_size: int) -> None:
    """``reader.below``: the same entries as the paged search; past ``page_size`` entries the
    unpaged question ends at the limit and the paged one follows."""
    apply_example(slapd)
    bulk = reader.Reader(settings_of(slapd), retries=0)

    def read(conn: reader.Connection, _again: bool) -> tuple[list[str], list[str], int]:
        attributes = mapping.search_attributes()
        paged = sorted(e[0] for page in reader.paged(conn, BASE, mapping.SEARCH_FILTER, attributes, page_size)
                       for e in page)
        before = conn.stats.searches
        below = sorted(e[0] for page in reader.below(conn, BASE, mapping.SEARCH_FILTER, attributes, page_size)
                       for e in page)
        return paged, below, conn.stats.searches - before

    paged, below, searches = bulk.run(read)
    assert below == paged and len(below) == EXAMPLE_COUNT
    assert searches == (1 if page_size >= EXAMPLE_COUNT else 1 + math.ceil(EXAMPLE_COUNT / page_size))
    with pytest.raises(reader.BaseGone):
        bulk.run(lambda conn, _again: list(reader.below(conn, f"o=nobody,{BASE}", "(objectClass=*)", ["1.1"], 10)))


def test_the_reader_binds_over_ldapi_too(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    pages, _stats = read_all(slapd, 1000, ISPCTL_LDAP_URL=slapd.ldapi_url)
    assert sum(pages) == EXAMPLE_COUNT


def test_a_wrong_password_is_a_provider_error_that_does_not_repeat_it(slapd: SlapdInstance) -> None:
    wrong = "Wr0ng-but-secret-password"
    with pytest.raises(ProviderError) as caught:
        reader.open_reader(settings_of(slapd, ISPCTL_LDAP_PASSWORD=wrong))
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the directory at {slapd.url} as {slapd.bind_dn}: Invalid credentials")
    assert wrong not in message and slapd.password not in message


@pytest.mark.parametrize("tls", ["starttls", "ldaps"])
def test_tls_the_server_cannot_speak_never_falls_back_to_plain_text(slapd: SlapdInstance, tls: str) -> None:
    # The test slapd speaks no TLS: both ways of asking for it must fail, never read in clear.
    extra = {"ISPCTL_LDAP_STARTTLS": "1"} if tls == "starttls" else {"ISPCTL_LDAP_URL": slapd.url.replace("ldap://", "ldaps://")}
    with pytest.raises((ProviderError, reader.Lost)):
        read_all(slapd, 1000, **extra)


def test_a_search_the_server_refuses_is_a_search_failure(slapd: SlapdInstance) -> None:
    def bad(conn: reader.Connection, _again: bool) -> None:
        list(reader.paged(conn, BASE, "(objectClass=ispctlManaged", ["1.1"], 10))

    with pytest.raises(reader.SearchFailed, match="Bad search filter"):
        reader.Reader(settings_of(slapd), retries=0).run(bad)


# -- TLS (the test slapd is given a certificate of a CA made for the test) -------------------


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
                 ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    signer_name, signer_key = issuer if issuer is not None else (subject, key)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, signer_name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    return builder.sign(signer_key, hashes.SHA256())


def _pem(path: Path, item: x509.Certificate | ec.EllipticCurvePrivateKey) -> str:
    if isinstance(item, x509.Certificate):
        path.write_bytes(item.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return str(path)


@pytest.fixture
def tls_slapd(slapd: SlapdInstance, tmp_path: Path) -> tuple[SlapdInstance, str, str]:
    """The slapd with StartTLS on (a certificate for 127.0.0.1), the file of its CA and of another CA."""
    ca_key, other_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("ispctl test CA", ca_key, None, ca=True)
    server = _certificate("127.0.0.1", server_key, ("ispctl test CA", ca_key), ca=False)
    ca_file = _pem(tmp_path / "ca.pem", ca)
    other_file = _pem(tmp_path / "other-ca.pem", _certificate("another CA", other_key, None, ca=True))
    cert_file, key_file = _pem(tmp_path / "server.pem", server), _pem(tmp_path / "server.key", server_key)
    ldif = (f"dn: cn=config\nchangetype: modify\nreplace: olcTLSCertificateFile\nolcTLSCertificateFile: {cert_file}\n"
            f"-\nreplace: olcTLSCertificateKeyFile\nolcTLSCertificateKeyFile: {key_file}\n")
    ldap_ok(slapd.external("ldapmodify", input=ldif))
    return slapd, ca_file, other_file


@pytest.mark.parametrize("where", ["ISPCTL_LDAP_CA_FILE", "the system's CAs"])
def test_starttls_with_the_servers_ca_reads_everything(tls_slapd: tuple[SlapdInstance, str, str], where: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    slapd, ca_file, _other = tls_slapd
    apply_example(slapd)
    if where == "ISPCTL_LDAP_CA_FILE":
        pages, _stats = read_all(slapd, 10, ISPCTL_LDAP_STARTTLS="yes", ISPCTL_LDAP_CA_FILE=ca_file)
    else:
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # the system's bundle, as Python finds it
        pages, _stats = read_all(slapd, 10, ISPCTL_LDAP_STARTTLS="yes")
    assert sum(pages) == EXAMPLE_COUNT


@pytest.mark.parametrize("ca", ["another CA", "the system's CAs"])
def test_starttls_with_a_certificate_that_does_not_verify_is_refused_at_once(
        tls_slapd: tuple[SlapdInstance, str, str], ca: str) -> None:
    slapd, _ca_file, other = tls_slapd
    extra = {"ISPCTL_LDAP_STARTTLS": "yes", **({"ISPCTL_LDAP_CA_FILE": other} if ca == "another CA" else {})}
    bulk = reader.Reader(settings_of(slapd, **extra), retries=3, pause=5.0)  # a retry would show as a pause
    with pytest.raises(ProviderError, match="^cannot connect to the directory at .*: StartTLS failed: Connect error"):
        bulk.run(lambda _conn, _again: None)
    assert bulk.stats.connections == 0


# -- lost connections --------------------------------------------------------------------


def test_a_read_cut_by_a_restart_starts_over_and_misses_nothing(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    runs: list[bool] = []

    def read(conn: reader.Connection, again: bool) -> int:
        runs.append(again)
        count = 0
        for page in reader.paged(conn, BASE, mapping.SEARCH_FILTER, mapping.search_attributes(), 10):
            count += len(page)
            if not again and count == 10:
                slapd.stop()  # after the first page of the first run: the rest must come again
                slapd.start()
        return count

    bulk = reader.Reader(settings_of(slapd), retries=3, pause=0.05)
    assert bulk.run(read) == EXAMPLE_COUNT
    assert runs == [False, True] and bulk.stats.connections == 2


def test_a_directory_gone_for_good_is_lost_with_libldaps_reason(slapd: SlapdInstance) -> None:
    slapd.stop()
    runs: list[bool] = []

    def read(conn: reader.Connection, again: bool) -> None:
        runs.append(again)

    with pytest.raises(reader.Lost, match="Can't contact LDAP server"):
        reader.Reader(settings_of(slapd), retries=2, pause=0.01).run(read)
    assert runs == []  # never connected


def test_the_provider_says_once_that_a_read_lost_the_directory(slapd: SlapdInstance) -> None:
    with provider(slapd) as ldap:
        ldap.conn  # noqa: B018 - connected and checked before slapd goes away
        slapd.stop()
        with pytest.raises(ProviderError) as caught:
            ldap.read()
        message = str(caught.value)
        assert message.startswith(f"lost the directory at {slapd.url} during the read of {BASE} (cannot connect: ")
        assert "could not reconnect (2 attempts)" in message
        with pytest.raises(ProviderError, match="^not tried: the directory at .* is unreachable"):
            ldap.read()


def test_a_base_that_disappears_after_connecting_is_named(slapd: SlapdInstance) -> None:
    with provider(slapd) as ldap:
        ldap.conn  # noqa: B018 - the base was there when the provider connected
        ldap_ok(slapd.ldapmodify(f"dn: {BASE}\nchangetype: delete\n"))  # nothing below it yet
        with pytest.raises(ProviderError, match=f"^the managed base {BASE} disappeared from the directory while it "
                                                "was read$"):
            ldap.read()


# -- drift of every kind, through the bulk read ---------------------------------------------


def plan_of(slapd: SlapdInstance) -> list[tuple[str, str, bool, str | None]]:
    with open_session(EXAMPLE, env=env_of(slapd)) as session:
        plan = session.plan()
    return [(c.address, c.action, c.is_move, c.drift) for c in plan.changes]


def test_the_example_estate_reads_back_exactly_as_compiled(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    _catalog, desired = load_desired(EXAMPLE)
    # The directory as the command line builds it: with the services' parts (RADIUS's, FTP's).
    service = REGISTRY.get("ldap")
    assert service is not None and service.provider is not None and issubclass(service.provider, LdapProvider)
    ldap = service.provider(settings_of(slapd), BASE, 10)
    try:
        live = ldap.read()
    finally:
        ldap.close()
    wanted = {ident: r for ident, r in desired.items() if ident[0] in ldap.SUPPORTS}
    assert set(live) == set(wanted)
    for ident, want in wanted.items():
        have = live[ident]
        # The parts' fields a resource does not use read as None (absent): the same values.
        values = {k: v for k, v in have.attrs.items() if v is not None or k in want.attrs}
        assert (values, have.parent, have.recorded_fingerprint) == (want.attrs, want.parent, want.fingerprint())
        assert have.drifted() is None and ldap._dn[have.address].lower().endswith(BASE)


def test_a_hand_changed_managed_attribute_is_drift(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    dn, _entry = find_one(slapd, "(uid=support@northwind.example)")
    ldap_ok(slapd.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: ispctlMailQuota\nispctlMailQuota: 1\n"))
    assert plan_of(slapd) == [("mailbox.support@northwind.example", "update", False, "changed outside ispctl")]


def test_a_hand_changed_copy_of_the_display_name_is_drift(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    dn, _entry = find_one(slapd, "(uid=support@northwind.example)")
    ldap_ok(slapd.ldapmodify(f"dn: {dn}\nchangetype: modify\nreplace: sn\nsn: Someone Else\n"))
    assert plan_of(slapd) == [("mailbox.support@northwind.example", "update", False, "changed outside ispctl")]


def test_an_extra_and_a_missing_entry_are_planned(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    ldap_ok(slapd.ldapadd(marked_entry_ldif(f"uid=ghost@northwind.example,{NW}", "mailbox", "ghost@northwind.example")))
    ldap_ok(slapd.ldapmodify(f"dn: uid=noc@northwind.example,{NW}\nchangetype: delete\n"))
    assert sorted(plan_of(slapd)) == [
        ("mailbox.ghost@northwind.example", "delete", False, "created outside ispctl"),
        ("mailbox.noc@northwind.example", "create", False, None),
    ]


def test_an_entry_moved_by_hand_is_moved_back(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    ldap_ok(slapd.ldapmodify(f"dn: uid=noc@northwind.example,{NW}\nchangetype: modrdn\n"
                             f"newrdn: uid=noc@northwind.example\ndeleteoldrdn: 1\nnewsuperior: {SB}\n"))
    assert plan_of(slapd) == [("mailbox.noc@northwind.example", "update", True, "changed outside ispctl")]


ODD = [
    # Escapes in the DN (a leading #, a comma, a plus, an equals sign, quotes), non-ASCII in a
    # DN and in values, and values ldapsearch must base64-encode (leading and trailing spaces).
    Resource("tenant", "zoë & co, ltd", {"kind": "client", "display_name": " Zoë & Co, Ltd. ", "status": "active"},
             parent="tenant.northwind"),
    Resource("alias", '#t+e=a,m "x"@northwind.example', {"targets": ("noc@northwind.example",),
                                                          "description": " spaced, and Zoë "},
             parent="domain.northwind.example"),
    Resource("mailbox", "o'brien+x@northwind.example", {
        "address": "o'brien+x@northwind.example", "display_name": "  Zoë, \"Z\" + <z>  ", "quota": 2**31,
        "home": "/var/vmail/northwind.example/o'brien+x", "uid_number": 5001, "gid_number": 5000,
        "services": ("imap", "smtp")}, parent="domain.northwind.example", sensitive=frozenset({"password"})),
]


def test_odd_dns_and_values_read_back_exactly_and_a_hand_change_to_them_is_drift(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    with provider(slapd) as ldap:
        ldap.read()
        for resource in ODD:
            ldap.create(resource)
        dns = {r.address: ldap._dn[r.address] for r in ODD}
    with provider(slapd) as ldap:
        live = ldap.read()
        for want in ODD:
            have = live[want.identity]
            every_field = dict.fromkeys(mapping.KINDS[want.kind].fields)
            assert (have.attrs, have.parent) == ({**every_field, **want.attrs}, want.parent)
            # slapd answers with its own escapes (\2C for a comma): the same DN.
            assert have.drifted() is None
            assert dnlib.normalise(ldap._dn[want.address]) == dnlib.normalise(dns[want.address])
    alias_dn = dns[ODD[1].address]
    changed = base64.b64encode(" spaced, and Zoë!".encode()).decode()
    ldap_ok(slapd.ldapmodify(f"dn: {alias_dn}\nchangetype: modify\nreplace: description\ndescription:: {changed}\n"))
    with provider(slapd) as ldap:
        have = ldap.read()[ODD[1].identity]
    assert have.attrs["description"] == " spaced, and Zoë!" and have.drifted() == "changed outside ispctl"


def test_many_base_reads_are_windowed_and_missing_or_unmatched_dns_left_out(slapd: SlapdInstance) -> None:
    apply_example(slapd)
    dns = sorted(find_dns(slapd))
    assert len(dns) == EXAMPLE_COUNT
    # More reads than one window (slapd drops a connection with ~1,000 pending): each DN many
    # times over, plus DNs that are not there or do not match the filter.
    wanted = dns * 20 + [f"uid=nobody@northwind.example,{NW}", slapd.suffix]
    bulk = reader.Reader(settings_of(slapd), retries=0)
    found = bulk.run(lambda conn, _again: reader.lookups(conn, wanted, ["1.1"], mapping.SEARCH_FILTER))
    assert len(wanted) > 2 * reader.WINDOW and bulk.stats.searches == len(wanted)
    assert sorted(dn for dn, _attrs in found) == sorted(dns * 20)


def find_dns(slapd: SlapdInstance) -> list[str]:
    bulk = reader.Reader(settings_of(slapd), retries=0)
    pages = bulk.run(lambda conn, _again: list(reader.paged(conn, BASE, mapping.SEARCH_FILTER, ["1.1"], 1000)))
    return [dn for page in pages for dn, _attrs in page]
