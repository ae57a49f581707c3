"""Benchmark: ``ispctl import ldap`` of a large iRedMail-style directory against ``slapcat``.

Run from the repository root (slapd and ldap-utils installed, ``pip install -e .`` done)::

    python -m tests.bench.import_ldap                         # 10,000 mailboxes over 1,000 domains, 3 repeats
    python -m tests.bench.import_ldap --mailboxes 100000      # the 100k directory (over 10,000 domains)
    python -m tests.bench.import_ldap --mailboxes 1000 --repeat 1 --quiet

It generates the directory as iRedMail lays it out (domains under ``o=domains``, ``ou=Users``,
``ou=Aliases``, ``ou=Groups`` per domain; mailboxes with quota in bytes, per-service flags, a
shadow address, a forward with a kept copy, a disabled one, homes in iRedMail's hashed layout;
an alias and a mailing list per domain), loads it into a slapd of its own with ``slapadd``
(offline, as a restore would) and times, each ``--repeat`` times (the median is shown):

* ``slapcat``: the directory dumped to LDIF by OpenLDAP's own tool (the floor: reading the
  database and writing text, nothing else);
* ``import ldap --from-ldif``: the whole ``ispctl`` process on that dump (read, convert,
  write one file per domain, validate the written estate), into an empty folder each time;
* ``ldapsearch``: the same entries read over the network by OpenLDAP's client, paged;
* ``import ldap --url``: the whole ``ispctl`` process reading the directory live (paged).

Absolute seconds depend on the machine: compare the ratios. Timings belong here, never in the
test suite (``tests/test_bench_import_ldap.py`` only runs it at a few mailboxes).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from tests.bench.measure import Sample, child_run, process_cpu

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "data" / "iredmail" / "iredmail-schema.ldif"
ISPCTL = str(Path(sys.executable).parent / "ispctl")
SUFFIX = "dc=example,dc=net"
# One precomputed SHA-512 crypt hash for every account: hashing is not what is measured.
HASH = ("{CRYPT}$6$rounds=5000$m/J3czUvaKwMdL/l$T/37XKD0yO1Rlw3xeH3l/7folRNgPHliOjowjsyMylqqpbjsDaoHBZXIFd8tzBV"
        "c8P1KaSzQGPIMIzC7rLJmV1")
SERVICES = ("mail", "deliver", "smtp", "smtpsecured", "pop3", "pop3secured", "imap", "imapsecured", "forward",
            "shadowaddress")


def _records(mailboxes: int, domains: int) -> Iterator[str]:
    yield f"dn: o=domains,{SUFFIX}\nobjectClass: organization\no: domains\n"
    per_domain = max(1, mailboxes // domains)
    made = 0
    for d in range(domains):
        name = f"d{d:05d}.example"
        base = f"domainName={name},o=domains,{SUFFIX}"
        yield (f"dn: {base}\nobjectClass: mailDomain\ndomainName: {name}\nmtaTransport: dovecot\n"
               "accountStatus: active\nenabledService: mail\ndomainDefaultUserQuota: 1024\n")
        for unit in ("Users", "Aliases", "Groups"):
            yield f"dn: ou={unit},{base}\nobjectClass: organizationalUnit\nou: {unit}\n"
        count = per_domain if d < domains - 1 else mailboxes - made
        for u in range(count):
            local, n = f"user{u:04d}", made + u
            lines = [f"dn: mail={local}@{name},ou=Users,{base}", "objectClass: inetOrgPerson",
                     "objectClass: shadowAccount", "objectClass: mailUser", f"mail: {local}@{name}", f"uid: {local}",
                     f"cn: User {n}", f"sn: {n}", f"userPassword: {HASH}",
                     f"mailQuota: {(1 + n % 4) * 512 * 1024 * 1024}",
                     f"accountStatus: {'disabled' if n % 50 == 7 else 'active'}",
                     *(f"enabledService: {s}" for s in SERVICES),
                     "storageBaseDirectory: /var/vmail",
                     f"mailMessageStore: vmail1/{name}/{local[0]}/{local[1]}/{local[2]}/{local}-2019.01.01.00.00.00/",
                     f"homeDirectory: /var/vmail/vmail1/{name}/{local[0]}/{local[1]}/{local[2]}/"
                     f"{local}-2019.01.01.00.00.00/"]
            if n % 10 == 3:
                lines.append(f"shadowAddress: alias{u:04d}@{name}")
            if n % 20 == 5:
                lines += [f"mailForwardingAddress: {local}@{name}", f"mailForwardingAddress: {local}@elsewhere.example"]
            if u < 3:
                lines.append(f"memberOfGroup: team@{name}")
            yield "\n".join(lines) + "\n"
        made += count
        if count:
            yield (f"dn: mail=info@{name},ou=Aliases,{base}\nobjectClass: mailAlias\nmail: info@{name}\n"
                   f"accountStatus: active\nmailForwardingAddress: user0000@{name}\n")
            yield (f"dn: mail=team@{name},ou=Groups,{base}\nobjectClass: mailList\nmail: team@{name}\n"
                   "accountStatus: active\ncn: Team\n")


def generate(path: Path, mailboxes: int, domains: int) -> int:
    """Write the directory's LDIF; returns the number of entries."""
    entries = 0
    with path.open("w", encoding="utf-8") as out:
        for record in _records(mailboxes, domains):
            out.write(record + "\n")
            entries += 1
    return entries


