"""The DNS service's commands: ``ispctl dkim init|rotate`` and ``ispctl import dns``.

``ispctl dkim status|retire`` are the OpenDKIM service's (``providers/opendkim/commands.py``):
where a rotation stands, and whether an old key may go, depend on what OpenDKIM signs with.

Each is a small typed function returning an exit code; the command line passes the
context it wired (the validated estate, the one error handler).
"""

from __future__ import annotations

from pathlib import Path

import typer

from ispctl.providers.dns.compile import ZoneSet
from ispctl.providers.dns.dkim import (
    DkimError,
    create_key,
    current_selectors,
    key_dir,
    start_rotation,
)
from ispctl.providers.dns.names import MISSING_KEY
from ispctl.providers.dns.settings import DNS, DnsSettings
from ispctl.providers.dns.validate import check_zones, dkim_domains, web_derivations
from ispctl.providers.dns.yamledit import write_section
from ispctl.providers.dns.zonefile import (
    ImportedZone,
    ImportFailed,
    axfr_zone,
    derived_for,
    import_target,
    load_zone_file,
    plan_section,
    read_imported,
)
from ispctl.reconciler.contract import (
    CommandContext,
    Commands,
    ConfigError,
    DirOption,
    InvalidName,
    IspctlError,
    normalise_domain,
    output,
)


def dkim_zones(ctx: CommandContext, root: Path) -> tuple[ZoneSet, DnsSettings]:
    """The estate's zones; valid apart from missing DKIM keys (what init exists to make)."""
    catalog = ctx.desired(root, tolerate=(MISSING_KEY,)).catalog
    zones, _ = check_zones(catalog)
    return zones, catalog.estate.site.section(DNS)


def dkim_targets(ctx: CommandContext, root: Path, only: str | None) -> tuple[list[tuple[str, str]], Path, int]:
    """(domain, selector) pairs that DKIM applies to, the key store and the key size."""
    zones, settings = dkim_zones(ctx, root)
    if settings.dkim is None:
        raise DkimError("DKIM is not enabled: add dns.dkim (selector, key_dir, bits) to ispctl.yaml")
    pairs = dkim_domains(zones, settings)
    if only is not None:
        try:
            wanted = normalise_domain(only).ascii
        except InvalidName as exc:
            raise DkimError(str(exc)) from None
        pairs = [p for p in pairs if p[0] == wanted]
        if not pairs:
            raise DkimError(f"{wanted} gets no DKIM key: it is not a primary domain with the mail and dns services in "
                            "this estate")
    return pairs, key_dir(settings.dkim.key_dir), settings.dkim.bits


def dkim_init_cmd(ctx: CommandContext, root: Path, domain: str | None) -> int:
    pairs, store, bits = dkim_targets(ctx, root, domain)
    for name, selector in pairs:
        if current_selectors(store, name):
            continue  # it has a key already (perhaps a rotated one under a later selector)
        done = create_key(store, name, selector, bits)
        if done != "exists":
            output.out().print(f"{name}: {done} DKIM key {selector} in {store / name}", markup=False)
    output.out().print(f"{len(pairs)} domain(s) have DKIM keys in {store}. Run 'ispctl plan' to publish new public "
                       "keys.", markup=False)
    return 0


def dkim_rotate_cmd(ctx: CommandContext, root: Path, domain: str) -> int:
    """Step 1 of a rotation: the new key beside the old one (nothing is replaced or published yet)."""
    pairs, store, bits = dkim_targets(ctx, root, domain)
    name = pairs[0][0]
    old = current_selectors(store, name)
    new = start_rotation(store, name, bits)
    output.out().print(
        f"{name}: new DKIM key {new} beside {', '.join(old)} in {store / name}. 'ispctl plan' now shows:\n"
        f"1. publish: dns.{name}/{new}._domainkey/TXT created ({old[-1]} keeps signing);\n"
        f"2. switch: signing.{name} selector {old[-1]} -> {new}, applied after the record and only once the DNS "
        "server serves it (the opendkim provider, on the mail host).\n"
        f"3. retire: after dns.dkim.grace_days, 'ispctl dkim retire --domain {name}'; the next plan deletes "
        f"{', '.join(old)}._domainkey/TXT.", markup=False)
    return 0


