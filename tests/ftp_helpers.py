"""Shared pieces of the FTP tests: an estate with FTP logins, a slapd with the services' schemas,
and a real pure-ftpd-ldap reading it as its own account."""

from __future__ import annotations

import ftplib
import io
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ispctl.providers.ftp.sandbox.pureftpd import PureFtpdInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.contract import hash_password
from tests.ldap_helpers import BASE, run_cli, write_estate
from tests.wiring import REGISTRY

PASSWORD = "ftp-Test-pa55"
JOE, ANN, BOB, ZED = "joe@acme.example", "ann@acme.example", "bob@acme.example", "zed@frozen.example"
SITE, FROZEN_SITE = "acme.example", "frozen.example"  # the domains' default web sites' owner logins


def schemas() -> tuple[str, ...]:
    """Every schema the registered services' directory parts need (what the sandbox loads)."""
    ldap = REGISTRY.get("ldap")
    assert ldap is not None and ldap.sandbox is not None
    return tuple(ldap.sandbox().schemas)  # type: ignore[attr-defined]


def estate_files(hashed: str) -> dict[str, str]:
    """joe: FTP with a 1 MiB / 5 files quota; ann: FTP, suspended; bob: no FTP; zed: FTP in a
    suspended domain; each domain's default web site (its apex) has an FTP owner login."""
    return {
        "acme/tenant.yaml": "name: Acme\n",
        "acme/acme.example.yaml": (
            "domain: acme.example\nservices: [mail, ftp, web]\n"
            f"ftp:\n  sites:\n    '@': {{password: \"{hashed}\", quota: 10 MiB, quota_files: 3}}\nmailboxes:\n"
            f"  joe:\n    password: \"{hashed}\"\n    services: {{ftp: true}}\n"
            "    ftp: {quota: 1 MiB, quota_files: 5, upload_kbps: 2048}\n"
            f"  ann:\n    password: \"{hashed}\"\n    services: {{ftp: true}}\n    status: suspended\n"
            f"  bob:\n    password: \"{hashed}\"\n"),
        "acme/frozen.example.yaml": (
            "domain: frozen.example\nservices: [mail, ftp, web]\nstatus: suspended\n"
            f"ftp:\n  sites:\n    '@': {{password: \"{hashed}\"}}\nmailboxes:\n"
            f"  zed:\n    password: \"{hashed}\"\n    services: {{ftp: true}}\n"),
    }


@dataclass
class FtpEstate:
    slapd: SlapdInstance
    root: Path      # the estate
    ftp_root: Path  # ftp.root (ISPCTL_FTP_ROOT)
    web_root: Path  # web.web_root (ISPCTL_WEB_ROOT): the sites' document roots

    @property
    def env(self) -> dict[str, str]:
        return {"ISPCTL_FTP_ROOT": str(self.ftp_root), "ISPCTL_WEB_ROOT": str(self.web_root)}


@contextmanager
def ftp_estate(base: Path) -> Iterator[FtpEstate]:
    """A slapd with the services' schemas and the estate applied by ispctl's apply account."""
    slapd = SlapdInstance(base / "slapd", schemas=schemas())
    slapd.start()
    try:
        estate = write_estate(base / "estate", estate_files(hash_password(PASSWORD)))
        applied_estate = FtpEstate(slapd, estate, base / "ftp", base / "www")
        apply = slapd.account_env("apply")
        applied = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **applied_estate.env,
                          ISPCTL_LDAP_BIND_DN=apply["ISPCTL_LDAP_BIND_DN"],
                          ISPCTL_LDAP_PASSWORD=apply["ISPCTL_LDAP_PASSWORD"])
        assert applied.exit_code == 0 and "Apply complete!" in applied.stdout, applied.output
        # What was written reads back as written: the next plan has nothing to do.
        again = run_cli(slapd, "plan", "-d", str(estate), **applied_estate.env,
                        ISPCTL_LDAP_BIND_DN=apply["ISPCTL_LDAP_BIND_DN"],
                        ISPCTL_LDAP_PASSWORD=apply["ISPCTL_LDAP_PASSWORD"])
        assert "No changes." in again.stdout, again.output
        yield applied_estate
    finally:
        slapd.stop()


@contextmanager
def pure_ftpd(estate: FtpEstate, workdir: Path) -> Iterator[PureFtpdInstance]:
    """pure-ftpd-ldap bound as its own read-only account (the sandbox's pureftpd account)."""
    account = estate.slapd.account_env("pureftpd")
    ldap_env = {"ISPCTL_LDAP_URL": estate.slapd.url, "ISPCTL_LDAP_BIND_DN": account["ISPCTL_LDAP_BIND_DN"],
                "ISPCTL_LDAP_PASSWORD": account["ISPCTL_LDAP_PASSWORD"]}
    instance = PureFtpdInstance(workdir, ldap_env, base_dn=BASE, ftp_root=estate.ftp_root)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def connect(server: PureFtpdInstance) -> ftplib.FTP:
    session = ftplib.FTP(timeout=20)
    session.connect("127.0.0.1", server.port)
    return session


def login_reply(server: PureFtpdInstance, user: str, password: str) -> str:
    """pure-ftpd's answer to a login (the error's text when refused)."""
    session = connect(server)
    try:
        return session.login(user, password)
    except ftplib.error_perm as exc:
        return str(exc)
    finally:
        session.close()


def login_replies(tries: Sequence[tuple[PureFtpdInstance, str, str]]) -> list[str]:
    """The three-digit reply to each (server, user, password) login, in order. Tried side by
    side, each on its own connection: pure-ftpd answers a refusal only after a delay of seconds,
    so one after another they add up. At most four at a time: pure-ftpd run without ``-c``
    takes five clients and answers the sixth "421 5 users (the maximum) are already logged in"."""
    with ThreadPoolExecutor(min(len(tries), 4)) as pool:
        return [reply[:3] for reply in pool.map(lambda t: login_reply(*t), tries)]


def upload_refused(session: ftplib.FTP, name: str, data: bytes) -> str:
    """The server's refusal of an upload ("" if it was stored). pure-ftpd may close the data
    connection before ftplib has sent everything; its reply then follows on the control one."""
    try:
        session.storbinary(f"STOR {name}", io.BytesIO(data))
    except ftplib.error_perm as exc:
        return str(exc)
    except OSError:
        try:
            session.voidresp()
        except ftplib.error_perm as exc:
            return str(exc)
    return ""
