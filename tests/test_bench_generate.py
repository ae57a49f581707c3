"""The benchmark's estate generator writes valid estates, and the bench script runs end to end."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.reconciler.estate.passwords import SHA512_RE, verify_password
from tests.bench import dns_batch
from tests.bench.directory import ldif_line
from tests.bench.generate import BENCH_PASSWORD, generate_estate, to_yaml
from tests.bench.measure import Meter, child_run, process_cpu
from tests.bench.run_bench import RATIOS, RSS_LABEL, STEPS
from tests.wiring import load_desired, validate_estate

BASE = "ou=ispctl,dc=example,dc=net"
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("mailboxes", "domains"), [
    (50, 5),      # the even case: 10 per domain
    (53, 5),      # a remainder to spread
    (3, 5),       # fewer mailboxes than domains: some domains stay empty
    (0, 1),       # the smallest estate
    (230, 210),   # more than one reseller
])
def test_generated_estate_validates_with_the_requested_counts(tmp_path: Path, mailboxes: int, domains: int) -> None:
    size = generate_estate(tmp_path, mailboxes, domains, BASE)
    catalog = validate_estate(tmp_path)
    assert len(catalog.mailboxes) == size.mailboxes == mailboxes
    assert len(catalog.domains) == size.domains == domains
    assert sorted(catalog.domains) == sorted(size.domain_names)
    resellers = [t for t in catalog.tenants.values() if t.kind == "reseller"]
    clients = [t for t in catalog.tenants.values() if t.kind == "client"]
    assert (len(resellers), len(clients)) == (size.resellers, size.clients)
    assert len(resellers) == max(1, domains // 100)
    assert len(catalog.aliases) == size.aliases
    assert sum(len(box.aliases) for box in catalog.mailboxes.values()) == size.extra_addresses
    assert catalog.estate.site.directory.base_dn == BASE
    # Evenly spread: no domain has two mailboxes more than another.
    per_domain = Counter(box.domain for box in catalog.mailboxes.values())
    counts = [per_domain.get(name, 0) for name in catalog.domains]
    assert max(counts) - min(counts) <= 1
    _, desired = load_desired(tmp_path)
    # Each mailbox also compiles to its maildir (the mail store's, not a directory entry), each
    # domain with the web service to its site (the web service's).
    assert len([r for r in desired.values() if r.kind not in ("maildir", "site")]) == size.entries
    assert len([r for r in desired.values() if r.kind == "maildir"]) == size.mailboxes
    web = [d for d in catalog.domains.values() if "web" in d.services]
    assert len([r for r in desired.values() if r.kind == "site"]) == len(web)


def test_estate_mixes_the_features_a_real_one_has(tmp_path: Path) -> None:
    generate_estate(tmp_path, 200, 20, BASE)
    catalog = validate_estate(tmp_path)
    boxes = list(catalog.mailboxes.values())
    assert {box.status for box in boxes} == {"active", "suspended"}
    assert len({box.quota for box in boxes}) >= 4
    assert any(box.forward for box in boxes) and any(box.keep_copy for box in boxes)
    assert any(not box.services["pop3"] for box in boxes)
    assert {d.type for d in catalog.domains.values()} == {"primary", "nodns", "slave"}
    assert any(len(alias.targets) >= 5 for alias in catalog.aliases.values())


def test_every_mailbox_shares_one_cheap_but_valid_hash(tmp_path: Path) -> None:
    size = generate_estate(tmp_path, 20, 2, BASE)
    catalog = validate_estate(tmp_path)
    assert {box.password for box in catalog.mailboxes.values()} == {size.password_hash}
    assert SHA512_RE.fullmatch(size.password_hash)
    assert "$rounds=1000$" in size.password_hash
    assert verify_password(BENCH_PASSWORD, size.password_hash)
    assert not verify_password(BENCH_PASSWORD + "x", size.password_hash)


def test_generator_refuses_to_overwrite_an_estate(tmp_path: Path) -> None:
    generate_estate(tmp_path, 5, 1, BASE)
    with pytest.raises(FileExistsError):
        generate_estate(tmp_path, 5, 1, BASE)


def test_yaml_writer_round_trips_awkward_scalars() -> None:
    data = {
        "plain": "Anna Adler",
        "words": ["yes", "No", "null", "~", "on"],
        "size": "1 GiB",
        "hash": "{CRYPT}$6$rounds=1000$abc$def",
        "colon": "a: b",
        "comment": "x #y",
        "ip": "2001:db8::53",
        "number": 5000,
        "flag": False,
        "nested": {"to": ["a", "b"], "keep_copy": True},
        "items": [{"k": "v", "n": 1}],
        "empty": [],
    }
    assert YAML(typ="safe").load(to_yaml(data)) == data


@pytest.mark.parametrize(("value", "encoded"), [
    ("plain value", False),
    ("Sara Novák", True),       # non-ASCII
    (" leading space", True),
    (":colon first", True),
    ("<angle first", True),
    ("trailing space ", True),
    ("", True),
])
def test_baseline_ldif_base64_encodes_unsafe_values(value: str, encoded: bool) -> None:
    line = ldif_line("cn", value)
    if encoded:
        assert line.startswith("cn:: ") and line.endswith("\n")
        assert base64.b64decode(line[5:]).decode("utf-8") == value
    else:
        assert line == f"cn: {value}\n"


def test_bench_script_prints_every_metric(tmp_path: Path) -> None:
    workdir = tmp_path / "bench"
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.run_bench", "--mailboxes", "30", "--domains", "3",
         "--repeat", "1", "--workdir", str(workdir), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^machine: nproc=\d+", out, re.M)
    # 30 mailboxes + 3 domains + 1 reseller + 1 client + 3 x 3 aliases.
    assert "N = 30 mailboxes over 3 domains" in out and "= 44 directory entries" in out
    number = r" +\d+\.\d{3}"
    for step in STEPS:
        # wall, CPU, client CPU, slapd CPU, entries/s, the runs
        assert re.search(rf"^{re.escape(step)}{number * 4} +\d+ +\d+\.\d{{3}}$", out, re.M), step
    for label, _, _, target in RATIOS:
        assert re.search(rf"^{re.escape(label)} +\d+\.\d\d +\d+\.\d\d( +{re.escape(target)})?$", out, re.M), label
    assert re.search(rf"^{re.escape(RSS_LABEL)}: \d+ MiB \(target <= 1024 MiB\)$", out, re.M)
    assert re.search(r"^load average \(1/5/15 min\): [\d. ]+ at start, [\d. ]+ at end$", out, re.M)
    # The script stops its slapd on the way out.
    assert not SlapdInstance(workdir / "slapd").running()


def test_the_dns_batching_benchmark_runs_and_reports_both_ways() -> None:
    report = dns_batch.run(records=20, repeat=1).splitlines()
    assert report[0].startswith("20 single updates:") and report[1].startswith("one update of 20 record sets:")
    assert report[2].startswith("singles / batched: ")


def test_a_childs_peak_memory_and_cpu_are_its_own() -> None:
    hog = "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"
    sample, result = child_run([sys.executable, "-c", hog])
    assert result.returncode == 0, result.stderr
    assert sample.max_rss_kib >= 200 * 1024
    # A small child after the big one reports its own peak, not the largest so far.
    small, _ = child_run([sys.executable, "-c", "pass"])
    assert small.max_rss_kib < 100 * 1024


def test_a_childs_peak_is_not_the_size_of_the_process_that_starts_it() -> None:
    # Linux counts what a process held before exec in its ru_maxrss: a child forked straight
    # from a big benchmark process would report the benchmark's size (the bench holds a whole
    # estate). The launcher in between keeps the figure the child's own.
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # really resident, not just reserved
    small, result = child_run([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert result.returncode == 3
    assert small.max_rss_kib < 100 * 1024
    del ballast


def test_server_cpu_is_what_the_server_spent_during_the_step(tmp_path: Path) -> None:
    go, done = tmp_path / "go", tmp_path / "done"
    # The "server" idles until the step starts, spends 0.3 s of CPU, says so and idles again.
    script = (f"import pathlib, time\ngo, done = pathlib.Path({str(go)!r}), pathlib.Path({str(done)!r})\n"
              "while not go.exists(): time.sleep(0.01)\n"
              "end = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
              "done.touch()\ntime.sleep(60)")
    server = subprocess.Popen([sys.executable, "-c", script])
    try:
        def step() -> None:
            go.touch()
            while not done.exists():
                pass  # spins, so the client's CPU is not zero either

        sample, _ = Meter(server.pid).call(step)
        assert 0.28 <= sample.server_cpu <= 0.3 + 0.2  # the spin, plus a little polling before and after it
        assert sample.client_cpu > 0 and sample.cpu == sample.client_cpu + sample.server_cpu
        assert process_cpu(server.pid) >= sample.server_cpu
    finally:
        server.kill()
        server.wait()


def _slapds_under(folder: Path) -> list[int]:
    """PIDs of slapd processes whose configuration lives under ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if args and args[0].endswith(b"slapd") and any(str(folder).encode() in a for a in args):
            found.append(int(proc.name))
    return found


def test_a_terminated_benchmark_stops_its_slapd(tmp_path: Path) -> None:
    work = tmp_path / "work"
    bench = subprocess.Popen([sys.executable, "-m", "tests.bench.run_bench", "--mailboxes", "30", "--domains", "3",
                              "--repeat", "1", "--quiet", "--workdir", str(work)],
                             cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for _ in range(6000):  # up to a minute on a loaded machine; no timing is asserted
            if _slapds_under(work) or bench.poll() is not None:
                break
            time.sleep(0.01)
        assert _slapds_under(work), "the benchmark never started its slapd"
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=120) != 0
        assert _slapds_under(work) == []
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
        for pid in _slapds_under(work):
            os.kill(pid, signal.SIGKILL)
