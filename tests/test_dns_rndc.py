"""named's control channel through the real rndc: zone add/modify/delete, errors, safe arguments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dns_helpers import served

from ispctl.providers.dns.rndc import Rndc, address_list, check_zone_name, quoted
from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.reconciler.engine.errors import ConfigError, ProviderError

REPO = Path(__file__).resolve().parents[1]


def rndc_for(named: NamedInstance) -> Rndc:
    return Rndc("127.0.0.1", named.control_port, str(named.rndc_key_file))


def test_zones_are_added_changed_and_deleted(named: NamedInstance) -> None:
    rndc = rndc_for(named)
    (named.workdir / "t.db").write_text("$TTL 60\n@ SOA ns.t.example. h.t.example. 1 1 1 1 1\n@ NS ns.other.\n",
                                        encoding="utf-8")
    assert not rndc.has_zone("t.example")
    rndc.addzone("t.example", '{ type primary; file "t.db"; };')
    assert rndc.has_zone("t.example") and served(named, "t.example")
    with pytest.raises(ProviderError, match="rndc addzone failed: .*already exists"):
        rndc.addzone("t.example", '{ type primary; file "t.db"; };')
    rndc.modzone("t.example", '{ type secondary; primaries { 192.0.2.1; }; };')
    assert "type secondary" in named.rndc("showzone", "t.example").stdout
    assert rndc.delzone("t.example") is True
    assert rndc.delzone("t.example") is False  # already gone: nothing to do
    assert not rndc.has_zone("t.example")
    assert rndc.calls == ["showzone", "addzone", "showzone", "addzone", "modzone", "delzone", "delzone", "showzone"]


def test_a_wrong_key_or_port_is_a_clear_error(named: NamedInstance, tmp_path: Path) -> None:
    other = tmp_path / "other.key"
    other.write_text('key "ispctl-rndc" { algorithm hmac-sha256; '
                     'secret "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; };\n',
                     encoding="utf-8")
    with pytest.raises(ProviderError, match="rndc showzone failed"):
        Rndc("127.0.0.1", named.control_port, str(other), timeout=10).has_zone("x.example")
    with pytest.raises(ConfigError, match="cannot read ISPCTL_RNDC_KEY_FILE"):
        Rndc("127.0.0.1", named.control_port, str(tmp_path / "missing.key"))
    (tmp_path / "empty.key").write_text("nothing here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no BIND key statement"):
        Rndc("127.0.0.1", named.control_port, str(tmp_path / "empty.key"))


def test_the_machines_own_rndc_conf_is_never_used(named: NamedInstance) -> None:
    # Every call brings its own config with the key file: the env's key decides, nothing in /etc.
    rndc = rndc_for(named)
    assert "version:" in rndc.run("status")


@pytest.mark.parametrize("name", ["ex ample.net", 'x"; };', "a..b", "-x.example", "x.example;", "x.example\n",
                                  "x\n.example", "a" * 64 + ".example", "x.example\t", ""])
def test_names_that_could_inject_config_are_refused(name: str) -> None:
    with pytest.raises(ProviderError, match="cannot be passed to named"):
        check_zone_name(name)


def test_quoting_refuses_what_named_conf_cannot_hold() -> None:
    assert quoted("/var/lib/bind/x.db") == '"/var/lib/bind/x.db"'
    with pytest.raises(ProviderError):
        quoted('/tmp/x"; include "/etc/shadow')
    assert check_zone_name("2.0.192.in-addr.arpa") == "2.0.192.in-addr.arpa"
    assert check_zone_name("xn--bckerei-mller-bfb28a.example") == "xn--bckerei-mller-bfb28a.example"
    for text in ("/tmp/x\n", "/tmp/x\x00", "/tmp/x\x7f", "/tmp/x{"):
        with pytest.raises(ProviderError):
            quoted(text)


@pytest.mark.parametrize("bad", ["fe80::1%eth0", "192.0.2.1; }; zone x {", "192.0.2.1 port 53", "0.0.0.0",
                                 "192.0.2.1\n", "ns1.example.net"])
def test_address_lists_written_into_named_conf_are_plain_addresses(bad: str) -> None:
    assert address_list(("192.0.2.53", "2001:db8::53")) == "{ 192.0.2.53; 2001:db8::53; }"
    with pytest.raises(ProviderError, match="cannot be written into named's config"):
        address_list(("192.0.2.53", bad))


def test_zone_type_and_config_come_from_named(named: NamedInstance) -> None:
    rndc = rndc_for(named)
    assert rndc.zone_type("t.example") is None and rndc.zone_config("t.example") is None
    rndc.addzone("t.example", '{ type secondary; primaries { 192.0.2.1; }; };')
    assert rndc.zone_type("t.example") == "secondary"
    config = rndc.zone_config("t.example")
    assert config is not None and config.startswith("{ type secondary;") and "192.0.2.1;" in config
    assert rndc.delzone("t.example", clean=False) is True
    rndc.addzone("t.example", config)  # what showzone gives, addzone takes back
    assert rndc.zone_type("t.example") == "secondary"


def test_rndc_works_when_ispctl_runs_with_stdin_closed(named: NamedInstance) -> None:
    # Some CI runners start commands with fd 0 closed; rndc then aborted inside libuv.
    code = ("import sys; from ispctl.providers.dns.rndc import Rndc; "
            "print(Rndc('127.0.0.1', int(sys.argv[1]), sys.argv[2]).has_zone('catalog.ispctl.invalid'))")
    done = subprocess.run([sys.executable, "-c", code, str(named.control_port), str(named.rndc_key_file)],
                          preexec_fn=lambda: os.close(0), capture_output=True, text=True, cwd=REPO,
                          timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr
