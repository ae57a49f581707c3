"""A mailbox moves between two mail_store hosts: real slapd, two real Dovecots, Postfix's LDAP client.

Two "hosts" on loopback, each a Dovecot (IMAP, LMTP and a doveadm server on its own ports) over
its own mail root; their user databases are static (home ``<root>/<domain>/<local>``, what the
mail store makes), so the two roots stay apart on one machine. Mail is delivered where Postfix
would send it: ``postmap -q`` on the rendered transport tables answers from the directory
which host's LMTP takes the address. The central run (``ldap,dovecot``) applies the directory
and moves the mailbox; each host's run (``ISPCTL_HOST``, ``mailstore``) keeps its homes.

The apply that moves is a real ``ispctl`` process whose doveadm is a wrapper waiting on a gate
file, so it can be SIGKILLed while the copy runs (before the switch) and while the final sync
runs (after it), with deliveries at each point; the next apply completes the move and IMAP
on the new host shows every message exactly once.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dovecot_helpers import imap_subjects, lmtp_deliver, start_dovecot, stop_group
from ldap_helpers import HASH, cli_env, ispctl_binary, ldap_ok, run_cli, search
from test_postfix import SERVICE_DN, binary, settle

from ispctl.providers.dovecot.move import Doveadm, MoveError, mail_journal, move_mailbox
from ispctl.providers.dovecot.sandbox.daemon import default_mail_owner
from ispctl.providers.ldap.sandbox.slapd import SlapdInstance, ssha
from ispctl.reconciler.harness.daemons import free_port

HOSTS = ("mx1.example.net", "mx2.example.net")
ANNA = "anna@acme.example"
DOVEADM_PASSWORD = 'dsync "secret" \\ 1'
IMAP_PASSWORD = "pw"


@dataclass
class Host:
    name: str
    root: Path
    work: Path
    imap: int
    lmtp: int
    doveadm: int
    process: subprocess.Popen[bytes] | None = None

    def config(self, uid: int, gid: int) -> str:
        quoted = DOVEADM_PASSWORD.replace("\\", "\\\\").replace('"', '\\"')
        return textwrap.dedent(f"""\
            base_dir = {self.work}/run
            state_dir = {self.work}/state
            instance_name = ispctl-move-{self.imap}
            protocols = imap lmtp
            listen = 127.0.0.1
            ssl = no
            disable_plaintext_auth = no
            log_path = {self.work}/dovecot.log
            mail_location = maildir:~/Maildir
            doveadm_password = "{quoted}"
            service imap-login {{
              inet_listener imap {{
                port = {self.imap}
              }}
              inet_listener imaps {{
                port = 0
              }}
            }}
            service lmtp {{
              inet_listener lmtp {{
                address = 127.0.0.1
                port = {self.lmtp}
              }}
            }}
            service doveadm {{
              inet_listener {{
                port = {self.doveadm}
              }}
            }}
            passdb {{
              driver = static
              args = password={IMAP_PASSWORD}
            }}
            userdb {{
              driver = static
              args = uid={uid} gid={gid} home={self.root}/%d/%n
            }}
            """)

    def start(self, uid: int, gid: int) -> None:
        conf = self.work / "dovecot.conf"
        conf.write_text(self.config(uid, gid), encoding="utf-8")
        self.process = start_dovecot(binary("dovecot"), conf, "127.0.0.1", (self.imap, self.lmtp, self.doveadm),
                                     f"for {self.name}")

    def stop(self) -> None:
        stop_group(self.process)

    def subjects(self, user: str) -> list[str]:
        return imap_subjects("127.0.0.1", self.imap, user, IMAP_PASSWORD)


@dataclass
class Cluster:
    slapd: SlapdInstance
    estate: Path
    hosts: dict[str, Host]
    tables: Path
    postfix_etc: Path
    journal: Path
    gate: Path
    sent: list[str]
    applies: list[subprocess.Popen[str]]

    def env(self, **extra: str) -> dict[str, str | None]:
        return cli_env(self.slapd, ISPCTL_MOVE_JOURNAL=str(self.journal), **extra)

    def central(self, *args: str) -> str:
        result = run_cli(self.slapd, *args, "-d", str(self.estate), **self.env(
            ISPCTL_PROVIDERS="ldap,dovecot", ISPCTL_DOVEADM_PASSWORD=DOVEADM_PASSWORD))
        assert result.exit_code == 0, result.output
        return result.stdout

    def host_run(self, name: str, *args: str) -> str:
        result = run_cli(self.slapd, *args, "-d", str(self.estate), **self.env(
            ISPCTL_PROVIDERS="mailstore", ISPCTL_HOST=name, ISPCTL_MAIL_ROOT=str(self.hosts[name].root)))
        assert result.exit_code == 0, result.output
        return result.stdout

    def route(self, address: str) -> Host:
        """Where Postfix sends ``address`` now: the one transport table answering it."""
        found = []
        for table in sorted(self.tables.glob("transport_host_*.cf")):
            proc = subprocess.run([binary("postmap"), "-c", str(self.postfix_etc), "-q", address, f"ldap:{table}"],
                                  capture_output=True, text=True, timeout=30, check=False)
            assert proc.stderr == "" and proc.returncode in (0, 1), proc.stderr
            if proc.returncode == 0:
                found.append(proc.stdout.strip())
        assert len(found) == 1, found
        port = int(re.fullmatch(r"lmtp:\[127\.0\.0\.1\]:(\d+)", found[0]).group(1))  # type: ignore[union-attr]
        return next(h for h in self.hosts.values() if h.lmtp == port)

    def deliver(self, address: str, count: int, label: str) -> Host:
        host = self.route(address)
        subjects = [f"{label}-{i}" for i in range(count)]
        lmtp_deliver("127.0.0.1", host.lmtp, address, subjects)
        self.sent.extend(subjects)
        return host

    def start_apply(self) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items()}
        env.update({k: v for k, v in self.env(
            ISPCTL_PROVIDERS="ldap,dovecot", ISPCTL_DOVEADM_PASSWORD=DOVEADM_PASSWORD,
            ISPCTL_DOVEADM=str(self.gate.parent / "doveadm-gated")).items() if v is not None})
        apply = subprocess.Popen([ispctl_binary(), "apply", "--auto-approve", "-d", str(self.estate)], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        self.applies.append(apply)
        return apply


def _site(hosts: dict[str, Host], uid: int, gid: int) -> str:
    lines = [f"directory:\n  base_dn: ou=ispctl,dc=example,dc=net\nmail:\n  uid: {uid}\n  gid: {gid}\n"
             "cluster:\n  hosts:\n"]
    for name, host in hosts.items():
        lines.append(f"    {name}: {{roles: [mail_store, imap], lmtp: \"127.0.0.1:{host.lmtp}\", "
                     f"doveadm: \"127.0.0.1:{host.doveadm}\"}}\n")
    return "".join(lines)


def _estate(root: Path, site: str, anna_on: str) -> None:
    (root / "tenants/acme").mkdir(parents=True, exist_ok=True)
    (root / "ispctl.yaml").write_text(site, encoding="utf-8")
    (root / "tenants/acme/tenant.yaml").write_text("name: Acme\n", encoding="utf-8")
    (root / "tenants/acme/acme.example.yaml").write_text(textwrap.dedent(f"""\
        domain: acme.example
        placement: {{mail_store: mx1.example.net}}
        mailboxes:
          anna:
            password: "{HASH}"
            placement: {{mail_store: {anna_on}}}
          bob:
            password: "{HASH}"
        """), encoding="utf-8")


@pytest.fixture
def cluster(slapd: SlapdInstance, tmp_path: Path) -> Iterator[Cluster]:
    uid, gid = default_mail_owner()
    # Mail roots outside pytest's 0700 temp base: the mail owner must reach the homes.
    top = Path(tempfile.mkdtemp(prefix="ispctl-test-move-"))
    os.chmod(top, 0o755)
    hosts = {}
    for name in HOSTS:
        work = top / name
        (work / "run").mkdir(parents=True)
        hosts[name] = Host(name, top / f"{name}-vmail", work, free_port(), free_port(), free_port())
        # The mail root exists on a mail host (as /var/vmail does), the mail owner's: Dovecot
        # makes the domain folder of a mailbox copied there.
        hosts[name].root.mkdir()
        os.chown(hosts[name].root, uid, gid)
    estate = tmp_path / "estate"
    _estate(estate, _site(hosts, uid, gid), "mx1.example.net")
    gate = top / "gate"
    wrapper = top / "doveadm-gated"
    # The apply's doveadm: says it started (call n), waits until call n (or every call) may go.
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        n=$(ls {gate}.started.* 2>/dev/null | wc -l)
        touch {gate}.started.$n
        while [ ! -e {gate}.open ] && [ ! -e {gate}.open.$n ]; do sleep 0.02; done
        exec {binary("doveadm")} "$@"
        """), encoding="utf-8")
    wrapper.chmod(0o755)
    made = Cluster(slapd, estate, hosts, tmp_path / "tables", tmp_path / "postfix-etc", tmp_path / "moves", gate,
                   sent=[], applies=[])
    try:
        for host in hosts.values():
            host.start(uid, gid)
        yield made
    finally:
        for apply in made.applies:  # one a failed assertion left waiting at the gate
            if apply.poll() is None:
                os.killpg(apply.pid, signal.SIGKILL)
                apply.communicate(timeout=30)
        for host in hosts.values():
            host.stop()
        shutil.rmtree(top, ignore_errors=True)


