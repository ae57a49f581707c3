"""``ispctl report ftp``: FTP quotas from the real directory, usage from the homes on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispctl.providers.ftp.report import home_usage
from tests.ftp_helpers import JOE, SITE, FtpEstate, ftp_estate
from tests.ldap_helpers import run_cli
from tests.wiring import load_desired

KiB = 1024


def put(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_usage_counts_regular_files_below_the_home_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    put(home / "a.bin", 1000)
    put(home / "sub" / "deeper" / "b.bin", 24)
    put(home / ".ftpquota", 10)  # pure-ftpd's cache of these numbers
    put(tmp_path / "elsewhere" / "big", 50_000)
    (home / "link").symlink_to(tmp_path / "elsewhere" / "big")
    (home / "linked-dir").symlink_to(tmp_path / "elsewhere")
    assert home_usage(str(home)) == (1024, 2)
    assert home_usage(str(tmp_path / "missing")) == (0, 0)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FtpEstate]:
    with ftp_estate(tmp_path_factory.mktemp("ftp-report")) as applied:
        yield applied


def fill(estate: FtpEstate) -> None:
    """joe near his size quota, the site's login at its file quota."""
    _catalog, resources = load_desired(estate.root, env=estate.env)
    put(estate.ftp_root / "acme.example" / "joe" / "big.bin", 950 * KiB)  # 92.8 % of 1 MiB
    docroot = Path(str(resources[("site", SITE)].attrs["docroot"]))
    for name in "abc":
        put(docroot / name, 1)  # 3 of 3 files


def test_json_lists_logins_near_or_over_either_quota(estate: FtpEstate) -> None:
    fill(estate)
    result = run_cli(estate.slapd, "report", "ftp", "-d", str(estate.root), "--json", **estate.env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["checked"], data["over"], data["near"]) == (5, 1, 1)  # joe, ann, zed and two sites
    rows = {r["login"]: (r["used"], r["files"], r["quota"], r["quota_files"], r["percent"], r["state"])
            for r in data["logins"]}
    assert rows == {
        JOE: (950 * KiB, 1, 1024 * KiB, 5, 92.8, "near"),
        SITE: (3, 3, 10 * 1024 * KiB, 3, 100.0, "over"),
    }
    text = run_cli(estate.slapd, "report", "ftp", "-d", str(estate.root), "--all", **estate.env)
    assert text.exit_code == 0 and "All FTP logins (5 checked)" in text.stdout and "unlimited" in text.stdout


def test_report_quota_lists_ftp_logins_beside_the_mailboxes(estate: FtpEstate, tmp_path: Path) -> None:
    fill(estate)
    put(estate.ftp_root / "acme.example" / "ann" / "x.bin", 1)  # ann: no quota, never listed
    env = {**estate.env, "ISPCTL_PROVIDERS": "ldap,mailstore", "ISPCTL_MAIL_ROOT": str(tmp_path / "vmail")}
    result = run_cli(estate.slapd, "report", "quota", "-d", str(estate.root), "--json", **env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["checked"] == 4 and data["mailboxes"] == []  # the mail part as before: no mail, no quota hit
    ftp = data["services"]["ftp"]
    assert ftp["checked"] == 5
    assert {r["name"]: r["state"] for r in ftp["listed"]} == {JOE: "near", SITE: "over"}
    text = run_cli(estate.slapd, "report", "quota", "-d", str(estate.root), **env)
    assert text.exit_code == 0, text.output
    assert "No mailbox is over its quota" in text.stdout and "ftp accounts over their quota" in text.stdout
    assert JOE in text.stdout and SITE in text.stdout
