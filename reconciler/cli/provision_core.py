"""The estate's own objects' write commands: tenant, domain, mailbox, alias, forward."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ispctl.reconciler.cli.edits import (
    Branch,
    Commit,
    DirOption,
    Json,
    LockTimeout,
    Name,
    PasswordStdin,
    Sets,
    To,
    _rename,
    _set,
    _simple_verbs,
    run_edit,
)

if TYPE_CHECKING:
    from ispctl.reconciler.cli.context import Wiring

Quota = typer.Option(None, "--quota", metavar="SIZE", help="e.g. 2GiB (B, kB, MB, GB, KiB, MiB, GiB, TiB; 0 = none)")


def core_groups(app: typer.Typer, ctx: Wiring) -> None:
    _tenant(app, ctx)
    _domain(app, ctx)
    _mailbox(app, ctx)
    _alias(app, ctx)
    _forward(app, ctx)


def _group(app: typer.Typer, name: str, help: str) -> typer.Typer:
    group = typer.Typer(no_args_is_help=True, help=help)
    app.add_typer(group, name=name)
    return group


def _tenant(app: typer.Typer, ctx: Wiring) -> None:
    group = _group(app, "tenant", "Add, change, suspend, resume, rename, move or delete a tenant (reseller or "
                                  "client).")

    @group.command("add")
    def add(tenant: str = typer.Argument(..., metavar="NAME"), name: str | None = Name,
            parent: str | None = typer.Option(None, "--parent", metavar="RESELLER", help="make a client of this "
                                                                                        "reseller"),
            contact: str | None = typer.Option(None, "--contact", metavar="ADDRESS"), sets: list[str] = Sets,
            dir: Path | None = DirOption, commit: bool = Commit, branch: str | None = Branch,
            lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        """Add a tenant in its own folder: ispctl tenant add acme --parent northwind --name "Acme Ltd"."""
        run_edit(ctx, dir, {"op": "tenant.add", "tenant": tenant, "name": name, "parent": parent, "contact": contact,
                            "set": sets}, commit, branch, lock_timeout, json_out)

    _set(group, ctx, "tenant", "tenant", "Change any field: ispctl tenant set acme --set limits.max_domains=5.")
    _simple_verbs(group, ctx, "tenant", "tenant", "the tenant's name (its folder)")
    _rename(group, ctx, "tenant", "tenant", "Rename a tenant (a planned rename: its folder renamed, the old name in "
                                            "previous:; the plan renames its entry with all below it): ispctl tenant "
                                            "rename southbay southshore.")

    @group.command("move")
    def move(tenant: str = typer.Argument(..., metavar="NAME"),
             parent: str = typer.Option(..., "--parent", metavar="RESELLER", help="the client's new reseller"),
             dir: Path | None = DirOption, commit: bool = Commit, branch: str | None = Branch,
             lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        """Move a client to another reseller (a planned move of its entry and everything below it): ispctl tenant
        move school --parent northwind."""
        run_edit(ctx, dir, {"op": "tenant.move", "tenant": tenant, "parent": parent}, commit, branch, lock_timeout,
                 json_out)


def _domain(app: typer.Typer, ctx: Wiring) -> None:
    group = _group(app, "domain", "Add, change, suspend, resume or delete a domain.")

    @group.command("add")
    def add(domain: str = typer.Argument(..., metavar="DOMAIN"),
            tenant: str | None = typer.Option(None, "--tenant", metavar="NAME", help="the tenant owning it"),
            type: str | None = typer.Option(None, "--type", help="primary, slave, nodns or alias"),
            services: str | None = typer.Option(None, "--services", metavar="LIST", help="e.g. mail,web,dns"),
            sets: list[str] = Sets, dir: Path | None = DirOption, commit: bool = Commit,
            branch: str | None = Branch, lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        """Add a domain in its own file: ispctl domain add acme.example --tenant acme --services mail,dns."""
        listed = [s.strip() for s in services.split(",") if s.strip()] if services is not None else None
        run_edit(ctx, dir, {"op": "domain.add", "domain": domain, "tenant": tenant, "type": type,
                            "services": listed, "set": sets}, commit, branch, lock_timeout, json_out)

    _set(group, ctx, "domain", "domain", "Change any field: ispctl domain set acme.example --set "
                                         "mail.default_quota=2GiB.")
    _simple_verbs(group, ctx, "domain", "domain", "the domain")
    @group.command("rename")
    def rename(domain: str = typer.Argument(..., metavar="DOMAIN"), new: str = typer.Argument(..., metavar="NEW"),
               drop_old: bool = typer.Option(False, "--drop-old", help="delete the old domain (its zone too) "
                                             "instead of keeping it as an alias domain of NEW"),
               dir: Path | None = DirOption, commit: bool = Commit, branch: str | None = Branch,
               lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        """Rename a domain (planned renames: every mailbox moves, its old address in previous:; the old
        domain kept as an alias domain unless --drop-old): ispctl domain rename old.example new.example."""
        run_edit(ctx, dir, {"op": "domain.rename", "domain": domain, "new": new, "drop_old": drop_old or None},
                 commit, branch, lock_timeout, json_out)


def _mailbox(app: typer.Typer, ctx: Wiring) -> None:
    group = _group(app, "mailbox", "Add, change, suspend, resume, rename or delete a mailbox.")

    @group.command("add")
    def add(address: str = typer.Argument(..., metavar="ADDRESS"), name: str | None = Name,
            quota: str | None = Quota, password_stdin: bool = PasswordStdin, sets: list[str] = Sets,
            dir: Path | None = DirOption, commit: bool = Commit, branch: str | None = Branch,
            lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        """Add a mailbox: ispctl mailbox add alice@example.net --quota 2GiB --name "Alice Doe"."""
        run_edit(ctx, dir, {"op": "mailbox.add", "address": address, "name": name, "quota": quota, "set": sets},
                 commit, branch, lock_timeout, json_out, password_stdin)

    @group.command("set")
    def set_(address: str = typer.Argument(..., metavar="ADDRESS"), name: str | None = Name,
             quota: str | None = Quota, password_stdin: bool = PasswordStdin, sets: list[str] = Sets,
             unsets: list[str] = typer.Option([], "--unset", metavar="KEY"), dir: Path | None = DirOption,
             commit: bool = Commit, branch: str | None = Branch, lock_timeout: float = LockTimeout,
             json_out: bool = Json) -> None:
        """Change any field: ispctl mailbox set alice@example.net --quota 4GiB --set services.pop3=false."""
        run_edit(ctx, dir, {"op": "mailbox.set", "address": address, "name": name, "quota": quota, "set": sets,
                            "unset": unsets}, commit, branch, lock_timeout, json_out, password_stdin)

    _simple_verbs(group, ctx, "mailbox", "address", "the mailbox's address")
    _rename(group, ctx, "mailbox", "address", "Rename a mailbox (a planned rename: entry and mail move, the old "
                                              "address goes to previous:): ispctl mailbox rename a@x.net b@x.net.")


def _alias(app: typer.Typer, ctx: Wiring) -> None:
    group = _group(app, "alias", "Add, change, suspend, resume, rename or delete an alias or list.")
    description = typer.Option(None, "--description", help="what the list is for")

    @group.command("add")
    def add(address: str = typer.Argument(..., metavar="ADDRESS"), to: list[str] = To,
            description: str | None = description, dir: Path | None = DirOption, commit: bool = Commit,
            branch: str | None = Branch, lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        """Add an alias (several --to: a list): ispctl alias add info@example.net --to anna --to karl."""
        run_edit(ctx, dir, {"op": "alias.add", "address": address, "to": to, "description": description}, commit,
                 branch, lock_timeout, json_out)

    @group.command("set")
    def set_(address: str = typer.Argument(..., metavar="ADDRESS"), to: list[str] = To,
             description: str | None = description, sets: list[str] = Sets, dir: Path | None = DirOption,
             commit: bool = Commit, branch: str | None = Branch, lock_timeout: float = LockTimeout,
             json_out: bool = Json) -> None:
        """Change an alias: --to replaces its targets: ispctl alias set info@example.net --to anna."""
        run_edit(ctx, dir, {"op": "alias.set", "address": address, "to": to, "description": description,
                            "set": sets}, commit, branch, lock_timeout, json_out)

    _simple_verbs(group, ctx, "alias", "address", "the alias's address")
    _rename(group, ctx, "alias", "address", "Rename an alias: its delete and its add in one commit (an alias "
                                            "carries no data).")


def _forward(app: typer.Typer, ctx: Wiring) -> None:
    group = _group(app, "forward", "Set or remove a mailbox's forwarding.")
    keep: Any = typer.Option(None, "--keep-copy/--no-keep-copy", help="also deliver to the mailbox")

    for verb in ("add", "set"):
        group.command(verb)(_forward_command(ctx, verb, keep))
    _simple_verbs(group, ctx, "forward", "address", "the mailbox's address", ("delete",))


def _forward_command(ctx: Wiring, verb: str, keep: Any) -> Callable[..., None]:
    def command(address: str = typer.Argument(..., metavar="ADDRESS"), to: list[str] = To,
                keep_copy: bool | None = keep, dir: Path | None = DirOption, commit: bool = Commit,
                branch: str | None = Branch, lock_timeout: float = LockTimeout, json_out: bool = Json) -> None:
        run_edit(ctx, dir, {"op": f"forward.{verb}", "address": address, "to": to, "keep_copy": keep_copy},
                 commit, branch, lock_timeout, json_out)
    command.__doc__ = (f"{verb.capitalize()} a mailbox's forward: ispctl forward {verb} tom@example.net --to "
                       "tom@home.example --keep-copy.")
    return command
