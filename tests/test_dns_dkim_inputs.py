"""The DKIM key store's digest (``dkim.store_digest``, the DNS and OpenDKIM services' ``inputs``):
whatever validation and compile would read differently in the store gives another digest."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ispctl.providers.dns import dkim_inputs
from ispctl.providers.dns.dkim import ENV_DIR, create_key, retire_keys, start_rotation, store_digest, store_inputs
from ispctl.providers.registry import services
from ispctl.reconciler.contract import SiteFile

SITE: dict[str, Any] = {"directory": {"base_dn": "ou=ispctl,dc=example,dc=net"}}


def site(**dns: Any) -> SiteFile:
    model = services().schema.files.site
    found: SiteFile = model.model_validate({**SITE, **({"dns": dns} if dns else {})})
    return found


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key store of two domains."""
    monkeypatch.delenv(ENV_DIR, raising=False)
    keys = tmp_path / "keys"
    create_key(keys, "a.example", "s1", 1024)
    create_key(keys, "b.example", "s1", 1024)
    return keys


def test_nothing_changed_gives_the_same_digest(store: Path) -> None:
    assert store_digest(store) == store_digest(store)


def test_a_rotation_and_a_retirement_give_other_digests(store: Path) -> None:
    before = store_digest(store)
    start_rotation(store, "b.example", 1024)
    rotated = store_digest(store)
    assert rotated != before
    retire_keys(store, "b.example", True, timedelta(0))
    assert store_digest(store) not in (before, rotated)


def test_a_key_made_for_another_domain_gives_another_digest(store: Path) -> None:
    before = store_digest(store)
    create_key(store, "c.example", "s1", 1024)
    assert store_digest(store) != before


def test_a_public_key_replaced_in_place_gives_another_digest(store: Path) -> None:
    before = store_digest(store)
    path = store / "a.example" / "s1.pub"
    other = store / "b.example" / "s1.pub"
    info = path.stat()
    path.write_bytes(other.read_bytes())  # same size, same inode, in place
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # even with its old modification time
    assert store_digest(store) != before


def test_a_key_that_cannot_be_read_gives_another_digest(store: Path) -> None:
    before = store_digest(store)
    (store / "a.example" / "s1.pub").unlink()
    (store / "a.example" / "s1.pub").mkdir()
    assert store_digest(store) != before


def test_a_store_copied_again_is_the_same_store(store: Path) -> None:
    """A plan runner's copy of the public keys, made again (new files, new times): same digest."""
    before = store_digest(store)
    for path in sorted(store.rglob("*.pub")):
        raw = path.read_bytes()
        path.unlink()
        path.write_bytes(raw)
    assert store_digest(store) == before


def test_the_private_halves_and_hidden_files_are_not_read(store: Path) -> None:
    before = store_digest(store)
    (store / "a.example" / "s1.private").unlink()
    (store / "a.example" / ".s2.pub.123.tmp").write_text("half a key")
    assert store_digest(store) == before


def test_a_folder_that_cannot_be_read_gives_another_digest(store: Path) -> None:
    before = store_digest(store)
    (store / "a.example").rename(store / "a.moved")
    (store / "a.example").write_text("not a folder")
    assert store_digest(store) != before


def test_a_missing_store_has_a_stable_digest_of_its_own(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert store_digest(missing) == store_digest(missing)
    missing.mkdir()
    assert store_digest(missing) != store_digest(tmp_path / "nowhere-else")
    assert store_digest(tmp_path / "a") != store_digest(tmp_path / "b")  # the path is in it (OpenDKIM's key_file)


def test_the_services_inputs_follow_the_settings_and_the_environment(store: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert dkim_inputs(site(), {}) == b""  # no dns: nothing read
    assert dkim_inputs(site(ns=["ns1.example.net"]), {}) == b""  # no dns.dkim: no key read
    configured = site(dkim={"selector": "s1", "key_dir": str(store)})
    assert dkim_inputs(configured, {}) == store_digest(store)
    other = store.with_name("other")
    assert dkim_inputs(configured, {ENV_DIR: str(other)}) == store_digest(other) + store_digest(store)
    # The hooks read this process's environment: a store named there is covered too.
    monkeypatch.setenv(ENV_DIR, str(other))
    assert dkim_inputs(configured, {}) == store_digest(store) + store_digest(other)
    assert store_inputs(str(store), {ENV_DIR: str(other)}) == store_digest(other)
