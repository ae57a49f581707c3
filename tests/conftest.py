"""Shared fixtures: real slapd instances in per-test temp dirs, and a leak check at the end.

Every daemon a test starts lives under this session's pytest base temp dir, and that path is in
its command line (``slapd -F <tmp>/.../slapd.d``). That is how the session-end check finds
leftovers without mistaking another pytest run's (or a developer's sandbox) slapd for ours.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_daemons import apache, php_fpm, web, web_public  # noqa: F401 - fixtures, registered by import

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.registry import services
from ispctl.reconciler.harness.daemons import pids_matching

# Every test slapd can hold what the registered services write into entries (their schemas,
# contract.DirectoryPart), as the sandbox's does.
SlapdInstance.default_schemas = tuple(dict.fromkeys(
    str(path) for part in services().directory_parts for path in part.schemas))


@pytest.fixture(scope="session", autouse=True)
def _no_daemon_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = str(tmp_path_factory.getbasetemp())
    # The Dovecot sandbox component may keep mail under /var/tmp (see its up()); a test that
    # starts a sandbox must purge it, so nothing of a test run outlives it there either.
    yield

    def ours(path: Path) -> bool:
        # Only this session's: another test run side by side may have a sandbox up right now.
        try:
            return (path / "sandbox-root").read_text().strip().startswith(base)
        except OSError:
            return False

    kept = sorted(p for p in Path("/var/tmp").glob("ispctl-sandbox-*") if ours(p))
    if kept:
        pytest.fail(f"sandbox data left under /var/tmp by this test session: {[str(p) for p in kept]}")
    leftovers = pids_matching(base)
    for pid in leftovers:
        # Clean up first so a failing run does not leave daemons behind either.
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if leftovers:
        pytest.fail(f"processes started by this test session were still running: {leftovers}")


@pytest.fixture(scope="session", autouse=True)
def _parse_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The cache of parsed files (``estate.cache``) in this session's temp dir, never the user's
    home: every test then reads through one cache the whole session shares (which must never
    change an outcome), and nothing outlives the run."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ISPCTL_CACHE_DIR", str(tmp_path_factory.mktemp("parse-cache")))
    yield
    patch.undo()


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[SlapdInstance]:
    """A fresh slapd with the ispctl schema, base entries and foreign data; stopped afterwards."""
    instance = SlapdInstance(tmp_path / "slapd")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def slapd_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdInstance]:
    """One slapd shared by a whole session, for read-mostly tests that do not need isolation.

    Tests using it must only add entries under DNs of their own (e.g. named after the test).
    """
    instance = SlapdInstance(tmp_path_factory.mktemp("slapd-session"))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def named(tmp_path: Path) -> Iterator[NamedInstance]:
    """A fresh named with an empty catalog; stopped afterwards (the DNS tests, see dns_helpers.py)."""
    instance = NamedInstance(tmp_path / "named")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(autouse=True)
def _audit_log_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Applies append to an audit trail: keep each test's in its own temp dir, not in ~."""
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("ISPCTL_AUDIT_LOG", str(path))
    return path


@pytest.fixture
def mail_root() -> Iterator[Path]:
    """A mail root the mail owner can reach: pytest's temp base is 0700, so it lives in a
    directory of its own (0755) that the mail owner may enter."""
    path = Path(tempfile.mkdtemp(prefix="ispctl-test-vmail-"))
    path.chmod(0o755)
    try:
        yield path / "vmail"
    finally:
        shutil.rmtree(path)
