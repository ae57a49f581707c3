"""DNS connection settings from the environment: TSIG key sources, addresses, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ispctl.providers.dns.connection import DEFAULT_CATALOG, DnsConnection, parse_hostport, parse_key_statement
from ispctl.reconciler.engine.errors import ConfigError

SECRET = "FmmPuzS6eEfuWVKX4gSgxY/xGgdsyByNx43nntZrklI="
KEYGEN = f'key "ispctl" {{\n\talgorithm hmac-sha512;\n\tsecret "{SECRET}";\n}};\n'


def base(**extra: str) -> dict[str, str]:
    return {"ISPCTL_DNS_SERVER": "127.0.0.1:5353", "ISPCTL_DNS_TSIG_NAME": "ispctl",
            "ISPCTL_DNS_TSIG_SECRET": SECRET, **extra}


def test_minimal_settings_and_defaults() -> None:
    conn = DnsConnection.from_env(base())
    assert (conn.host, conn.port, conn.tsig_name, conn.tsig_algorithm) == ("127.0.0.1", 5353, "ispctl.", "hmac-sha256")
    assert conn.catalog == DEFAULT_CATALOG and conn.rndc_host is None and conn.zone_dir is None
    assert conn.tsig_key.secret == __import__("base64").b64decode(SECRET)
    assert SECRET not in repr(conn)


def test_a_tsig_keygen_file_gives_name_algorithm_and_secret(tmp_path: Path) -> None:
    path = tmp_path / "tsig.key"
    path.write_text(KEYGEN, encoding="utf-8")
    env = {"ISPCTL_DNS_SERVER": "192.0.2.1", "ISPCTL_DNS_TSIG_FILE": str(path)}
    conn = DnsConnection.from_env(env)
    assert (conn.port, conn.tsig_name, conn.tsig_algorithm, conn.tsig_secret) == (53, "ispctl.", "hmac-sha512", SECRET)
    # A bare secret in the file works too, with the name from the environment.
    path.write_text(SECRET + "\n", encoding="utf-8")
    assert DnsConnection.from_env({**env, "ISPCTL_DNS_TSIG_NAME": "other"}).tsig_name == "other."
    path.write_text(KEYGEN, encoding="utf-8")
    with pytest.raises(ConfigError, match="holds key 'ispctl'"):
        DnsConnection.from_env({**env, "ISPCTL_DNS_TSIG_NAME": "other"})


@pytest.mark.parametrize(("env", "message"), [
    ({}, r"ISPCTL_DNS_SERVER, ISPCTL_DNS_TSIG_SECRET \(or ISPCTL_DNS_TSIG_FILE\) not set; .*sandbox env"),
    (base(ISPCTL_DNS_TSIG_NAME=""), "ISPCTL_DNS_TSIG_NAME not set"),
    (base(ISPCTL_DNS_TSIG_SECRET="not base64!"), "not valid base64"),
    (base(ISPCTL_DNS_TSIG_ALGORITHM="hmac-sha999"), "is not one of hmac-sha256"),
    (base(ISPCTL_DNS_SERVER="ns1.example.net:53"), "must name an IP address"),
    (base(ISPCTL_DNS_SERVER="127.0.0.1:99999"), "out of range"),
    (base(ISPCTL_DNS_ZONE_DIR="relative/zones"), "must be an absolute path"),
    (base(ISPCTL_DNS_TSIG_FILE="/nonexistent/key", ISPCTL_DNS_TSIG_SECRET=""), "cannot read ISPCTL_DNS_TSIG_FILE"),
])
def test_bad_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DnsConnection.from_env(env)


def test_rndc_catalog_and_zone_dir() -> None:
    conn = DnsConnection.from_env(base(ISPCTL_RNDC_SERVER="[::1]:9953", ISPCTL_RNDC_KEY_FILE="/k",
                                       ISPCTL_DNS_CATALOG="Catalog.Example.", ISPCTL_DNS_ZONE_DIR="/var/lib/zones"))
    assert (conn.rndc_host, conn.rndc_port, conn.rndc_key_file) == ("::1", 9953, "/k")
    assert conn.catalog == "catalog.example" and conn.zone_dir == "/var/lib/zones"


@pytest.mark.parametrize(("text", "expected"), [
    ("192.0.2.1", ("192.0.2.1", 53)),
    ("192.0.2.1:5300", ("192.0.2.1", 5300)),
    ("2001:db8::1", ("2001:db8::1", 53)),
    ("[2001:db8::1]:5300", ("2001:db8::1", 5300)),
])
def test_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text, 53, "X") == expected


def test_key_statements() -> None:
    parsed = parse_key_statement("# comment\n" + KEYGEN)
    assert parsed is not None and (parsed.name, parsed.algorithm, parsed.secret) == ("ispctl", "hmac-sha512", SECRET)
    assert SECRET not in repr(parsed)
    assert parse_key_statement(SECRET) is None
    assert parse_key_statement('key "x" { algorithm hmac-sha256; };') is None  # no secret