def load(workdir: Path, ldif: Path) -> SlapdInstance:
    """A slapd with the iRedMail attributes holding ``ldif`` (added offline with slapadd -q)."""
    slapd = SlapdInstance(workdir / "slapd", schemas=(str(SCHEMA),))
    slapd.start()
    slapd.stop()
    done = subprocess.run(["slapadd", "-q", "-F", str(slapd.config_dir), "-b", SUFFIX, "-l", str(ldif)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"slapadd failed: {done.stderr}")
    slapd.start()
    return slapd


def _median(samples: list[Sample]) -> float:
    return statistics.median(s.wall for s in samples)


def run(mailboxes: int, domains: int, repeat: int, workdir: Path, say: Callable[[str], None]) -> dict[str, float]:
    say(f"generating {mailboxes} mailboxes over {domains} domains")
    entries = generate(workdir / "directory.ldif", mailboxes, domains)
    slapd = load(workdir, workdir / "directory.ldif")
    rows: dict[str, list[Sample]] = {"slapcat": [], "import ldap --from-ldif": [], "ldapsearch (paged)": [],
                                     "import ldap --url": []}
    dump = workdir / "dump.ldif"
    try:
        for attempt in range(repeat):
            sample, result = child_run(["slapcat", "-F", str(slapd.config_dir), "-b", SUFFIX, "-l", str(dump)])
            _check(result.returncode, "slapcat", result.stderr)
            rows["slapcat"].append(sample)
            target = workdir / "estate-ldif"
            shutil.rmtree(target, ignore_errors=True)
            sample, result = child_run([ISPCTL, "import", "ldap", "--from-ldif", str(dump), "-d", str(target)])
            _check(result.returncode, "import ldap --from-ldif", result.stderr)
            rows["import ldap --from-ldif"].append(sample)
            sample, result = child_run(["ldapsearch", "-x", "-H", slapd.url, "-D", slapd.bind_dn, "-y",
                                        str(slapd.password_file), "-LLL", "-E", "pr=1000/noprompt", "-b", SUFFIX,
                                        "(objectClass=*)"], stdout=workdir / "search.ldif",
                                       server=lambda: slapd_cpu(slapd))
            _check(result.returncode, "ldapsearch", result.stderr)
            rows["ldapsearch (paged)"].append(sample)
            target = workdir / "estate-live"
            shutil.rmtree(target, ignore_errors=True)
            sample, result = child_run([ISPCTL, "import", "ldap", "--url", slapd.url, "--base", SUFFIX, "--bind-dn",
                                        slapd.bind_dn, "--password-file", str(slapd.password_file), "-d",
                                        str(target)], server=lambda: slapd_cpu(slapd))
            _check(result.returncode, "import ldap --url", result.stderr)
            rows["import ldap --url"].append(sample)
            say(f"run {attempt + 1}/{repeat}: " + ", ".join(f"{k} {v[-1].wall:.2f}s" for k, v in rows.items()))
    finally:
        slapd.stop()
    medians = {name: _median(samples) for name, samples in rows.items()}
    cpus = {name: statistics.median(s.cpu for s in samples) for name, samples in rows.items()}
    peaks = {name: max(s.max_rss_kib for s in samples) for name, samples in rows.items()}
    lines = [f"\n{mailboxes} mailboxes, {domains} domains, {entries} entries; median of {repeat}\n",
             "| step | wall (s) | CPU (s), client + slapd | entries/s (wall) | peak RSS (MiB) |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {wall:.2f} | {cpus[name]:.2f} | {entries / wall:,.0f} | {peaks[name] / 1024:.0f} |"
              for name, wall in medians.items()]
    for ours, theirs in (("import ldap --from-ldif", "slapcat"), ("import ldap --url", "ldapsearch (paged)")):
        lines.append(f"{ours} / {theirs}: {medians[ours] / medians[theirs]:.1f}x wall, "
                     f"{cpus[ours] / cpus[theirs]:.1f}x CPU")
    sys.stdout.write("\n".join(lines) + "\n")
    return medians


def slapd_cpu(slapd: SlapdInstance) -> float:
    pid = slapd.pid
    return process_cpu(pid) if pid else 0.0


def _check(code: int, what: str, stderr: str) -> None:
    if code != 0:
        raise RuntimeError(f"{what} failed ({code}): {stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mailboxes", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=None, help="default: mailboxes / 10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    domains = args.domains or max(1, args.mailboxes // 10)

    def say(text: str) -> None:
        if not args.quiet:
            sys.stderr.write(text + "\n")

    with tempfile.TemporaryDirectory(prefix="ispctl-bench-import-") as tmp:
        run(args.mailboxes, domains, args.repeat, Path(tmp), say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