def _render_postfix(cluster: Cluster) -> None:
    slapd = cluster.slapd
    ldap_ok(slapd.ldapmodify(f"dn: {SERVICE_DN}\nchangetype: modify\nreplace: userPassword\n"
                             f"userPassword: {ssha('pf-ro-pw')}\n"))
    secret = cluster.tables.parent / "pf.pw"
    secret.write_text("pf-ro-pw\n", encoding="utf-8")
    result = run_cli(slapd, "render", "postfix", "--out", str(cluster.tables), "-d", str(cluster.estate),
                     "--bind-dn", SERVICE_DN, "--password-file", str(secret))
    assert result.exit_code == 0, result.output
    cluster.postfix_etc.mkdir()
    (cluster.postfix_etc / "main.cf").write_text("", encoding="utf-8")
    settle(cluster.postfix_etc / "main.cf", *cluster.tables.iterdir())


def _wait_for(path: Path, apply: subprocess.Popen[str]) -> None:
    """Until the apply's doveadm wrapper made ``path`` (the apply must not have ended first)."""
    while not path.exists():
        if apply.poll() is not None:
            out, err = apply.communicate()
            pytest.fail(f"the apply ended (exit {apply.returncode}) before {path.name}:\n{out}\n{err}")
        try:
            apply.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass


