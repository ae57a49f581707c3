"""OpenDKIM's files as rendered: the tables name key paths, never keys; the rotation's choice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ispctl.providers.dns.dkim import create_key, read_public, start_rotation
from ispctl.providers.opendkim.render import (
    CONF_FILE,
    TRUSTED_HOSTS,
    SigningKey,
    render,
    signing_keys,
    write_files,
)
from ispctl.providers.opendkim.tables import KEY_TABLE, SIGNING_TABLE
from ispctl.reconciler.contract import ConfigError

KEYS = [SigningKey("acme.example", "s1", ("s1",)), SigningKey("beta.example", "s3", ("s2", "s3"))]


def test_the_tables_point_each_domain_at_its_key_file_in_the_key_directory() -> None:
    files = render(KEYS, "/etc/ispctl/dkim")
    # Comment lines aside (each entry's fingerprint: test_opendkim_tables)
    assert [line for line in files[KEY_TABLE].splitlines() if not line.startswith("#")] == [
        "s1._domainkey.acme.example acme.example:s1:/etc/ispctl/dkim/acme.example/s1.private",
        "s3._domainkey.beta.example beta.example:s3:/etc/ispctl/dkim/beta.example/s3.private",
    ]
    assert files[SIGNING_TABLE].splitlines()[1:] == ["*@acme.example s1._domainkey.acme.example",
                                                     "*@beta.example s3._domainkey.beta.example"]
    assert files[TRUSTED_HOSTS].splitlines()[1:] == ["127.0.0.1", "::1", "localhost"]
    conf = files[CONF_FILE].splitlines()
    for line in ("Mode s", "Socket inet:8891@127.0.0.1", "KeyTable file:/etc/opendkim/KeyTable",
                 "SigningTable refile:/etc/opendkim/SigningTable", "InternalHosts refile:/etc/opendkim/TrustedHosts",
                 # what Debian's opendkim.service expects of /etc/opendkim.conf
                 "UserID opendkim", "PidFile /run/opendkim/opendkim.pid", "Syslog yes"):
        assert line in conf


def test_opendkim_itself_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    create_key(tmp_path / "keys", "acme.example", "s1", 1024)
    keys = signing_keys(tmp_path / "keys", ["acme.example"], None)
    write_files(render(keys, str(tmp_path / "keys"), str(tmp_path / "out")), tmp_path / "out")
    checked = subprocess.run(["opendkim", "-n", "-x", str(tmp_path / "out" / CONF_FILE)], capture_output=True,
                             text=True, check=False, timeout=30)
    assert checked.returncode == 0, checked.stderr
    broken = (tmp_path / "out" / CONF_FILE).read_text().replace("Mode s", "Mode sideways")
    (tmp_path / "out" / CONF_FILE).write_text(broken)
    refused = subprocess.run(["opendkim", "-n", "-x", str(tmp_path / "out" / CONF_FILE)], capture_output=True,
                             text=True, check=False, timeout=30)
    assert refused.returncode != 0


@pytest.mark.parametrize("key_dir", ["/etc/dkim keys", "/etc/dkim\nMode v"])
def test_a_path_that_would_break_a_table_line_is_refused(key_dir: str) -> None:
    with pytest.raises(ConfigError, match="cannot be written into OpenDKIM's tables"):
        render(KEYS, key_dir)


def test_the_files_hold_no_key_and_are_written_whole(tmp_path: Path) -> None:
    create_key(tmp_path / "keys", "acme.example", "s1", 1024)
    keys = signing_keys(tmp_path / "keys", ["acme.example", "nokey.example"], None)
    assert keys == [SigningKey("acme.example", "s1", ("s1",))]  # a domain without a key yet is left out
    written = write_files(render(keys, str(tmp_path / "keys")), tmp_path / "out")
    private = (tmp_path / "keys" / "acme.example" / "s1.private").read_text()
    for path in written:
        assert "PRIVATE KEY" not in path.read_text() and private.splitlines()[1] not in path.read_text()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([CONF_FILE, KEY_TABLE, SIGNING_TABLE,
                                                                          TRUSTED_HOSTS])


def test_during_a_rotation_the_newest_served_key_signs(tmp_path: Path) -> None:
    store = tmp_path / "keys"
    create_key(store, "acme.example", "s1", 1024)
    start_rotation(store, "acme.example", 1024)
    with pytest.raises(ConfigError, match=r"acme.example is rotating its DKIM key \(s1, s2\).*ISPCTL_DNS_SERVER"):
        signing_keys(store, ["acme.example"], None)
    served: dict[str, str | None] = {"s1": read_public(store, "acme.example", "s1"), "s2": None}
    assert signing_keys(store, ["acme.example"], lambda d, s: served[s])[0].selector == "s1"
    served["s2"] = "MIIBstale"  # a record, but not this key's: not live yet
    assert signing_keys(store, ["acme.example"], lambda d, s: served[s])[0].selector == "s1"
    served["s2"] = read_public(store, "acme.example", "s2")
    assert signing_keys(store, ["acme.example"], lambda d, s: served[s]) == [
        SigningKey("acme.example", "s2", ("s1", "s2"))]
