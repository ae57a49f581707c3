"""The ``ispctl`` command line: a thin typer layer over library functions.

Each command is a small function returning an exit code; ``run_command`` is the one
place that turns expected errors into messages and exit codes (0 success, 1 error,
2 "changes present" for ``plan --detailed-exitcode``), so no operator ever sees a
traceback for a mistake they can fix.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import typer

from . import __version__, output
from .settings import desired_root
from .errors import ApprovalRequired, IspctlError, ValidationFailed

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ISP services as code: plan and apply tenants, domains and mailboxes.")
sandbox_app = typer.Typer(no_args_is_help=True, help="A local sandbox of real services on loopback (data in .sandbox/).")
app.add_typer(sandbox_app, name="sandbox")
render_app = typer.Typer(no_args_is_help=True, help="Render configuration files that make mail servers read the directory.")
app.add_typer(render_app, name="render")
archive_app = typer.Typer(no_args_is_help=True, help="The mail archive: mail of removed mailboxes (list, purge).")
app.add_typer(archive_app, name="archive")
report_app = typer.Typer(no_args_is_help=True, help="Reports from the live services.")
app.add_typer(report_app, name="report")
import_app = typer.Typer(no_args_is_help=True, help="Adopt existing services: write desired state from what is live.")
app.add_typer(import_app, name="import")
dkim_app = typer.Typer(no_args_is_help=True, help="DKIM keys of mail domains (made only by these commands, never by plan or apply).")
app.add_typer(dkim_app, name="dkim")

DirOption = typer.Option(None, "--dir", "-d", help="desired-state folder [default: $ISPCTL_DESIRED_STATE or ./desired-state]")


def desired_dir(value: Optional[Path]) -> Path:
    return value if value is not None else desired_root()


def run_command(func: Callable[[], int]) -> None:
    """Run one command body and exit with its code; the single error handler."""
    try:
        code = func()
    except ValidationFailed as exc:
        for problem in sorted(exc.problems):
            output.err().print(str(problem), markup=False, style="red")
        output.err().print(f"{len(exc.problems)} error(s) in the desired state; nothing was changed.", style="bold red")
        code = 1
    except ApprovalRequired as exc:
        output.err().print(str(exc), markup=False, style="bold red")
        code = 1
    except IspctlError as exc:
        output.err().print(f"Error: {exc}", markup=False, style="bold red")
        code = exc.exit_code
    except KeyboardInterrupt:
        output.err().print("Interrupted.", style="bold red")
        code = 130
    except Exception as exc:  # noqa: BLE001 - a bug must still end with a clear message
        if os.environ.get("ISPCTL_DEBUG"):
            raise
        output.err().print(
            f"Internal error ({type(exc).__name__}): {exc}\nRe-run with ISPCTL_DEBUG=1 for a traceback and report it.",
            markup=False, style="bold red",
        )
        code = 1
    raise typer.Exit(code)


def _print_version(value: bool) -> None:
    # Eager, so `ispctl --version` works without a command (click would ask for one first).
    if value:
        output.write_raw(f"ispctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    no_color: bool = typer.Option(False, "--no-color", help="plain output even on a terminal"),
    version: bool = typer.Option(False, "--version", help="print the version and exit",
                                 callback=_print_version, is_eager=True),
) -> None:
    output.configure(no_color=no_color)


@app.command()
def validate(dir: Optional[Path] = DirOption) -> None:
    """Check the desired state without touching anything."""
    from .commands import validate_cmd

    run_command(lambda: validate_cmd(desired_dir(dir)))


Targets = typer.Option([], "--target", help="only changes to addresses matching this glob (repeatable), plus what they need")
Excludes = typer.Option([], "--exclude", help="leave out changes to matching addresses, and what needs them (repeatable)")
Tenants = typer.Option([], "--tenant", help="only this tenant and everything in it (repeatable)")
ChangedSince = typer.Option(None, "--changed-since", help="only tenants and domains whose files changed since this git ref")
NoPrune = typer.Option(False, "--no-prune", help="leave objects that are not in git alone")
FormatOption = typer.Option("human", "--format", "-f", help="human, json or markdown (a pull-request comment)")


def _format(fmt: str, json_out: bool) -> str:
    chosen = "json" if json_out else fmt
    if chosen not in ("human", "json", "markdown"):
        raise typer.BadParameter(f"--format must be human, json or markdown, not {fmt!r}")
    return chosen


def _options(no_prune: bool, target: list[str], exclude: list[str], tenant: list[str], changed_since: Optional[str]):  # type: ignore[no-untyped-def]
    from .runs import PlanOptions

    return PlanOptions(prune=not no_prune, targets=tuple(target), excludes=tuple(exclude), tenants=tuple(tenant),
                       changed_since=changed_since)


@app.command()
def plan(
    dir: Optional[Path] = DirOption,
    fmt: str = FormatOption,
    json_out: bool = typer.Option(False, "--json", help="same as --format json (secrets masked)"),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="also save the plan for `ispctl apply PLAN`; a bare name goes to plans/"),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="exit 0 no changes, 2 changes, 1 error"),
    no_prune: bool = NoPrune,
    target: list[str] = Targets,
    exclude: list[str] = Excludes,
    tenant: list[str] = Tenants,
    changed_since: Optional[str] = ChangedSince,
) -> None:
    """Show what apply would change. Never writes to any service."""
    from .commands import plan_cmd

    chosen = _format(fmt, json_out)
    run_command(lambda: plan_cmd(desired_dir(dir), chosen, out, detailed_exitcode,
                                 _options(no_prune, target, exclude, tenant, changed_since)))


@app.command()
def apply(
    plan_file: Optional[Path] = typer.Argument(None, metavar="[PLAN]", help="a plan saved by `plan --out`: apply exactly it, or refuse if stale"),
    dir: Optional[Path] = DirOption,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="apply without asking (CI); destroys included"),
    force: bool = typer.Option(False, "--force", help="allow plans over the change thresholds (never protected objects)"),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="seconds to wait for another apply's lock"),
    no_prune: bool = NoPrune,
    target: list[str] = Targets,
    exclude: list[str] = Excludes,
    tenant: list[str] = Tenants,
    changed_since: Optional[str] = ChangedSince,
) -> None:
    """Show the plan, ask for approval, and make the live services match it."""
    from .commands import apply_cmd

    run_command(lambda: apply_cmd(desired_dir(dir), auto_approve, _options(no_prune, target, exclude, tenant, changed_since),
                                  plan_file, force, lock_timeout))


@app.command()
def show(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="a plan saved by `plan --out`"),
    fmt: str = FormatOption,
    json_out: bool = typer.Option(False, "--json", help="same as --format json"),
) -> None:
    """Render a saved plan (checksum verified) as text, JSON or Markdown."""
    from .commands import show_cmd

    chosen = _format(fmt, json_out)
    run_command(lambda: show_cmd(plan_file, chosen))


@app.command()
def history(
    json_out: bool = typer.Option(False, "--json", help="print the records as JSON"),
    limit: Optional[int] = typer.Option(20, "--limit", help="newest N records (0 = all)"),
) -> None:
    """Past applies from the audit trail ($ISPCTL_AUDIT_LOG), newest first."""
    from .commands import history_cmd

    run_command(lambda: history_cmd(json_out, limit or None))


@app.command("force-unlock")
def force_unlock(
    lock_id: str = typer.Argument(..., metavar="LOCK_ID", help="the id a refused apply printed"),
    dir: Optional[Path] = DirOption,
) -> None:
    """Remove a stale apply lock (only the one with this id)."""
    from .commands import force_unlock_cmd

    run_command(lambda: force_unlock_cmd(desired_dir(dir), lock_id))


@app.command("hash-password")
def hash_password(
    scheme: str = typer.Option("sha512", help="sha512 ({CRYPT}$6$) or bcrypt ({CRYPT}$2y$)"),
    rounds: Optional[int] = typer.Option(None, help="cost: SHA-512 rounds or bcrypt log2 cost"),
) -> None:
    """Hash a password read from a prompt (or stdin when piped); never from argv."""
    from .passwords import hash_password as do_hash

    def body() -> int:
        if sys.stdin is None:  # started with standard input closed
            raise IspctlError("no password on standard input: pipe it in or run on a terminal")
        if sys.stdin.isatty():
            first = getpass.getpass("Password: ")
            if first != getpass.getpass("Again: "):
                raise IspctlError("the two passwords differ")
            password = first
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        try:
            output.write_raw(do_hash(password, scheme, rounds))
        except ValueError as exc:
            raise IspctlError(str(exc)) from None
        return 0

    run_command(body)


@render_app.command("dovecot")
def render_dovecot(
    out: Path = typer.Option(..., "--out", help="folder to write dovecot-ldap.conf.ext and conf.d/90-ispctl.conf into"),
    dir: Optional[Path] = DirOption,
    bind_dn: Optional[str] = typer.Option(None, "--bind-dn", help="DN Dovecot binds as (a read-only account; needs --password-file)"),
    password_file: Optional[Path] = typer.Option(None, "--password-file", help="file holding that DN's password"),
    ldap_conf_path: str = typer.Option("/etc/dovecot/dovecot-ldap.conf.ext", "--ldap-conf-path", help="where dovecot-ldap.conf.ext will be installed"),
) -> None:
    """Dovecot passdb/userdb LDAP config for the directory (connection from ISPCTL_LDAP_*)."""
    from providers.dovecot.render import render_dovecot_cmd

    run_command(lambda: render_dovecot_cmd(out, desired_dir(dir), bind_dn, password_file, ldap_conf_path))


@render_app.command("postfix")
def render_postfix(
    out: Path = typer.Option(..., "--out", help="folder to write the LDAP tables (*.cf) and main.cf.ispctl into"),
    dir: Optional[Path] = DirOption,
    bind_dn: Optional[str] = typer.Option(None, "--bind-dn", help="DN Postfix binds as (a read-only account; needs --password-file)"),
    password_file: Optional[Path] = typer.Option(None, "--password-file", help="file holding that DN's password"),
    table_dir: Optional[str] = typer.Option(None, "--table-dir", help="where the tables will be installed, as main.cf.ispctl names them [default: --out]"),
    group: Optional[str] = typer.Option(None, "--group", help="group owning the files (postfix, so proxymap can read them)"),
) -> None:
    """Postfix LDAP lookup tables for the directory (connection from ISPCTL_LDAP_*)."""
    from providers.postfix.render import render_postfix_cmd

    run_command(lambda: render_postfix_cmd(out, desired_dir(dir), bind_dn, password_file, table_dir, group))


@archive_app.command("list")
def archive_list(
    dir: Optional[Path] = DirOption,
    json_out: bool = typer.Option(False, "--json", help="print the archive as JSON"),
) -> None:
    """List archived mailboxes (from their manifests) and which may be purged."""
    from providers.mailstore.archive import archive_list_cmd

    run_command(lambda: archive_list_cmd(desired_dir(dir), json_out))


@archive_app.command("purge")
def archive_purge(
    dir: Optional[Path] = DirOption,
    older_than: Optional[int] = typer.Option(None, "--older-than", help="days [default: mail.archive_retention_days; never less]"),
    yes: bool = typer.Option(False, "--yes", help="delete without asking"),
) -> None:
    """Permanently delete archived mail older than the retention. The only command that deletes mail."""
    from providers.mailstore.archive import archive_purge_cmd

    run_command(lambda: archive_purge_cmd(desired_dir(dir), older_than, yes))


@report_app.command("quota")
def report_quota(
    dir: Optional[Path] = DirOption,
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
    threshold: float = typer.Option(90.0, "--threshold", help="list mailboxes at or over this percentage of their quota"),
    show_all: bool = typer.Option(False, "--all", help="list every mailbox, not only those near or over quota"),
) -> None:
    """Mailboxes near or over quota: usage in the mail store against quotas in the directory."""
    from providers.mailstore.report import report_quota_cmd

    run_command(lambda: report_quota_cmd(desired_dir(dir), json_out, threshold, show_all))


@import_app.command("dns")
def import_dns(
    zone: str = typer.Option(..., "--zone", help="the zone (domain) to adopt"),
    from_file: Optional[Path] = typer.Option(None, "--from-file", help="a BIND zone file [default: AXFR from the live server]"),
    out: Optional[Path] = typer.Option(None, "--out", help="domain file to write [default: the file that declares the domain]"),
    dir: Optional[Path] = DirOption,
) -> None:
    """Write a domain's dns: section from a live zone or zone file, so the next plan is empty."""
    from .zonefile import import_dns_cmd

    run_command(lambda: import_dns_cmd(desired_dir(dir), zone, from_file, out))


