"""Connection settings for the DNS primary, from the environment only (never from git).

``ISPCTL_DNS_SERVER``          host:port of the primary (AXFR and RFC 2136 updates; port 53 if left out)
``ISPCTL_DNS_TSIG_NAME``       name of the TSIG key ispctl signs with
``ISPCTL_DNS_TSIG_SECRET``     its base64 secret, or
``ISPCTL_DNS_TSIG_FILE``       a file holding it: either the bare secret or a BIND ``key`` statement
                               as ``tsig-keygen`` writes it (name and algorithm are then taken from
                               it unless the variables above say otherwise)
``ISPCTL_DNS_TSIG_ALGORITHM``  default hmac-sha256
``ISPCTL_RNDC_SERVER``         host:port of named's control channel (port 953 if left out)
``ISPCTL_RNDC_KEY_FILE``       the BIND ``key`` statement rndc authenticates with
``ISPCTL_DNS_CATALOG``         the catalog zone listing the zones ispctl owns
                               (default ``catalog.ispctl.invalid``)
``ISPCTL_DNS_ZONE_DIR``        where new zone files are written, as named sees the path: ispctl
                               must run on named's host (or see the same directory) to create
                               primary zones; reading and record changes do not need it

Every request is TSIG-signed; there is no unsigned mode.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ispctl.reconciler.contract import ConfigError, ProviderError

if TYPE_CHECKING:
    import dns.tsig

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).


class Unreachable(ProviderError):
    """named did not answer (refused connection, timeout, dropped connection): stopped or restarting."""

DEFAULT_CATALOG = "catalog.ispctl.invalid"
DEFAULT_ALGORITHM = "hmac-sha256"
ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")
_KEY_STATEMENT = re.compile(
    r'key\s+"?(?P<name>[^"\s{]+)"?\s*\{(?P<body>[^}]*)\}', re.IGNORECASE | re.DOTALL)
_KEY_FIELD = re.compile(r'(?P<field>algorithm|secret)\s+"?(?P<value>[^";\s]+)"?\s*;', re.IGNORECASE)
SANDBOX_HINT = 'for the local sandbox run: eval "$(ispctl sandbox env)"'


@dataclass(frozen=True)
class KeyFile:
    """A BIND ``key "name" { algorithm ...; secret "..."; };`` statement."""

    name: str
    algorithm: str
    secret: str

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"KeyFile(name={self.name!r}, algorithm={self.algorithm!r})"


def parse_key_statement(text: str) -> KeyFile | None:
    """The first key statement in ``text`` (a tsig-keygen or rndc-confgen -a file), or None."""
    match = _KEY_STATEMENT.search(text)
    if match is None:
        return None
    fields = {m["field"].lower(): m["value"] for m in _KEY_FIELD.finditer(match["body"])}
    if "secret" not in fields:
        return None
    return KeyFile(match["name"], fields.get("algorithm", DEFAULT_ALGORITHM).lower(), fields["secret"])


def parse_hostport(value: str, default_port: int, variable: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port``, a bare host or a bare IPv6 address."""
    value = value.strip()
    host, port_text = value, ""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    if not host:
        raise ConfigError(f"{variable} names no host (got {value!r})")
    # ASCII digits only: int() also reads "８０" and "٨٠".
    if port_text and not re.fullmatch(r"[0-9]{1,5}", port_text):
        raise ConfigError(f"{variable}: port must be a number (got {value!r})")
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise ConfigError(f"{variable}: port {port} is out of range")
    try:
        # dnspython sends to addresses only; resolving names here keeps errors early and clear.
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"{variable} must name an IP address, not a host name (got {host!r})") from None
    return host, port


def _read(path: str, variable: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {variable} {path}: {reason}") from None


@dataclass(frozen=True)
class DnsConnection:
    host: str
    port: int
    tsig_name: str
    tsig_secret: str
    tsig_algorithm: str
    rndc_host: str | None = None
    rndc_port: int = 953
    rndc_key_file: str | None = None
    catalog: str = DEFAULT_CATALOG
    zone_dir: str | None = None
    timeout: float = 30.0

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return (f"DnsConnection(server={self.host}:{self.port}, tsig_name={self.tsig_name!r}, "
                f"rndc={self.rndc_host}:{self.rndc_port}, catalog={self.catalog!r})")

    @property
    def tsig_key(self) -> dns.tsig.Key:
        import dns.tsig

        return dns.tsig.Key(self.tsig_name, self.tsig_secret, self.tsig_algorithm)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DnsConnection:
        import dns.exception
        import dns.name

        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip()

        missing = [n for n in ("ISPCTL_DNS_SERVER",) if not get(n)]
        secret, name = get("ISPCTL_DNS_TSIG_SECRET"), get("ISPCTL_DNS_TSIG_NAME")
        algorithm = get("ISPCTL_DNS_TSIG_ALGORITHM")
        key_file = get("ISPCTL_DNS_TSIG_FILE")
        if not secret and not key_file:
            missing.append("ISPCTL_DNS_TSIG_SECRET (or ISPCTL_DNS_TSIG_FILE)")
        if missing:
            raise ConfigError(f"{', '.join(missing)} not set; {SANDBOX_HINT}")
        if key_file and not secret:
            text = _read(key_file, "ISPCTL_DNS_TSIG_FILE")
            statement = parse_key_statement(text)
            if statement is None:
                secret = text.strip()
            else:
                if name and name.rstrip(".") != statement.name.rstrip("."):
                    raise ConfigError(f"ISPCTL_DNS_TSIG_NAME is {name!r} but {key_file} holds key {statement.name!r}")
                name, secret = name or statement.name, statement.secret
                algorithm = algorithm or statement.algorithm
        if not name:
            raise ConfigError(f"ISPCTL_DNS_TSIG_NAME not set; {SANDBOX_HINT}")
        if not secret:
            raise ConfigError("the TSIG secret is empty")
        try:
            base64.b64decode(secret, validate=True)
        except binascii.Error:
            raise ConfigError("the TSIG secret is not valid base64") from None
        algorithm = (algorithm or DEFAULT_ALGORITHM).lower()
        if algorithm not in ALGORITHMS:
            raise ConfigError(f"ISPCTL_DNS_TSIG_ALGORITHM {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        host, port = parse_hostport(get("ISPCTL_DNS_SERVER"), 53, "ISPCTL_DNS_SERVER")
        rndc_host: str | None = None
        rndc_port = 953
        if get("ISPCTL_RNDC_SERVER"):
            rndc_host, rndc_port = parse_hostport(get("ISPCTL_RNDC_SERVER"), 953, "ISPCTL_RNDC_SERVER")
        catalog = get("ISPCTL_DNS_CATALOG").rstrip(".").lower() or DEFAULT_CATALOG
        try:
            dns.name.from_text(catalog)
        except dns.exception.DNSException as exc:
            raise ConfigError(f"ISPCTL_DNS_CATALOG {catalog!r} is not a domain name: {exc}") from None
        zone_dir = get("ISPCTL_DNS_ZONE_DIR") or None
        if zone_dir is not None and not os.path.isabs(zone_dir):
            raise ConfigError(f"ISPCTL_DNS_ZONE_DIR must be an absolute path (got {zone_dir!r})")
        return cls(host, port, name.rstrip(".") + ".", secret, algorithm, rndc_host, rndc_port,
                   get("ISPCTL_RNDC_KEY_FILE") or None, catalog, zone_dir)
