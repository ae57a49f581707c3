"""``ispctl render opendkim``: OpenDKIM's configuration and tables, written for an operator."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import typer

from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.dkim import key_dir, served_key
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
from ispctl.reconciler.contract import CommandContext, Commands, ConfigError, DirOption, output


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
        "Postfix's main.cf, and reload opendkim and Postfix.", markup=False)
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
