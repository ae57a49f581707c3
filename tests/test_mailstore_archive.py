"""``ispctl archive list|purge``: real archives on a real filesystem, through the CLI.

Archives are made by the store's own archive function with a timestamp in the past (the
only way to have a 100-day-old archive in a test); everything else runs as the operator
would run it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ispctl.providers.mailstore import store
from ispctl.providers.mailstore.archive import list_archives, purgeable
from ispctl.providers.mailstore.settings import MAIL
from ispctl.reconciler.engine.errors import IspctlError, ValidationFailed
from tests.ldap_helpers import run_cli, write_estate
from tests.wiring import WIRING

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="archives are made from homes owned by the mail owner: needs root"
)

NOW = datetime.now(UTC)


def archived(root: Path, address: str, days_ago: float, body: bytes = b"mail") -> Path:
    local, domain = address.split("@")
    home = root / domain / local
    store.create_home(str(root), address, str(home), (5000, 5000), None)
    (home / "Maildir" / "cur" / "1.eml").write_bytes(body)
    when = NOW - timedelta(days=days_ago)
    return Path(store.archive_home(str(root), str(root / ".ispctl-archive"), str(home), address, when))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """(estate, mail root) with archives 200, 100 and 10 days old and one foreign directory."""
    estate = write_estate(tmp_path / "estate", {})
    root = tmp_path / "vmail"
    archived(root, "old@example.net", 200, b"oldest")
    archived(root, "mid@example.net", 100)
    archived(root, "new@example.net", 10)
    (root / ".ispctl-archive" / "hand-made").mkdir()
    return estate, root


def cli(estate: Path, root: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = run_cli(None, "archive", *args, "-d", str(estate), input=input, ISPCTL_MAIL_ROOT=str(root))
    return result.exit_code, result.stdout + result.stderr


def names(root: Path) -> list[str]:
    return sorted(p.name.split("--")[-1] for p in (root / ".ispctl-archive").iterdir())


def test_list_reads_the_manifests_oldest_first(setup: tuple[Path, Path]) -> None:
    estate, root = setup
    code, out = cli(estate, root, "list", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert (data["archive"], data["retention_days"]) == (f"{root}/.ispctl-archive", 90)
    rows = [(e["address"], e["purgeable"], e["file_count"]) for e in data["entries"]]
    assert rows == [
        ("old@example.net", True, 2), ("mid@example.net", True, 2), ("new@example.net", False, 2), (None, False, 0)
    ]
    assert data["entries"][0]["original_path"] == f"{root}/example.net/old"
    code, text = cli(estate, root, "list")
    assert code == 0 and "4 archive(s); 2 may be purged" in text
    assert "hand-made: no readable ispctl manifest; not ispctl's, never purged" in text


def test_purge_asks_first_and_without_yes_deletes_nothing(setup: tuple[Path, Path]) -> None:
    estate, root = setup
    before = names(root)
    code, out = cli(estate, root, "purge", input="no\n")
    assert code == 1 and "Purge cancelled: the answer was not 'yes'. Nothing was deleted." in out
    code, out = cli(estate, root, "purge")  # no answer at all (CI without --yes)
    assert code == 1 and "Purge cancelled" in out
    assert names(root) == before


def test_purge_removes_only_archives_past_the_retention_and_lists_them(setup: tuple[Path, Path]) -> None:
    estate, root = setup
    code, out = cli(estate, root, "purge", input="yes\n")
    assert code == 0, out
    assert "purged " in out and "(old@example.net, 2 files," in out and "(mid@example.net, 2 files," in out
    assert "Purged 2 archive(s)" in out
    assert names(root) == ["hand-made", "new@example.net"]
    code, out = cli(estate, root, "purge", "--yes")
    assert code == 0 and "Nothing to purge" in out


def test_purge_never_goes_below_the_retention(setup: tuple[Path, Path]) -> None:
    estate, root = setup
    code, out = cli(estate, root, "purge", "--older-than", "5", "--yes")
    assert code == 1 and "refusing to purge archives younger than the retention of 90 days" in out
    code, out = cli(estate, root, "purge", "--older-than", "150", "--yes")
    assert code == 0 and "Purged 1 archive(s)" in out
    assert names(root) == ["hand-made", "mid@example.net", "new@example.net"]


def test_the_retention_comes_from_the_site_settings(setup: tuple[Path, Path]) -> None:
    estate, root = setup
    site = estate / "ispctl.yaml"
    site.write_text(site.read_text() + "mail:\n  archive_retention_days: 5\n")
    assert WIRING.site(estate, {"ISPCTL_MAIL_ROOT": str(root)}).section(MAIL).archive_retention_days == 5
    code, out = cli(estate, root, "purge", "--yes")
    assert code == 0 and "Purged 3 archive(s)" in out
    assert names(root) == ["hand-made"]


def test_library_refusals(setup: tuple[Path, Path]) -> None:
    _estate, root = setup
    entries = list_archives(str(root / ".ispctl-archive"))
    with pytest.raises(IspctlError, match="retention of 90 days"):
        purgeable(entries, 89, 90, NOW)
    assert [e.address for e in purgeable(entries, 90, 90, NOW)] == ["old@example.net", "mid@example.net"]
    assert list_archives(str(root / "no-archive-yet")) == []
    broken = root / "broken"
    broken.mkdir()
    (broken / "ispctl.yaml").write_text("mail: [not, a, mapping]\n")
    with pytest.raises(ValidationFailed):
        WIRING.site(broken, {})
