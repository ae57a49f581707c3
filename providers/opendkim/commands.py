"""OpenDKIM's commands: ``ispctl render opendkim`` (its configuration and tables, written for an
operator) and ``ispctl dkim status|retire``, which need to know what OpenDKIM signs with here.

``dkim retire`` refuses while OpenDKIM's tables on this host still sign with a key it would
retire: OpenDKIM reads the private key when it signs, so mail would be deferred (Postfix's
``milter_default_action = tempfail``) until the switch is applied.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from ispctl.providers.dns.commands import dkim_targets, dkim_zones
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.dkim import (
    DkimError,
    current_selectors,
    key_dir,
    read_public,
    retire_keys,
    rotation_state,
    served_key,
)
from ispctl.providers.dns.names import MISSING_KEY
from ispctl.providers.dns.settings import DNS
from ispctl.providers.dns.validate import check_zones, dkim_domains
from ispctl.providers.opendkim.render import (
    DEFAULT_INSTALL_DIR,
    DEFAULT_SOCKET,
    DEFAULT_TRUSTED,
    SigningKey,
    render,
    signing_keys,
    write_files,
)
from ispctl.providers.opendkim.tables import read_tables
from ispctl.reconciler.contract import CommandContext, Commands, ConfigError, DirOption, output

ConfDirOption: Any = typer.Option(DEFAULT_INSTALL_DIR, "--conf-dir", envvar="ISPCTL_OPENDKIM_DIR",
                                     help="where OpenDKIM's tables are (or will be installed)")


def estate_keys(ctx: CommandContext, root: Path, env: Mapping[str, str] | None = None) -> tuple[list[SigningKey], Path]:
    """The signing key of every domain the estate publishes DKIM for, and the key directory."""
    env = os.environ if env is None else env
    catalog = ctx.desired(root, tolerate=(MISSING_KEY,)).catalog
    settings = catalog.estate.site.section(DNS) if catalog.estate.site.has_section(DNS) else None
    if settings is None or settings.dkim is None:
        raise ConfigError("DKIM is not enabled: add dns.dkim (selector, key_dir, bits) to ispctl.yaml, then run "
                          "'ispctl dkim init'")
    store = key_dir(settings.dkim.key_dir, env)
    domains = [name for name, _ in dkim_domains(check_zones(catalog)[0], settings)]
    served: Callable[[str, str], str | None] | None = None
    if env.get("ISPCTL_DNS_SERVER", "").strip():
        conn = DnsConnection.from_env(env)
        served = lambda domain, selector: served_key(conn, domain, selector)  # noqa: E731
    return signing_keys(store, domains, served), store


def postfix_milter(socket: str) -> str:
    """OpenDKIM's ``inet:PORT@HOST`` / ``local:PATH`` as Postfix writes it (``inet:HOST:PORT``, ``unix:PATH``)."""
    kind, _, rest = socket.partition(":")
    if kind == "inet" and "@" in rest:
        port, _, host = rest.partition("@")
        return f"inet:{host}:{port}"
    return f"unix:{rest}" if kind in ("local", "unix") else socket


def render_opendkim_cmd(ctx: CommandContext, out: Path, root: Path, conf_dir: str = DEFAULT_INSTALL_DIR,
                        socket: str = DEFAULT_SOCKET, env: Mapping[str, str] | None = None) -> int:
    keys, store = estate_keys(ctx, root, env)
    files = render(keys, str(store), conf_dir, socket, DEFAULT_TRUSTED)
    try:
        written = write_files(files, out)
    except OSError as exc:
        raise ConfigError(f"cannot write to {out}: {exc.strerror or exc}") from None
    for path in written:
        output.out().print(f"Wrote {path}", markup=False)
    for key in keys:
        others = [s for s in key.published if s != key.selector]
        state = f" ({', '.join(others)} still published: rotating)" if others else ""
        output.out().print(f"  {key.domain} signs with {key.selector}{state}", markup=False)
    output.out().print(
        f"Install them in {conf_dir}/ (opendkim.conf as /etc/opendkim.conf), let the opendkim user read {store} "
        f"(chown -R opendkim: {store}), set smtpd_milters and non_smtpd_milters = {postfix_milter(socket)} in "
        "Postfix's main.cf, and reload opendkim and Postfix. Then enable the opendkim provider on this host "
        "(providers: in ispctl.yaml, or ISPCTL_PROVIDERS=...,opendkim with ISPCTL_OPENDKIM_DIR and ISPCTL_DNS_*): "
        "'ispctl apply' keeps the tables from then on, a key rotation's switch included.", markup=False)
    return 0


def _served(env: Mapping[str, str]) -> Callable[[str, str], str | None] | None:
    if not env.get("ISPCTL_DNS_SERVER", "").strip():
        return None
    conn = DnsConnection.from_env(env)
    return lambda domain, selector: served_key(conn, domain, selector)


