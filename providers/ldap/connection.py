"""Connection settings for the directory, from the environment only (never from git).

``ISPCTL_LDAP_URL``           ldap://host:port, ldaps://host:port or ldapi://%2Fpath
``ISPCTL_LDAP_BIND_DN``       the DN ispctl binds as
``ISPCTL_LDAP_PASSWORD``      its password, or
``ISPCTL_LDAP_PASSWORD_FILE`` a file holding it (preferred in CI: not in the process env)
``ISPCTL_LDAP_STARTTLS``      "yes" (or true/on/1) to upgrade an ldap:// connection with StartTLS;
                              any other word than yes/no, true/false, on/off, 1/0 is an error
``ISPCTL_LDAP_CA_FILE``       CA bundle to verify the server certificate (default: system CAs)

Certificates are always verified for ldaps:// and StartTLS; there is no switch to turn
that off.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ispctl.reconciler.contract import ConfigError, ProviderError, env_flag

if TYPE_CHECKING:
    import ldap3

# ldap3 (with pyasn1, about 60 ms) is imported by the functions that connect through it, not
# with this module: the settings are every command's, and a plan reads through python-ldap
# (``reader``) only (issue 11).


@dataclass(frozen=True)
class LdapSettings:
    url: str
    bind_dn: str
    password: str
    starttls: bool = False
    ca_file: str | None = None

    def __repr__(self) -> str:  # never print the password, even in a traceback
        return f"LdapSettings(url={self.url!r}, bind_dn={self.bind_dn!r}, starttls={self.starttls})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LdapSettings:
        env = os.environ if env is None else env
        url = env.get("ISPCTL_LDAP_URL", "").strip()
        password = env.get("ISPCTL_LDAP_PASSWORD") or None
        password_file = env.get("ISPCTL_LDAP_PASSWORD_FILE", "").strip()
        missing = [n for n in ("ISPCTL_LDAP_URL", "ISPCTL_LDAP_BIND_DN") if not env.get(n, "").strip()]
        if password is None and not password_file:
            # An empty password would turn the bind into an unauthenticated one: treat it as unset.
            missing.append("ISPCTL_LDAP_PASSWORD (or ISPCTL_LDAP_PASSWORD_FILE)")
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} not set; for the local sandbox run: eval \"$(ispctl sandbox env)\""
            )
        scheme = urlparse(url).scheme.lower()
        if scheme not in ("ldap", "ldaps", "ldapi"):
            raise ConfigError(f"ISPCTL_LDAP_URL must start with ldap://, ldaps:// or ldapi:// (got {scheme or 'no scheme'}://)")
        _check_address(url, scheme)
        if password_file:
            try:
                password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                raise ConfigError(f"cannot read ISPCTL_LDAP_PASSWORD_FILE {password_file}: {reason}") from None
            if not password:
                raise ConfigError(f"ISPCTL_LDAP_PASSWORD_FILE {password_file} is empty")
        assert password is not None
        starttls = env_flag(env, "ISPCTL_LDAP_STARTTLS")
        if starttls and scheme != "ldap":
            raise ConfigError("ISPCTL_LDAP_STARTTLS applies to ldap:// URLs only")
        ca_file = env.get("ISPCTL_LDAP_CA_FILE", "").strip() or None
        if ca_file is not None:
            _check_ca_file(ca_file)
        return cls(url, env["ISPCTL_LDAP_BIND_DN"].strip(), password, starttls, ca_file)


def _check_address(url: str, scheme: str) -> None:
    """Host and port of an ldap:// or ldaps:// URL, checked before anything connects."""
    if scheme == "ldapi":
        return
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        port_text = parsed.netloc.rsplit(":", 1)[-1]
        raise ConfigError(f"ISPCTL_LDAP_URL has port {port_text!r}; a port is a number from 1 to 65535") from None
    if port == 0:
        raise ConfigError("ISPCTL_LDAP_URL has port 0; a port is a number from 1 to 65535")
    if not parsed.hostname:
        raise ConfigError(f"ISPCTL_LDAP_URL {url} names no host (e.g. {scheme}://ldap.example.net)")


