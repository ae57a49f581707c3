"""FTP logins compiled from the estate: the attributes pure-ftpd reads, and the problems it would
otherwise hit silently, each with file:line, all at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from estate_builder import SITE, EstateBuilder

from ispctl.providers.ftp.compile import FIELDS
from tests.wiring import load_desired, problems_of

REL = "tenants/acme/acme.example.yaml"
HASH = "{CRYPT}$6$rounds=5000$abcdefgh$" + "x" * 86


def estate(tmp_path: Path, mailboxes: str, site: dict[str, Any] | None = None, head: str = "services: [mail, ftp]\n",
           tenant: str = "name: Acme\n") -> EstateBuilder:
    tmp_path.mkdir(parents=True, exist_ok=True)
    builder = EstateBuilder(tmp_path, site={**SITE, **(site or {})})
    builder.write("tenants/acme/tenant.yaml", tenant)
    builder.write(REL, f"domain: acme.example\n{head}mailboxes:\n{mailboxes}")
    return builder


def mailbox_attrs(builder: EstateBuilder, address: str) -> dict[str, Any]:
    _catalog, resources = load_desired(builder.root)
    return {k: v for k, v in resources[("mailbox", address)].attrs.items() if k in FIELDS and v is not None}


def test_a_mailbox_with_the_ftp_service_gets_what_pure_ftpd_reads(tmp_path: Path) -> None:
    builder = estate(tmp_path, "  joe:\n    services: {ftp: true}\n    ftp: {quota: 1.5 MiB, download_kbps: 100}\n"
                               "  ann: {services: {ftp: true}, status: suspended}\n  bob: {}\n",
                     site={"ftp": {"root": "/srv/files/", "defaults": {"quota": "100 MiB", "quota_files": 1000,
                                                                       "download_kbps": 50}}})
    assert mailbox_attrs(builder, "joe@acme.example") == {
        "ftp_status": "enabled", "ftp_home": "/srv/files/acme.example/joe", "ftp_quota_mb": 2,  # whole MiB, up
        "ftp_quota_files": 1000, "ftp_download_kbps": 100,  # the mailbox's own over the default
    }
    assert mailbox_attrs(builder, "ann@acme.example")["ftp_status"] == "disabled"
    assert mailbox_attrs(builder, "ann@acme.example")["ftp_quota_mb"] == 100
    assert mailbox_attrs(builder, "bob@acme.example") == {}  # no ftp service: no FTP attributes at all


def test_a_suspended_domain_or_tenant_disables_ftp_and_ftp_uid_is_written(tmp_path: Path) -> None:
    builder = estate(tmp_path / "d", "  joe: {services: {ftp: true}}\n",
                     head="services: [mail, ftp]\nstatus: suspended\n", site={"ftp": {"uid": 2000, "gid": 2001}})
    attrs = mailbox_attrs(builder, "joe@acme.example")
    assert (attrs["ftp_status"], attrs["ftp_uid"], attrs["ftp_gid"]) == ("disabled", 2000, 2001)
    builder = estate(tmp_path / "t", "  joe: {services: {ftp: true}}\n", tenant="name: Acme\nstatus: suspended\n")
    assert mailbox_attrs(builder, "joe@acme.example")["ftp_status"] == "disabled"


def test_what_pure_ftpd_would_refuse_is_reported_with_file_and_line(tmp_path: Path) -> None:
    builder = estate(tmp_path, "  a+b:\n    services: {ftp: true}\n"
                               "  bob:\n    ftp: {quota_files: 10}\n"
                               "  cyd:\n    services: {ftp: true}\n    ftp: {quota: 1000, upload_kbps: 0}\n"
                               "  dee:\n    services: {ftp: true}\n    ftp: {quota_files: 10}\n",
                     site={"mail": {"uid": 500}})
    shown = [str(p) for p in problems_of(builder.root)]
    file = builder.display(REL)
    assert shown == [
        f"{builder.display('ispctl.yaml')}:{builder.line_of('ispctl.yaml', 'uid')}:3: mail.uid: FTP logins would run "
        "as uid 500, below ftp.min_uid 1000: pure-ftpd refuses them (set ftp.uid, or lower ftp.min_uid)",
        f"{file}:{builder.line_of(REL, 'a+b')}:3: mailboxes['a+b']: pure-ftpd cannot take a+b@acme.example as a login "
        "name (it refuses '+'): turn its ftp service off",
        f"{file}:{builder.line_of(REL, 'quota_files')}:5: mailboxes.bob.ftp: FTP limits on a mailbox without the "
        "ftp service (add services: {ftp: true}, or remove them)",
        f"{file}:{builder.line_of(REL, 'quota: 1000')}:11: mailboxes.cyd.ftp.quota: must be at least "
        "1 MiB (pure-ftpd counts quotas in whole MiB; leave it out for none)",
        f"{file}:{builder.line_of(REL, 'quota: 1000')}:24: mailboxes.cyd.ftp.upload_kbps: must be greater "
        "than or equal to 1",
        f"{file}:{builder.line_of(REL, 'quota_files', 2)}:5: mailboxes.dee.ftp: quota_files needs a quota (size) too: "
        "pure-ftpd refuses every upload of a login with a file count and no size quota",
    ]


def test_the_domain_must_enable_ftp(tmp_path: Path) -> None:
    builder = estate(tmp_path, "  joe: {services: {ftp: true}}\n", head="services: [mail]\n")
    assert [p.message for p in problems_of(builder.root)] == ["the domain does not enable the ftp service"]