def signing_here(conf_dir: Path) -> dict[str, str]:
    """Domain -> the selector OpenDKIM's tables in ``conf_dir`` sign it with (none: no tables).
    Tables ispctl did not write, or cannot read, are an error naming the file."""
    return {entry.domain: entry.selector for entry in read_tables(conf_dir)}


def dkim_status_cmd(ctx: CommandContext, root: Path, domain: str | None, conf_dir: Path,
                    env: Mapping[str, str] | None = None) -> int:
    """Where each domain's keys and rotation stand: the key directory, DNS while rotating, and
    what OpenDKIM's tables on this host sign with."""
    pairs, store, _ = dkim_targets(ctx, root, domain)
    settings = dkim_zones(ctx, root)[1].dkim
    assert settings is not None  # dkim_targets refused an estate without DKIM
    served = _served(os.environ if env is None else env)
    signing = signing_here(conf_dir)
    for name, _ in pairs:
        keys = ", ".join(current_selectors(store, name)) or "none"
        state = rotation_state(store, name, timedelta(days=settings.grace_days), served, signing.get(name))
        output.out().print(f"{name}: keys {keys}; {state}", markup=False)
    return 0


def dkim_retire_cmd(ctx: CommandContext, root: Path, domain: str, yes: bool, conf_dir: Path,
                    env: Mapping[str, str] | None = None) -> int:
    """Step 3 of a rotation: the older keys retired, once the newest is served, signs, and the grace is over."""
    pairs, store, _ = dkim_targets(ctx, root, domain)
    name = pairs[0][0]
    settings = dkim_zones(ctx, root)[1].dkim
    assert settings is not None  # dkim_targets refused an estate without DKIM
    selectors = current_selectors(store, name)
    if len(selectors) < 2:
        raise DkimError(f"{name} has nothing to retire: its only key is {selectors[0] if selectors else 'missing'}")
    newest = selectors[-1]
    using = signing_here(conf_dir).get(name)
    if using is not None and using != newest:
        raise DkimError(f"OpenDKIM still signs {name} with {using} ({conf_dir}): apply the plan that switches "
                        f"signing.{name} to {newest} first; retired now, its key would be gone while in use")
    served = served_key(DnsConnection.from_env(env), name, newest) == read_public(store, name, newest)
    if served and not yes:
        output.confirm(
            f"This retires {', '.join(selectors[:-1])} of {name}: the next apply deletes its record, and mail it\n"
            f"signed can no longer be verified. Type the domain name ({name}) to confirm.",
            name, refusal="Retirement cancelled", outcome="The keys are unchanged.", hint="pass --yes",
            expected_name="the domain name")
    retired = retire_keys(store, name, served, timedelta(days=settings.grace_days))
    output.out().print(f"{name}: retired {', '.join(retired)} (kept as *.retired-<time>); {newest} signs. Next: "
                       "'ispctl plan' shows the old record's deletion; apply it.", markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    render_group = commands.group("render", "Render configuration files that make mail servers read the directory.")

    @render_group.command("opendkim")
    def render_opendkim(
        out: Path = typer.Option(..., "--out", help="folder to write opendkim.conf, KeyTable, SigningTable and "
                                                    "TrustedHosts into"),
        dir: Path | None = DirOption,
        conf_dir: str = typer.Option(DEFAULT_INSTALL_DIR, "--conf-dir", envvar="ISPCTL_OPENDKIM_DIR",
                                     help="where the tables will be installed"),
        socket: str = typer.Option(DEFAULT_SOCKET, "--socket", envvar="ISPCTL_OPENDKIM_SOCKET",
                                   help="the milter socket opendkim listens on"),
    ) -> None:
        """OpenDKIM's signing tables for the estate's DKIM domains (keys: dns.dkim.key_dir / ISPCTL_DKIM_DIR)."""
        ctx.run(lambda: render_opendkim_cmd(ctx, out, ctx.root(dir), conf_dir, socket))

    dkim = commands.group("dkim", "DKIM keys of mail domains (made only by these commands, never by plan or apply).")

    @dkim.command("status")
    def dkim_status(
        dir: Path | None = DirOption,
        domain: str | None = typer.Option(None, "--domain", help="only this domain"),
        conf_dir: Path = ConfDirOption,
    ) -> None:
        """Each domain's keys and where its rotation stands (asks the DNS server while one rotates)."""
        ctx.run(lambda: dkim_status_cmd(ctx, ctx.root(dir), domain, conf_dir))

    @dkim.command("retire")
    def dkim_retire(
        domain: str = typer.Option(..., "--domain", help="the domain whose older key is retired"),
        dir: Path | None = DirOption,
        yes: bool = typer.Option(False, "--yes", help="retire without asking"),
        conf_dir: Path = ConfDirOption,
    ) -> None:
        """End a rotation: once the new record is served (ISPCTL_DNS_*), signs, and dns.dkim.grace_days passed."""
        ctx.run(lambda: dkim_retire_cmd(ctx, ctx.root(dir), domain, yes, conf_dir))
