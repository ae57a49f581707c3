"""The fault suite: a real apply (slapd, mail store, named) killed at every phase boundary and
at many points inside the directory, mail-store and DNS phases; SIGTERM at a few; two applies
at once.

The estate goes from A (the example estate) to B (tests/faults/estate.py: 68 changes of every
kind: creates, updates, a rename, archives, deletes, DNS records, a zone created and one
removed). Each case resets the shared daemons to A, plants a message in every mailbox B
renames, archives or keeps, starts ``ispctl apply`` of B through the test-only launcher
(tests/faults/launcher.py) which SIGKILLs it at the case's point, then checks: no
traceback; one plain re-run converges (a second plan is empty); no entry, message or record
lost; no lock left; the audit trail shows the killed apply as interrupted.

Points: ``phase:K`` is just before the K-th write whose provider differs from the previous
one (phase:0 is before the first write), so every phase boundary of this plan is a point;
``change:#N`` / ``change:ADDRESS`` / ``commit:ZONE`` are points inside the phases.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dns_helpers import query, served
from faults.estate import estate_a, estate_b
from faults.process import finish, launch, wait_paused
from ldap_helpers import ENV_NAMES, cli_env, ispctl_binary, run_cli, search

from ispctl.providers.dns.sandbox.named import NamedInstance
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the mail store chowns homes to the mail owner: needs root (CI runs as root)"
)

OWNER = "5000"
# Phase boundaries of the A -> B plan (test_every_phase_point_exists checks the count): 28 since
# the directory's changes go out pipelined (several in flight, so fewer switches between services).
PHASES = 28
INSIDE = ["change:#5", "change:#14", "change:#17", "change:#22", "change:#31", "change:#38", "change:#43",
          "change:#48", "change:#60", "outcome:mailbox.helpdesk@northwind.example",
          "outcome:maildir.helpdesk@northwind.example", "commit:hartcole.example", "commit:northwind.example",
          "commit:faultco.example"]
KILL_POINTS = [f"phase:{k}" for k in range(PHASES)] + INSIDE
PLANTED = {"northwind.example/noc": "northwind.example/noc", "northwind.example/support": "northwind.example/helpdesk",
           "northwind.example/billing": None, "hartcole.example/j.hart": None, "hartcole.example/it": None,
           "hartcole.example/s.novak": None}  # home in A -> home in B (None: archived)
PROBES = [("host0.northwind.example.", "A"), ("host5.northwind.example.", "A"), ("vpn.northwind.example.", "A"),
          ("vpn.northwind.example.", "AAAA"), ("status.northwind.example.", "CNAME"), ("northwind.example.", "MX"),
          ("www.faultco.example.", "A"), ("faultco.example.", "MX"), ("southbay.example.", "MX"),
          ("hartcole.example.", "MX")]


class Estate:
    """The shared daemons, the two estates and the way to run ispctl against them."""

    def __init__(self, slapd: SlapdInstance, named: NamedInstance, mail_root: Path, work: Path) -> None:
        self.slapd, self.named, self.mail_root = slapd, named, mail_root
        self.a, self.b = estate_a(work / "a"), estate_b(work / "b")
        self.extra = {**named.env(), "ISPCTL_PROVIDERS": "ldap,mailstore,dns",
                      "ISPCTL_MAIL_ROOT": str(mail_root), "ISPCTL_MAIL_UID": OWNER, "ISPCTL_MAIL_GID": OWNER}

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = run_cli(self.slapd, *args, **self.extra)
        return result.exit_code, result.stdout, result.stderr

    def apply(self, root: Path) -> str:
        code, out, err = self.cli("apply", "--auto-approve", "--force", "-d", str(root))
        assert code == 0 and ("Apply complete!" in out or "No changes." in out), out + err
        assert "Traceback" not in out + err
        return out + err

    def converged(self, root: Path) -> None:
        code, out, err = self.cli("plan", "--detailed-exitcode", "-d", str(root))
        assert code == 0 and "No changes." in out, out + err

    def process_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
        env.update({k: v for k, v in cli_env(self.slapd, **self.extra).items() if v is not None})
        return env

    def state(self) -> tuple[list[str], dict[tuple[str, str], tuple[int, frozenset[str]]]]:
        """Mailbox entries in the directory and what named answers for the probes."""
        uids = sorted(e["uid"][0] for e in search(self.slapd, "(objectClass=ispctlMailUser)", "uid").values())
        answers = {probe: (lambda r: (r[0], frozenset(r[1])))(query(self.named, *probe)) for probe in PROBES}
        return uids, answers

    def lock_entries(self) -> dict[str, object]:
        return dict(search(self.slapd, "(objectClass=ispctlLock)", "cn"))


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    work = tmp_path_factory.mktemp("faults")
    # pytest's temp base is 0700: the mail owner could not reach homes below it.
    top = Path(tempfile.mkdtemp(prefix="ispctl-test-faults-"))
    top.chmod(0o755)
    slapd, named = SlapdInstance(work / "slapd"), NamedInstance(work / "named")
    slapd.start()
    try:
        named.start()
        try:
            yield Estate(slapd, named, top / "vmail", work)
        finally:
            named.stop()
    finally:
        slapd.stop()
        shutil.rmtree(top)


@pytest.fixture(scope="module")
def reference(estate: Estate) -> tuple[list[str], dict[tuple[str, str], tuple[int, frozenset[str]]]]:
    """What B looks like when applied without a fault (every case must end exactly so)."""
    estate.apply(estate.a)
    estate.apply(estate.b)
    estate.converged(estate.b)
    found = estate.state()
    assert len(found[0]) == 28 and found[1][("hartcole.example.", "MX")][1] == frozenset()
    return found


def plant(estate: Estate, case: str) -> dict[str, tuple[bytes, str | None]]:
    """A message in each watched home of A: file name -> (bytes, home in B or None if archived)."""
    planted = {}
    for home, later in PLANTED.items():
        name = f"{case.replace(':', '_').replace('#', 'n')}.{home.replace('/', '_')}.eml"
        body = f"From: a@b.example\r\nSubject: {case} {home}\r\n\r\n{os.urandom(8).hex()}\r\n".encode()
        (estate.mail_root / home / "Maildir" / "new" / name).write_bytes(body)
        planted[name] = (body, later)
    return planted


def nothing_lost(estate: Estate, planted: dict[str, tuple[bytes, str | None]]) -> None:
    archive = estate.mail_root / ".ispctl-archive"
    for name, (body, home) in planted.items():
        if home is not None:
            assert (estate.mail_root / home / "Maildir" / "new" / name).read_bytes() == body, name
        else:
            copies = [p for p in archive.rglob(name) if p.read_bytes() == body]
            assert len(copies) == 1, f"{name}: {len(copies)} copies in the archive"


def start_case(estate: Estate, reference: object, case: str) -> dict[str, tuple[bytes, str | None]]:
    estate.apply(estate.a)  # reset the shared daemons to A
    estate.converged(estate.a)
    return plant(estate, case)


def finish_case(estate: Estate, reference: tuple[object, object], planted: dict[str, tuple[bytes, str | None]],
                interrupted: str) -> None:
    # The killed (or stopped) apply is in the trail, with what it did, and no secret is.
    records = json.loads(estate.cli("history", "--json", "--all")[1])
    assert records[0]["result"] == interrupted, records[0]
    assert f": {interrupted.upper()} (" in estate.cli("history", "--all")[1].splitlines()[0]
    assert "$6$" not in Path(os.environ["ISPCTL_AUDIT_LOG"]).read_text()
    # One plain re-run takes over any lock the dead run left (same host, process gone) and converges.
    rerun = estate.apply(estate.b)
    assert "force-unlock" not in rerun and "another run holds" not in rerun
    estate.converged(estate.b)
    assert estate.state() == reference
    nothing_lost(estate, planted)
    assert estate.lock_entries() == {}
    assert not served(estate.named, "hartcole.example")


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_at_a_point_then_one_plain_rerun_converges_and_nothing_is_lost(
    estate: Estate, reference: tuple[object, object], point: str,
) -> None:
    planted = start_case(estate, reference, point)
    proc = launch("kill", point, ["apply", "--auto-approve", "--force", "-d", str(estate.b)], estate.process_env())
    code, out, err = finish(proc)
    assert code == -signal.SIGKILL, f"apply was not killed at {point}: {out}{err}"
    assert "Traceback" not in out + err and "$6$" not in out + err
    finish_case(estate, reference, planted, "interrupted")


@pytest.mark.parametrize("point", ["phase:3", "change:#54", "commit:hartcole.example"])
def test_sigterm_stops_at_a_change_boundary_releases_the_lock_and_says_what_was_not_done(
    estate: Estate, reference: tuple[object, object], point: str,
) -> None:
    planted = start_case(estate, reference, point)
    proc = launch("term", point, ["apply", "--auto-approve", "--force", "-d", str(estate.b)], estate.process_env())
    code, out, err = finish(proc)
    assert code == 143 and "Traceback" not in out + err, out + err
    assert "SIGTERM: stopping after the change in progress (never inside one)." in err
    assert "Apply stopped at a change boundary (SIGTERM): " in err and "The lock was released" in err
    assert ": skipped (not run: SIGTERM)" in out
    assert estate.lock_entries() == {}  # released, not left for the re-run to take over
    finish_case(estate, reference, planted, "stopped")


def test_every_phase_point_exists(estate: Estate, reference: tuple[object, object]) -> None:
    """The phase count above is this plan's: the last boundary exists, one more does not."""
    start_case(estate, reference, "phases")
    last = launch("trace", "-", ["apply", "--auto-approve", "--force", "-d", str(estate.b)], estate.process_env())
    code, _, err = finish(last)
    assert code == 0
    writers = [line.split()[2] for line in err.splitlines() if line.startswith("event ") and " outcome " not in line]
    phases = [w for i, w in enumerate(writers) if i == 0 or writers[i - 1] != w]
    assert len(phases) == PHASES and set(phases) == {"ldap", "mailstore", "dns"}
    estate.converged(estate.b)