def _check_ca_file(path: str) -> None:
    try:
        with open(path, "rb") as handle:
            text = handle.read(16 * 1024 * 1024)
    except OSError as exc:
        raise ConfigError(f"cannot read ISPCTL_LDAP_CA_FILE {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN CERTIFICATE-----" not in text:
        raise ConfigError(f"ISPCTL_LDAP_CA_FILE {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")


def new_connection(settings: LdapSettings) -> ldap3.Connection:
    """A connection object, not yet open (``open_connection`` opens it, and reopens it later)."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    parsed = urlparse(settings.url)
    tls = None
    try:
        if parsed.scheme.lower() == "ldaps" or settings.starttls:
            tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file,
                            version=ssl.PROTOCOL_TLS_CLIENT)
        server = ldap3.Server(settings.url, tls=tls, get_info=ldap3.NONE, connect_timeout=10)
    except LDAPException as exc:
        # from_env checked what it can; this is whatever ldap3 still refuses in the URL or TLS setup.
        raise ConfigError(f"cannot use ISPCTL_LDAP_URL {settings.url}: {exc}") from None
    return ldap3.Connection(
        server, user=settings.bind_dn, password=settings.password,
        auto_bind=ldap3.AUTO_BIND_NONE,
        raise_exceptions=True, receive_timeout=120, read_only=False,
        # Operation counters are cheap; they let tests prove a plan reads in bulk.
        collect_usage=True,
    )


def open_connection(conn: ldap3.Connection, settings: LdapSettings) -> None:
    """Open (or reopen, after the server went away) and bind ``conn``; ProviderError if not."""
    from ldap3.core.exceptions import LDAPException

    try:
        if not conn.closed:
            conn.unbind()  # a half-dead socket from before a restart
    except LDAPException:
        pass
    try:
        conn.open()
        if settings.starttls:
            conn.start_tls()
        conn.bind()
    except LDAPException as exc:
        # Close a socket that opened but could not bind, so a failed run leaks nothing.
        try:
            conn.unbind()
        except LDAPException:
            pass
        raise ProviderError(f"cannot connect to the directory at {settings.url} as {settings.bind_dn}: {exc}") from None


def connect(settings: LdapSettings) -> ldap3.Connection:
    conn = new_connection(settings)
    open_connection(conn, settings)
    return conn


class OnDemandConnection:
    """A directory connection opened at first use and released by ``close``: for services that
    keep a few values in the directory (the mail and web hosts) and often plan without touching it."""

    ldap: LdapSettings
    _conn: ldap3.Connection | None = None

    @property
    def conn(self) -> ldap3.Connection:
        if self._conn is None:
            self._conn = connect(self.ldap)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.unbind()
            self._conn = None


def paged_entries(conn: ldap3.Connection, base_dn: str, filterstr: str, attrs: list[str], page_size: int,
                  what: str) -> Iterator[dict[str, Any]]:
    """The entries below ``base_dn`` matching ``filterstr``, a page at a time (estates of 100k
    entries exceed the server's size limit), each as ``{"dn": ..., attribute: values}``;
    ``what`` names the data in the error ("cannot read <what> below <base>")."""
    from ldap3.core.exceptions import LDAPException

    try:
        for item in conn.extend.standard.paged_search(base_dn, filterstr, attributes=attrs, paged_size=page_size,
                                                      generator=True):
            if item.get("type") == "searchResEntry":
                yield {"dn": item["dn"], **item["attributes"]}
    except LDAPException as exc:
        raise ProviderError(f"cannot read {what} below {base_dn}: {exc}") from None


def first_value(entry: Mapping[str, Any], name: str) -> str | None:
    """An attribute's first value as text (ldap3 gives a list, or one value for single-valued ones)."""
    value = entry.get(name)
    if isinstance(value, list):
        return str(value[0]) if value else None
    return None if value is None else str(value)
