"""The mail store's filesystem layer on a real filesystem: safe paths, the scan, create,
rename and archive, and every on-disk state a killed apply can leave behind.

Owners are set with chown, so most tests need root (as this machine and CI run).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ispctl.providers.mailstore import store
from ispctl.providers.mailstore.store import StoreError

OWNER = (5000, 5000)
FP = "sha256:" + "ab" * 32
NOW = datetime(2025, 3, 1, 12, 30, 0, tzinfo=UTC)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="sets file owners with chown: needs root (CI runs as root)")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def made(root: Path, address: str = "anna@example.net") -> Path:
    local, domain = address.split("@")
    path = root / domain / local
    store.create_home(str(root), address, str(path), OWNER, FP)
    return path


def deliver(home: Path, name: str, body: bytes, folder: str = "new") -> Path:
    path = home / "Maildir" / folder / name
    path.write_bytes(body)
    os.chown(path, *OWNER)
    return path


# -- names and paths ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "", ".", "..", "/", "a/b", "..\\x", "a\\b", "nul\x00byte", ".hidden", ".ispctl-archive",
    "a b", "tab\there", "line\nbreak",
    "a\uff0fb",        # FULLWIDTH SOLIDUS, NFKC-folds to "/"
    "\u2215etc",        # DIVISION SLASH
    "\u2024\u2024",     # ONE DOT LEADER twice, NFKC ".."
    "\u2025",           # TWO DOT LEADER, NFKC ".."
    "\uff0e\uff0e",     # FULLWIDTH FULL STOPs
    "\u200fanna",       # RIGHT-TO-LEFT MARK
    "\u202eanna",       # RIGHT-TO-LEFT OVERRIDE
    "an\u200bna",       # ZERO WIDTH SPACE
    "\u0430nna",        # CYRILLIC a, a look-alike of anna
    "x" * 256,
])
def test_unsafe_names_never_become_path_components(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError, match="refusing"):
        store.check_component(name)
    with pytest.raises(StoreError, match="refusing"):
        store.home_path(str(tmp_path), "example.net", name)
    with pytest.raises(StoreError, match="refusing"):
        store.home_path(str(tmp_path), name, "anna")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["anna", "o'brien", "a+tag", "x_y-z", "xn--bckerei-mller-bfb28a.example", "x" * 255])
def test_ordinary_names_are_accepted(tmp_path: Path, name: str) -> None:
    assert store.home_path(str(tmp_path), "example.net", name) == f"{tmp_path}/example.net/{name}"


def test_addresses_split_into_checked_components() -> None:
    assert store.split_address("anna@example.net") == ("anna", "example.net")
    for bad in ("no-at-sign", "../x@example.net", "anna@..", "anna@ex/ample.net", "@example.net"):
        with pytest.raises(StoreError):
            store.split_address(bad)


def test_a_symlinked_domain_directory_cannot_lead_outside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "vmail", tmp_path / "etc"
    root.mkdir()
    outside.mkdir()
    (root / "evil.example").symlink_to(outside)
    (root / "alias.example").symlink_to(root / "evil.example")
    for domain in ("evil.example", "alias.example"):
        with pytest.raises(StoreError, match="does not resolve to a directory below the mail root"):
            store.home_path(str(root), domain, "anna")
        with pytest.raises(StoreError):
            store.create_home(str(root), f"anna@{domain}", f"{root}/{domain}/anna", OWNER, FP)
    assert list(outside.iterdir()) == []


def test_a_home_must_be_the_one_its_address_names(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="the home of anna@example.net below"):
        store.create_home(str(tmp_path), "anna@example.net", f"{tmp_path}/example.net/bob", OWNER, FP)
    with pytest.raises(StoreError, match="not a home directly below the mail root"):
        store.check_home(str(tmp_path), f"{tmp_path}/example.net/x/../../etc")
    assert list(tmp_path.iterdir()) == []


# -- create and scan -------------------------------------------------------------------------------

@needs_root
def test_create_makes_the_home_with_owner_modes_and_marker(tmp_path: Path) -> None:
    root = tmp_path / "vmail"
    home = made(root)
    assert (mode(root), mode(root / "example.net")) == (0o751, 0o751)
    assert owner(root / "example.net") == (os.geteuid(), os.getegid())
    for path in (home, home / "Maildir", *(home / "Maildir" / s for s in ("cur", "new", "tmp"))):
        assert (mode(path), owner(path)) == (0o700, OWNER), path
    marker = json.loads((home / ".ispctl-maildir").read_text())
    assert marker == {"format": 1, "address": "anna@example.net", "fingerprint": FP}
    assert not (home / ".ispctl-maildir.tmp").exists()
    assert store.scan(str(root)) == [store.Home("anna@example.net", str(home), 5000, 5000, FP)]


@needs_root
def test_create_is_idempotent_and_keeps_mail(tmp_path: Path) -> None:
    home = made(tmp_path)
    letter = deliver(home, "1.eml", b"Subject: hi\r\n\r\nhello\r\n")
    made(tmp_path)
    assert letter.read_bytes() == b"Subject: hi\r\n\r\nhello\r\n"


@needs_root
@pytest.mark.parametrize(
    "left", [(), ("Maildir",), ("Maildir", "Maildir/cur", "Maildir/new"), ("Maildir", ".ispctl-maildir.tmp")]
)
def test_create_finishes_a_home_a_killed_create_left_without_marker(tmp_path: Path, left: tuple[str, ...]) -> None:
    home = tmp_path / "example.net" / "anna"
    home.mkdir(parents=True)
    for rel in left:
        (home / rel).write_text("{") if rel.endswith(".tmp") else (home / rel).mkdir()
    assert store.scan(str(tmp_path)) == []  # not marked, so not ours yet
    made(tmp_path)
    assert [h.address for h in store.scan(str(tmp_path))] == ["anna@example.net"]
    assert sorted(p.name for p in (home / "Maildir").iterdir()) == ["cur", "new", "tmp"]


@needs_root
def test_create_refuses_an_unmarked_home_that_holds_mail(tmp_path: Path) -> None:
    home = tmp_path / "example.net" / "anna"
    (home / "Maildir" / "cur").mkdir(parents=True)
    letter = home / "Maildir" / "cur" / "old.eml"
    letter.write_bytes(b"legacy mail")
    with pytest.raises(StoreError, match=r"is not empty, and ispctl did not create it .*adopt it by writing"):
        made(tmp_path)
    assert letter.read_bytes() == b"legacy mail" and not (home / ".ispctl-maildir").exists()
    assert owner(home) == (os.geteuid(), os.getegid())


@needs_root
def test_create_refuses_another_mailboxs_home_and_non_directories(tmp_path: Path) -> None:
    home = made(tmp_path, "anna@example.net")
    (home / ".ispctl-maildir").write_text(json.dumps({"address": "bob@example.net"}))
    with pytest.raises(StoreError, match="already holds the mail of bob@example.net"):
        made(tmp_path, "anna@example.net")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "example.net" / "carl").symlink_to(target)
    with pytest.raises(StoreError):
        made(tmp_path, "carl@example.net")
    assert list(target.iterdir()) == []


@needs_root
def test_scan_reads_only_marked_real_homes(tmp_path: Path) -> None:
    good = made(tmp_path, "anna@example.net")
    (tmp_path / "example.net" / "unmarked" / "Maildir").mkdir(parents=True)
    made(tmp_path, "bob@example.net")
    (tmp_path / "example.net" / "bob" / ".ispctl-maildir").write_text("{not json")
    made(tmp_path, "carl@example.net")
    os.unlink(tmp_path / "example.net" / "carl" / ".ispctl-maildir")
    (tmp_path / "example.net" / "carl" / ".ispctl-maildir").symlink_to(good / ".ispctl-maildir")
    (tmp_path / "example.net" / "link").symlink_to(good)
    (tmp_path / "example.net" / "file").write_text("x")
    (tmp_path / ".ispctl-archive" / "x" / "anna").mkdir(parents=True)
    assert [h.address for h in store.scan(str(tmp_path))] == ["anna@example.net"]
    assert store.scan(str(tmp_path / "missing")) == []


@needs_root
def test_a_planted_symlink_never_redirects_a_marker_write(tmp_path: Path) -> None:
    home = made(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (home / ".ispctl-maildir.tmp").symlink_to(victim)
    store.write_marker(str(home), "anna@example.net", FP)
    assert victim.read_text() == "precious"
    assert json.loads((home / ".ispctl-maildir").read_text())["address"] == "anna@example.net"


@needs_root
def test_fix_home_restores_modes_and_rehomes_files_without_following_symlinks(tmp_path: Path) -> None:
    home = made(tmp_path)
    letter = deliver(home, "1.eml", b"x")
    outside = tmp_path / "outside"
    outside.write_text("not mail")
    (home / "Maildir" / "cur" / "link").symlink_to(outside)
    os.chmod(home, 0o755)
    (home / "Maildir" / "tmp").rmdir()
    store.fix_home(str(home), (6000, 6001), retree=True)
    assert (mode(home), owner(home)) == (0o700, (6000, 6001))
    assert owner(letter) == (6000, 6001) and (home / "Maildir" / "tmp").is_dir()
    assert owner(outside) == (os.geteuid(), os.getegid())


# -- rename ------------------------------------------------------------------------------------------

@needs_root
def test_move_keeps_every_byte_and_can_cross_domains(tmp_path: Path) -> None:
    home = made(tmp_path, "karl@example.net")
    letter = deliver(home, "1.eml", b"\x00\xffbinary mail\r\n", folder="cur")
    digest = sha(letter)
    new = tmp_path / "other.example" / "k.mueller"
    store.move_home(str(tmp_path), str(home), "k.mueller@other.example", str(new))
    assert not home.exists() and sha(new / "Maildir" / "cur" / "1.eml") == digest
    assert mode(tmp_path / "other.example") == 0o751


@needs_root
def test_move_never_overwrites_a_target_with_content(tmp_path: Path) -> None:
    home = made(tmp_path, "karl@example.net")
    deliver(home, "1.eml", b"karl's")
    taken = made(tmp_path, "k@example.net")
    deliver(taken, "2.eml", b"k's")
    with pytest.raises(StoreError, match="never merges or overwrites mail"):
        store.move_home(str(tmp_path), str(home), "k@example.net", str(taken))
    assert (home / "Maildir" / "new" / "1.eml").read_bytes() == b"karl's"
    assert (taken / "Maildir" / "new" / "2.eml").read_bytes() == b"k's"


@needs_root
def test_move_replaces_an_empty_skeleton_at_the_target(tmp_path: Path) -> None:
    home = made(tmp_path, "karl@example.net")
    deliver(home, "1.eml", b"mail")
    skeleton = tmp_path / "example.net" / "k"
    (skeleton / "Maildir" / "new").mkdir(parents=True)
    store.move_home(str(tmp_path), str(home), "k@example.net", str(skeleton))
    assert (skeleton / "Maildir" / "new" / "1.eml").read_bytes() == b"mail"


# -- archive -----------------------------------------------------------------------------------------

@needs_root
def test_archive_moves_the_home_with_a_manifest_of_every_byte(tmp_path: Path) -> None:
    root, archive = tmp_path / "vmail", tmp_path / "vmail" / ".ispctl-archive"
    home = made(root)
    bodies = {"new/1.eml": b"first\r\n", "cur/2.eml:2,S": b"second" * 1000}
    for rel, body in bodies.items():
        folder, name = rel.split("/")
        deliver(home, name, body, folder)
    target = Path(store.archive_home(str(root), str(archive), str(home), "anna@example.net", NOW))
    assert target == archive / "20250301T123000Z--anna@example.net" and not home.exists()
    assert mode(archive) == 0o700
    data = json.loads((target / ".ispctl-archive.json").read_text())
    assert (data["address"], data["original_path"], data["archived_at"]) == (
        "anna@example.net", str(home), "2025-03-01T12:30:00Z"
    )
    listed = {f["path"]: f for f in data["files"]}
    for rel, body in bodies.items():
        kept = target / "Maildir" / rel
        assert kept.read_bytes() == body
        assert listed[f"Maildir/{rel}"] == {
            "path": f"Maildir/{rel}", "size": len(body), "sha256": hashlib.sha256(body).hexdigest()
        }
    assert data["file_count"] == len(listed) == 3  # the two messages and the marker
    assert data["total_bytes"] == sum(f["size"] for f in data["files"])
    assert store.scan(str(root)) == []


@needs_root
def test_archiving_again_after_a_kill_before_the_move_makes_one_archive(tmp_path: Path) -> None:
    root, archive = tmp_path, tmp_path / ".ispctl-archive"
    home = made(root)
    deliver(home, "1.eml", b"mail")
    # The state a kill leaves between writing the manifest and the rename: still live, still ours.
    store.write_json(str(home), store.MANIFEST, {"address": "anna@example.net", "files": []})
    assert [h.address for h in store.scan(str(root))] == ["anna@example.net"]
    target = Path(store.archive_home(str(root), str(archive), str(home), "anna@example.net", NOW))
    assert [p.name for p in archive.iterdir()] == [target.name]
    assert json.loads((target / store.MANIFEST).read_text())["file_count"] == 2


@needs_root
def test_archive_names_never_collide_and_refuse_a_foreign_home(tmp_path: Path) -> None:
    archive = tmp_path / ".ispctl-archive"
    first = store.archive_home(str(tmp_path), str(archive), str(made(tmp_path)), "anna@example.net", NOW)
    second = store.archive_home(str(tmp_path), str(archive), str(made(tmp_path)), "anna@example.net", NOW)
    assert Path(second).name == Path(first).name + "-2"
    home = made(tmp_path, "bob@example.net")
    with pytest.raises(StoreError, match="refusing to archive .* it holds bob@example.net"):
        store.archive_home(str(tmp_path), str(archive), str(home), "anna@example.net", NOW)
    assert home.is_dir()


@needs_root
def test_an_archive_on_another_filesystem_is_refused_and_nothing_moves(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a filesystem other than the temp dir's")
    home = made(tmp_path)
    archive = shm / f"ispctl-test-archive-{os.getpid()}"
    try:
        with pytest.raises(StoreError, match="on another filesystem"):
            store.archive_home(str(tmp_path), str(archive), str(home), "anna@example.net", NOW)
        assert home.is_dir() and list(archive.iterdir()) == []
    finally:
        archive.rmdir()


@needs_root
def test_a_mail_root_that_is_a_symlink_works_end_to_end(tmp_path: Path) -> None:
    real = tmp_path / "srv-vmail"
    real.mkdir()
    root = tmp_path / "vmail"
    root.symlink_to(real)
    home = made(root)
    assert (real / "example.net" / "anna" / ".ispctl-maildir").is_file()
    assert [h.path for h in store.scan(str(root))] == [str(home)]
    target = store.archive_home(str(root), str(root / ".ispctl-archive"), str(home), "anna@example.net", NOW)
    assert Path(target).resolve().parent == real / ".ispctl-archive"
    assert store.scan(str(root)) == []