@dkim_app.command("init")
def dkim_init(
    dir: Optional[Path] = DirOption,
    domain: Optional[str] = typer.Option(None, "--domain", help="only this domain [default: every mail domain with DNS]"),
) -> None:
    """Create the missing DKIM keys (existing keys are never touched)."""
    from .dkim import dkim_init_cmd

    run_command(lambda: dkim_init_cmd(desired_dir(dir), domain))


@dkim_app.command("rotate")
def dkim_rotate(
    domain: str = typer.Option(..., "--domain", help="the domain whose key is replaced"),
    dir: Optional[Path] = DirOption,
    yes: bool = typer.Option(False, "--yes", help="replace without asking"),
) -> None:
    """Replace a domain's DKIM key after confirmation; the old pair is kept as *.retired-<time>."""
    from .dkim import dkim_rotate_cmd

    run_command(lambda: dkim_rotate_cmd(desired_dir(dir), domain, yes))


SandboxRoot = typer.Option(Path(".sandbox"), "--root", help="where the sandbox keeps its data")


@sandbox_app.command("up")
def sandbox_up(root: Path = SandboxRoot) -> None:
    """Start the sandbox services on loopback (idempotent)."""
    from .commands import sandbox_up_cmd

    run_command(lambda: sandbox_up_cmd(root))


@sandbox_app.command("down")
def sandbox_down(root: Path = SandboxRoot, purge: bool = typer.Option(False, help="also delete the sandbox data")) -> None:
    """Stop the sandbox services."""
    from .commands import sandbox_down_cmd

    run_command(lambda: sandbox_down_cmd(root, purge))


@sandbox_app.command("status")
def sandbox_status(root: Path = SandboxRoot) -> None:
    """Show whether the sandbox services run."""
    from .commands import sandbox_status_cmd

    run_command(lambda: sandbox_status_cmd(root))


@sandbox_app.command("env")
def sandbox_env(root: Path = SandboxRoot) -> None:
    """Print shell exports for the sandbox: eval "$(ispctl sandbox env)"."""
    from .commands import sandbox_env_cmd

    run_command(lambda: sandbox_env_cmd(root))


def main() -> None:
    app()