def test_two_applies_at_once_one_waits_and_both_outcomes_are_consistent(
    estate: Estate, reference: tuple[object, object], tmp_path: Path,
) -> None:
    planted = start_case(estate, reference, "concurrent")
    # A lock TTL far shorter than the paused apply: it must be renewed, never taken over.
    short = tmp_path / "b-short"
    shutil.copytree(estate.b, short)
    site = short / "ispctl.yaml"
    site.write_text(site.read_text() + "\nsafety:\n  lock_ttl: 3\n")
    args = ["apply", "--auto-approve", "--force", "-d", str(short)]
    first = launch("pause", "change:#10", args, estate.process_env())
    second = None
    try:
        wait_paused(first, "change:#10")
        (held,) = search(estate.slapd, "(objectClass=ispctlLock)", "ispctlLockExpires").values()
        second = subprocess.Popen([ispctl_binary(), *args[:-2], "--lock-timeout", "600", *args[-2:]],
                                  env=estate.process_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        waiting = wait_for_line(second, b"Waiting up to 600 s for the estate lock, held by another run: lock ")
        assert f"(pid {first.pid}, ".encode() in waiting and b" since " in waiting
        # The first holder renews its lock while it works: its expiry moves on past the TTL.
        wait_until(lambda: lock_expiry(estate) > held["ispctllockexpires"][0])
        first.send_signal(signal.SIGUSR1)  # let the first one carry on
        code, out, err = finish(first)
        assert code == 0 and "Apply complete!" in out, out + err
        code, out2, err2 = finish(second)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    # The second one waited, then found nothing left to do: one apply's changes, made once.
    assert code == 0 and "No changes." in out2, out2 + err2
    assert "Traceback" not in out + err + out2 + err2
    estate.converged(estate.b)
    assert estate.state() == reference and estate.lock_entries() == {}
    nothing_lost(estate, planted)


def lock_expiry(estate: Estate) -> str:
    found = search(estate.slapd, "(objectClass=ispctlLock)", "ispctlLockExpires")
    return max((e["ispctllockexpires"][0] for e in found.values()), default="")


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 180  # a guard against a hang, not a timing
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.1)


def wait_for_line(proc: subprocess.Popen[bytes], needle: bytes) -> bytes:
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 180  # a guard against a hang, not a timing
    os.set_blocking(proc.stderr.fileno(), False)
    while needle not in seen:
        assert time.monotonic() < deadline and proc.poll() is None, seen
        try:
            seen += os.read(proc.stderr.fileno(), 4096)
        except BlockingIOError:
            time.sleep(0.1)
    os.set_blocking(proc.stderr.fileno(), True)
    return seen
