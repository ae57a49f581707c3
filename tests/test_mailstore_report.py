"""``ispctl report quota``: quotas from the real directory, usage from a real mail store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.mailstore.report import maildir_usage
from tests.ldap_helpers import HASH, run_cli, write_estate

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root (CI runs as root)"
)

KiB = 1024


def put(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_usage_counts_message_files_of_every_folder_only(tmp_path: Path) -> None:
    maildir = tmp_path / "home" / "Maildir"
    put(maildir / "cur" / "1.eml:2,S", 1000)
    put(maildir / "new" / "2.eml", 500)
    put(maildir / ".Sent" / "cur" / "3.eml:2,S", 250)
    put(maildir / "tmp" / "delivering", 10_000)        # not delivered yet
    put(maildir / "dovecot.index.cache", 20_000)      # Dovecot's own files are not mail
    put(maildir / "maildirsize", 100)
    put(tmp_path / "elsewhere" / "big", 50_000)
    (maildir / "new" / "link").symlink_to(tmp_path / "elsewhere" / "big")
    (maildir / ".Linked").symlink_to(tmp_path / "elsewhere")
    assert maildir_usage(str(tmp_path / "home")) == (1750, 3)
    assert maildir_usage(str(tmp_path / "missing")) == (0, 0)


@pytest.fixture
def store(slapd: SlapdInstance, tmp_path: Path) -> tuple[Path, Path]:
    """An applied estate (directory and mail store) with mail of known sizes."""
    body = "domain: example.net\nmailboxes:\n"
    for local, quota in (("anna", "10 KiB"), ("karl", "100 KiB"), ("carl", "0"), ("dora", "1 MiB")):
        body += f"  {local}:\n    password: \"{HASH}\"\n    quota: {quota}\n"
    estate = write_estate(tmp_path / "estate", {"acme/tenant.yaml": "name: Acme\n", "acme/example.net.yaml": body})
    root = tmp_path / "vmail"
    done = run_cli(slapd, "apply", "--auto-approve", "-d", str(estate), **env(root))
    assert done.exit_code == 0, done.output
    homes = root / "example.net"
    put(homes / "anna" / "Maildir" / "cur" / "a.eml", 11 * KiB)        # over
    put(homes / "karl" / "Maildir" / "new" / "k.eml", 92 * KiB)        # 92 %
    put(homes / "carl" / "Maildir" / "new" / "c.eml", 10 * 1024 * KiB)  # no quota
    put(homes / "dora" / "Maildir" / "new" / "d.eml", 1 * KiB)
    return estate, root


def env(root: Path, providers: str = "ldap,mailstore") -> dict[str, str]:
    return {"ISPCTL_PROVIDERS": providers, "ISPCTL_MAIL_ROOT": str(root)}


def report(
    slapd: SlapdInstance, estate: Path, root: Path, *args: str, providers: str = "ldap,mailstore"
) -> tuple[int, str]:
    result = run_cli(slapd, "report", "quota", "-d", str(estate), *args, **env(root, providers))
    return result.exit_code, result.stdout + result.stderr


def test_json_lists_mailboxes_at_or_over_the_threshold(slapd: SlapdInstance, store: tuple[Path, Path]) -> None:
    code, out = report(slapd, *store, "--json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["threshold"], data["checked"], data["over"], data["near"]) == (90, 4, 1, 1)
    rows = {r["address"]: (r["used"], r["quota"], r["percent"], r["state"]) for r in data["mailboxes"]}
    assert rows == {
        "anna@example.net": (11 * KiB, 10 * KiB, 110.0, "over"),
        "karl@example.net": (92 * KiB, 100 * KiB, 92.0, "near"),
    }


def test_threshold_and_all(slapd: SlapdInstance, store: tuple[Path, Path]) -> None:
    code, out = report(slapd, *store, "--json", "--threshold", "95")
    assert code == 0 and [r["address"] for r in json.loads(out)["mailboxes"]] == ["anna@example.net"]
    estate, root = store
    os.unlink(root / "example.net" / "dora" / ".ispctl-maildir")  # no longer ours: no usage read
    code, out = report(slapd, estate, root, "--json", "--all")
    states = {r["address"]: (r["state"], r["maildir"]) for r in json.loads(out)["mailboxes"]}
    assert states == {"anna@example.net": ("over", True), "karl@example.net": ("near", True),
                      "carl@example.net": ("unlimited", True), "dora@example.net": ("ok", False)}


def test_text_report(slapd: SlapdInstance, store: tuple[Path, Path]) -> None:
    code, out = report(slapd, *store)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "Mailboxes over their quota or at or over 90% of it (4 checked):"
    assert lines[2].split() == ["anna@example.net", "11", "KiB", "10", "KiB", "110.0", "over"]
    assert lines[3].split() == ["karl@example.net", "92", "KiB", "100", "KiB", "92.0", "near"]
    assert len(lines) == 4
    code, out = report(slapd, *store, "--threshold", "200")  # over quota is listed whatever the threshold
    assert code == 0 and [line.split()[0] for line in out.splitlines()[2:]] == ["anna@example.net"]
    estate, root = store
    os.unlink(root / "example.net" / "anna" / "Maildir" / "cur" / "a.eml")
    code, out = report(slapd, estate, root, "--threshold", "95")
    assert code == 0 and out == "No mailbox is over its quota or at or over 95% of it (4 checked).\n"


def test_the_report_needs_the_mail_store_on_this_machine(slapd: SlapdInstance, store: tuple[Path, Path]) -> None:
    code, out = report(slapd, *store, providers="ldap")
    assert code == 1 and "enable the mailstore provider" in out and "Traceback" not in out