def _reset_gate(cluster: Cluster) -> None:
    for old in cluster.gate.parent.glob("gate.*"):
        old.unlink()


def _kill(apply: subprocess.Popen[str]) -> None:
    os.killpg(apply.pid, signal.SIGKILL)
    apply.wait(timeout=30)
    assert apply.returncode == -signal.SIGKILL


def _password_not_on_a_command_line() -> None:
    """The waiting doveadm's command line names a private config file holding the password."""
    waiting = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"doveadm-gated") for a in args):
            waiting.append([a.decode() for a in args if a])
    assert len(waiting) == 1, waiting
    args = waiting[0]
    assert not any("secret" in a for a in args), args
    conf = Path(args[args.index("-c") + 1])
    assert conf.stat().st_mode & 0o777 == 0o600
    assert conf.read_text(encoding="utf-8") == 'doveadm_password = "dsync \\"secret\\" \\\\ 1"\n'


def _mail_host(cluster: Cluster, address: str) -> str:
    found = search(cluster.slapd, f"(mail={address})", "mailHost")
    return next(iter(found.values()))["mailhost"][0]


def test_a_mailbox_moves_with_its_mail_through_kills_and_deliveries(cluster: Cluster) -> None:
    cluster.central("apply", "--auto-approve")
    for name in HOSTS:
        cluster.host_run(name, "apply", "--auto-approve")
    _render_postfix(cluster)
    assert cluster.deliver(ANNA, 20, "before").name == "mx1.example.net"
    mx1, mx2 = cluster.hosts["mx1.example.net"], cluster.hosts["mx2.example.net"]
    assert (mx1.root / "acme.example/anna/.ispctl-maildir").is_file()  # the mail store's home on mx1
    assert not (mx2.root / "acme.example/anna").exists()

    # Git moves anna to mx2: the central plan is one mailhost update naming both hosts.
    _estate(cluster.estate, (cluster.estate / "ispctl.yaml").read_text(encoding="utf-8"), "mx2.example.net")
    plan = cluster.central("plan")
    assert "mailhost.anna@acme.example" in plan and "moves the mail from mx1.example.net to mx2.example.net" in plan

    # 1. Killed during the copy: the directory still says mx1, mail still goes there.
    _reset_gate(cluster)
    apply = cluster.start_apply()
    _wait_for(cluster.gate.with_name("gate.started.0"), apply)
    assert cluster.deliver(ANNA, 5, "during-copy").name == "mx1.example.net"
    _password_not_on_a_command_line()
    _kill(apply)
    assert _mail_host(cluster, ANNA) == "mx1.example.net"
    assert "stopped before the directory was switched" in cluster.central("plan")

    # 2. Killed during the final sync: the directory says mx2 (the copy was complete), mail goes there.
    _reset_gate(cluster)
    apply = cluster.start_apply()
    _wait_for(cluster.gate.with_name("gate.started.0"), apply)
    assert cluster.deliver(ANNA, 5, "between-kills").name == "mx1.example.net"
    call = 0
    while _mail_host(cluster, ANNA) == "mx1.example.net":
        # Not switched yet: this call is the copy (or dsync's documented run-again of it).
        cluster.gate.with_name(f"gate.open.{call}").touch()
        call += 1
        _wait_for(cluster.gate.with_name(f"gate.started.{call}"), apply)
    # Switched, and the final sync's doveadm is waiting: new mail goes to mx2 now.
    assert call >= 1
    assert cluster.deliver(ANNA, 5, "after-switch").name == "mx2.example.net"
    _kill(apply)
    # The directory names mx2 but the move is not done: the plan still proposes it.
    assert "stopped after the directory was switched" in cluster.central("plan")

    # 3. The next apply completes it; then each host's own run: mx1 archives its copy, mx2 adopts.
    _reset_gate(cluster)
    cluster.gate.with_name("gate.open").touch()
    apply = cluster.start_apply()
    out, err = apply.communicate(timeout=120)
    assert apply.returncode == 0, out + err
    assert "No changes." in cluster.central("plan")
    host_plan = cluster.host_run("mx1.example.net", "plan")
    assert "maildir.anna@acme.example" in host_plan and "archive" in host_plan
    for name in HOSTS:
        cluster.host_run(name, "apply", "--auto-approve")
        assert "No changes." in cluster.host_run(name, "plan")
    assert not (mx1.root / "acme.example/anna").exists()
    # The old copy is in mx1's mail archive, whole (dsync is two-way: the last mail is there too).
    archived = [p for p in (mx1.root / ".ispctl-archive").rglob("*") if p.is_file() and p.parent.name in ("new", "cur")]
    assert len(archived) == len(cluster.sent)

    # Every message once, on the new host; bob stayed on mx1 untouched.
    assert mx2.subjects(ANNA) == sorted(cluster.sent)
    assert len(cluster.sent) == 35
    assert _mail_host(cluster, "bob@acme.example") == "mx1.example.net"
    assert not list(cluster.journal.glob("*.json"))