def _verify(ctx: CommandContext, root: Path, live: ImportedZone, path: Path, previous: str | None) -> list[str]:
    """Validate again and compare the zone with what was read; returns remaining problems."""
    desired, problems = ctx.check(root)
    zone = check_zones(desired.catalog)[0].zones.get(live.name) if desired is not None else None
    if zone is None or any(p.code != MISSING_KEY for p in problems):
        return [str(p) for p in sorted(set(problems))] or [f"{live.name} has no zone after the import"]
    expected = {key: (rds.ttl, live.texts(key)) for key, rds in live.rrsets.items()}
    got = {key: (rr.ttl, rr.records) for key, rr in zone.rrsets.items()}
    soa = " ".join(str(v) for v in live.soa)
    if got != expected or zone.soa != soa or zone.ns != live.ns or zone.default_ttl != live.soa_ttl:
        # A bug of the import itself: put the file back as it was.
        if previous is None:
            path.unlink()
        else:
            path.write_text(previous, encoding="utf-8")
        differ = sorted(set(got) ^ set(expected) | {k for k in got if k in expected and got[k] != expected[k]})
        raise IspctlError(f"internal error: the imported section would not reproduce zone {live.name} (differs at "
                          f"{differ}); the file was left unchanged")
    return [str(p) for p in problems]


def import_dns_cmd(ctx: CommandContext, root: Path, zone_arg: str, from_file: Path | None, out: Path | None) -> int:
    """Write a domain's ``dns:`` section from a live zone or zone file, so the next plan is empty."""
    desired = ctx.desired(root, tolerate=(MISSING_KEY,))
    site = desired.catalog.estate.site
    if not site.has_section(DNS):
        raise ConfigError("DNS is not managed by this estate: add a dns: section (at least ns:) to ispctl.yaml first")
    settings = site.section(DNS)
    try:
        name = normalise_domain(zone_arg)
    except InvalidName as exc:
        raise ImportFailed(str(exc)) from None
    zone = name.ascii
    target = import_target(desired.catalog, root, zone, out)
    source = load_zone_file(from_file, zone) if from_file is not None else axfr_zone(zone)
    live = read_imported(source, zone, settings)
    # The web service's owners and TXT values too: the import must leave out exactly what the zone derives.
    web_owners, mail_txt = web_derivations(desired.catalog, zone)
    derived = derived_for(target, check_zones(desired.catalog)[0], settings, zone, live.soa_ttl,
                          web_owners=web_owners, mail_txt=mail_txt)
    section, counts = plan_section(live, settings, derived)
    previous = write_section(target.path, name.unicode, section)
    remaining = _verify(ctx, root, live, target.path, previous)
    verb = "Updated" if target.exists else "Wrote"
    output.out().print(
        f"{verb} the dns: section of {zone} in {target.path}: {counts['explicit']} record set(s) written, "
        f"{counts['derived']} left to derivation, {counts['none']} derived set(s) marked as none.",
        markup=False,
    )
    for item in live.skipped:
        output.out().print(f"  not imported: {item}", markup=False)
    if remaining:
        for problem in remaining:
            output.err().print(problem, markup=False, style="red")
        if all("ispctl dkim init" in p for p in remaining):
            output.err().print("Run 'ispctl dkim init' to create the missing DKIM key(s), then plan.", markup=False)
        return 1
    output.out().print("Run 'ispctl plan': it should show no changes for this zone.", markup=False)
    return 0


def register(commands: Commands) -> None:
    ctx = commands.context
    dkim = commands.group("dkim", "DKIM keys of mail domains (made only by these commands, never by plan or apply).")
    imports = commands.group("import", "Adopt existing services: write desired state from what is live.")

    @dkim.command("init")
    def dkim_init(
        dir: Path | None = DirOption,
        domain: str | None = typer.Option(None, "--domain", help="only this domain [default: every mail domain with "
                                                                 "DNS]"),
    ) -> None:
        """Create the missing DKIM keys (existing keys are never touched)."""
        ctx.run(lambda: dkim_init_cmd(ctx, ctx.root(dir), domain))

    @dkim.command("rotate")
    def dkim_rotate(
        domain: str = typer.Option(..., "--domain", help="the domain whose key is rotated"),
        dir: Path | None = DirOption,
    ) -> None:
        """Start a rotation: a key under the next selector beside the old one (see 'dkim retire')."""
        ctx.run(lambda: dkim_rotate_cmd(ctx, ctx.root(dir), domain))

    @imports.command("dns")
    def import_dns(
        zone: str = typer.Option(..., "--zone", help="the zone (domain) to adopt"),
        from_file: Path | None = typer.Option(None, "--from-file", help="a BIND zone file [default: AXFR from the live "
                                                                        "server]"),
        out: Path | None = typer.Option(None, "--out", help="domain file to write [default: the file that declares the "
                                                            "domain]"),
        dir: Path | None = DirOption,
    ) -> None:
        """Write a domain's dns: section from a live zone or zone file, so the next plan is empty."""
        ctx.run(lambda: import_dns_cmd(ctx, ctx.root(dir), zone, from_file, out))
