"""``ispctl render replication provider|consumer`` on two plain slapds: the rendered LDIF, fed to
ldapmodify as an operator would, makes them a replicating pair."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ldap_helpers import run_cli
from replica_helpers import eventually

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha


def test_rendered_ldif_makes_two_plain_slapds_a_provider_and_a_consumer(tmp_path: Path) -> None:
    provider = SlapdInstance(tmp_path / "provider")
    provider.start()
    consumer = SlapdInstance(tmp_path / "consumer")
    try:
        consumer.start()
        replicator = f"cn=replicator,{provider.suffix}"
        added = provider.ldapadd(f"dn: {replicator}\nobjectClass: organizationalRole\n"
                                 f"objectClass: simpleSecurityObject\ncn: replicator\n"
                                 f"userPassword: {ssha('s3cret-repl')}\n")
        assert added.returncode == 0, added.stderr
        (tmp_path / "accesslog").mkdir()
        done = run_cli(None, "render", "replication", "provider", "--replicator-dn", replicator, "--accesslog-dir",
                       str(tmp_path / "accesslog"), "--out", str(tmp_path / "provider.ldif"))
        assert done.exit_code == 0, done.stdout + done.stderr
        assert provider.external("ldapmodify", "-f", str(tmp_path / "provider.ldif")).returncode == 0
        # The consumer held base entries of its own: a consumer starts empty (README "Replication").
        emptied = consumer.ldapsearch(consumer.suffix, "(objectClass=*)", "1.1")
        dns = sorted((line[4:] for line in emptied.splitlines() if line.startswith("dn: ")), key=len, reverse=True)
        for dn in dns:
            gone = consumer.ldapmodify(f"dn: {dn}\nchangetype: delete\n")
            assert gone.returncode == 0, gone.stderr
        secret = tmp_path / "replicator.pw"
        secret.write_text("s3cret-repl\n", encoding="utf-8")
        done = run_cli(None, "render", "replication", "consumer", "--provider", provider.url, "--suffix",
                       provider.suffix, "--replicator-dn", replicator, "--password-file", str(secret), "--rid", "7",
                       "--out", str(tmp_path / "consumer.ldif"))
        assert done.exit_code == 0, done.stdout + done.stderr
        rendered = tmp_path / "consumer.ldif"
        assert stat.S_IMODE(os.stat(rendered).st_mode) == 0o600
        assert "s3cret-repl" not in done.stdout + done.stderr
        assert "rid=007" in rendered.read_text(encoding="utf-8")
        applied = consumer.external("ldapmodify", "-f", str(rendered))
        assert applied.returncode == 0, applied.stderr
        eventually(lambda: "ou=ispctl" in consumer.ldapsearch(consumer.suffix, "(ou=ispctl)", "1.1"),
                   "the consumer has the provider's entries")
        new = provider.ldapadd(f"dn: ou=later,{provider.managed_base}\nobjectClass: organizationalUnit\nou: later\n")
        assert new.returncode == 0
        eventually(lambda: "ou=later" in consumer.ldapsearch(consumer.suffix, "(ou=later)", "1.1"),
                   "the consumer follows a later write")
    finally:
        if consumer.running():
            consumer.stop()
        provider.stop()


def test_a_missing_or_empty_password_file_is_refused(tmp_path: Path) -> None:
    args = ["render", "replication", "consumer", "--provider", "ldap://127.0.0.1:1", "--suffix", "dc=example,dc=net",
            "--replicator-dn", "cn=r,dc=example,dc=net", "--out", str(tmp_path / "c.ldif")]
    missing = run_cli(None, *args, "--password-file", str(tmp_path / "nope"))
    assert missing.exit_code == 1 and "cannot read the replication password file" in missing.stderr
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    empty = run_cli(None, *args, "--password-file", str(tmp_path / "empty"))
    assert empty.exit_code == 1 and "is empty" in empty.stderr
    bad = run_cli(None, "render", "replication", "provider", "--replicator-dn", 'cn="x"', "--out",
                  str(tmp_path / "p.ldif"))
    assert bad.exit_code == 1 and "cannot be written into the replication configuration" in bad.stderr
    assert not (tmp_path / "c.ldif").exists() and not (tmp_path / "p.ldif").exists()