def test_a_move_stops_before_anything_when_a_host_has_no_doveadm_server(tmp_path: Path) -> None:
    journal = mail_journal(tmp_path / "moves")
    switched: list[bool] = []
    with pytest.raises(MoveError, match="no doveadm server known for mx9"):
        move_mailbox(ANNA, "mx1", "mx9", {"mx1": "127.0.0.1:1"}, Doveadm("pw"), journal,
                     lambda: switched.append(True))
    assert journal.pending() == {} and switched == []


def test_a_failed_copy_never_switches_and_the_journal_says_so(tmp_path: Path) -> None:
    # Nothing listens on these ports: the real doveadm fails to connect.
    journal = mail_journal(tmp_path / "moves")
    switched: list[bool] = []
    dead = {"mx1": f"127.0.0.1:{free_port()}", "mx2": f"127.0.0.1:{free_port()}"}
    with pytest.raises(MoveError, match="doveadm sync of anna@acme.example .* failed"):
        move_mailbox(ANNA, "mx1", "mx2", dead, Doveadm("pw", binary("doveadm"), attempts=1), journal,
                     lambda: switched.append(True))
    assert switched == [] and journal.pending()[ANNA].step == "copy"
    # A password Dovecot's config could not hold is refused before doveadm runs.
    with pytest.raises(MoveError, match="line break"):
        Doveadm("a\nb", binary("doveadm")).sync(ANNA, dead["mx2"], dead["mx1"])



def test_git_changing_its_mind_mid_move_brings_everything_back(cluster: Cluster) -> None:
    cluster.central("apply", "--auto-approve")
    for name in HOSTS:
        cluster.host_run(name, "apply", "--auto-approve")
    _render_postfix(cluster)
    cluster.deliver(ANNA, 3, "before")
    mx1 = cluster.hosts["mx1.example.net"]
    site = (cluster.estate / "ispctl.yaml").read_text(encoding="utf-8")
    _estate(cluster.estate, site, "mx2.example.net")
    _reset_gate(cluster)
    apply = cluster.start_apply()
    call = 0
    _wait_for(cluster.gate.with_name("gate.started.0"), apply)
    while _mail_host(cluster, ANNA) == "mx1.example.net":
        cluster.gate.with_name(f"gate.open.{call}").touch()
        call += 1
        _wait_for(cluster.gate.with_name(f"gate.started.{call}"), apply)
    assert cluster.deliver(ANNA, 2, "after-switch").name == "mx2.example.net"
    _kill(apply)
    # Git now says mx1 again: the plan finishes the move towards mx1, from the directory's mx2.
    _estate(cluster.estate, site, "mx1.example.net")
    plan = cluster.central("plan")
    assert "moves the mail from mx2.example.net to mx1.example.net" in plan and "moving" in plan
    _reset_gate(cluster)
    cluster.gate.with_name("gate.open").touch()
    apply = cluster.start_apply()
    out, err = apply.communicate(timeout=120)
    assert apply.returncode == 0, out + err
    assert _mail_host(cluster, ANNA) == "mx1.example.net"
    assert "No changes." in cluster.central("plan") and not list(cluster.journal.glob("*.json"))
    assert cluster.route(ANNA).name == "mx1.example.net"
    assert mx1.subjects(ANNA) == sorted(cluster.sent) and len(cluster.sent) == 5
