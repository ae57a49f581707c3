"""pure-ftpd in ``ispctl sandbox``: after the directory, bound as its own read-only account,
serving what ``ispctl apply`` wrote; found again and stopped by a later process."""

from __future__ import annotations

import ftplib
import io
import os
from pathlib import Path

import pytest

from ispctl.providers.ftp.sandbox.component import PureFtpdComponent
from ispctl.reconciler.contract import hash_password
from ispctl.reconciler.harness import sandbox
from ispctl.reconciler.harness.daemons import DaemonError, pids_matching
from tests.ftp_helpers import JOE, PASSWORD, estate_files
from tests.ldap_helpers import copy_example, run_cli, write_estate
from tests.wiring import REGISTRY

LDAP_SERVICE = REGISTRY.get("ldap")
assert LDAP_SERVICE is not None and LDAP_SERVICE.sandbox is not None
COMPONENTS = [LDAP_SERVICE.sandbox(), PureFtpdComponent()]  # the directory's, with the services' schemas

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="pure-ftpd chroots and changes uid: root only")


def test_it_needs_the_directory_and_pure_ftpds_own_account(tmp_path: Path) -> None:
    apply_only = {"ISPCTL_LDAP_URL": "ldap://127.0.0.1:1", "ISPCTL_LDAP_BASE_DN": "ou=x,dc=y",
                  "ISPCTL_LDAP_BIND_DN": "cn=apply,dc=y", "ISPCTL_LDAP_PASSWORD": "apply-pw"}
    with pytest.raises(DaemonError, match="pure-ftpd's account"):
        PureFtpdComponent().instance(tmp_path / "ftp", None, apply_only)


def test_sandbox_round_trip_serves_applied_logins(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    root = tmp_path / ".sandbox"
    try:
        report = sandbox.up(root, COMPONENTS)
        ftp = report["components"]["ftp"]
        assert ftp["action"] == "started" and ftp["url"].startswith("ftp://127.0.0.1:")
        env = sandbox.env(root, COMPONENTS)
        assert env["ISPCTL_FTP_ROOT"] == str(root.absolute() / "ftp-homes")
        text = (root / "ftp" / "ldap.conf").read_text(encoding="utf-8")
        assert f"LDAPBindDN {env['ISPCTL_PUREFTPD_LDAP_BIND_DN']}\n" in text
        assert env["ISPCTL_LDAP_PASSWORD"] not in text  # never ispctl's own (apply) password
        estate = write_estate(tmp_path / "estate", estate_files(hash_password(PASSWORD)))
        applied = run_cli(None, "apply", "--auto-approve", "-d", str(estate), ISPCTL_FTP_ROOT=env["ISPCTL_FTP_ROOT"],
                          ISPCTL_WEB_ROOT=str(tmp_path / "www"),
                          **{k: v for k, v in env.items() if k.startswith("ISPCTL_LDAP_")})
        assert applied.exit_code == 0, applied.output
        host, port = ftp["url"].removeprefix("ftp://").split(":")
        session = ftplib.FTP(timeout=20)
        session.connect(host, int(port))
        assert session.login(JOE, PASSWORD).startswith("230")
        session.close()
        assert (Path(env["ISPCTL_FTP_ROOT"]) / "acme.example" / "joe").is_dir()
        # Another process (`ispctl sandbox down`) finds it by its pidfile and stops it.
        sandbox.down(root, COMPONENTS)
        assert not pids_matching(str(root))
    finally:
        sandbox.down(root, COMPONENTS, purge=True)
    assert not pids_matching(str(root))


def test_the_demo_the_example_estates_ftp_mailbox_logs_in(tmp_path: Path) -> None:
    # .ci/demo's FTP step: the example estate's ftp-test@southbay.example (password ispctl-demo,
    # as every example mailbox's) lands in its own home with its quota; noc@ has no FTP.
    tmp_path.chmod(0o755)
    root = tmp_path / ".sandbox"
    try:
        ftp = sandbox.up(root, COMPONENTS)["components"]["ftp"]
        env = sandbox.env(root, COMPONENTS)
        applied = run_cli(None, "apply", "--auto-approve", "-d", str(copy_example(tmp_path)),
                          ISPCTL_FTP_ROOT=env["ISPCTL_FTP_ROOT"], ISPCTL_WEB_ROOT=str(tmp_path / "www"),
                          **{k: v for k, v in env.items() if k.startswith("ISPCTL_LDAP_")})
        assert applied.exit_code == 0, applied.output
        host, port = ftp["url"].removeprefix("ftp://").split(":")
        session = ftplib.FTP(timeout=20)
        session.connect(host, int(port))
        welcome = session.login("ftp-test@southbay.example", "ispctl-demo")
        assert welcome.startswith("230") and "authorized: 1000 files" in welcome  # its quota_files
        session.storbinary("STOR hello.txt", io.BytesIO(b"hello\n"))
        assert [name for name in session.nlst() if not name.startswith(".")] == ["hello.txt"]  # and .ftpquota
        session.close()
        assert (Path(env["ISPCTL_FTP_ROOT"]) / "southbay.example" / "ftp-test" / "hello.txt").is_file()
        refused = ftplib.FTP(timeout=20)
        refused.connect(host, int(port))
        with pytest.raises(ftplib.error_perm, match="^530"):
            refused.login("noc@southbay.example", "ispctl-demo")
        refused.close()
    finally:
        sandbox.down(root, COMPONENTS, purge=True)
    assert not pids_matching(str(root))
