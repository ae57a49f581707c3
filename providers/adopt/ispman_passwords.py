"""``ispctl import ispman-passwords``: ISPMan's hashes carried into the migrated mailboxes, not into git.

The estate accepts only ``{CRYPT}$6$`` and ``{CRYPT}$2y$`` (validation), and most ISPMan users
have ``{crypt}`` DES hashes: the import leaves those mailboxes without a ``password:`` and
lists them. After the apply, this command writes each such hash verbatim into its mailbox's
``userPassword`` in the new directory, so every user logs in with the password they had, and
nothing weak ever enters git. It is a credential write like ``ispctl passwd`` (the password
belongs to its user: plans never compare it), under the estate's apply lock, recorded in the
audit trail without any value.

Only hashes every consumer of ispctl's directory verifies the same way are carried: crypt(3)
formats (DES, MD5 crypt: slapd's ``{CRYPT}``, Dovecot's CRYPT, FreeRADIUS's Crypt-Password)
and ``{SHA}``/``{SSHA}``. ``{MD5}`` is not: slapd reads it as a base64 MD5 digest, Dovecot as
MD5-crypt, so such a user could bind but not log in over IMAP; cleartext is not either. Those
are listed for rotation (``ispctl passwd``). A mailbox that git gives a password, or whose
entry already has one (its user set it since), is left alone.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ispctl.providers.adopt.ispman import USER_CLASSES
from ispctl.providers.adopt.ispman_values import CARRIED_SCHEMES, classify_password
from ispctl.providers.adopt.source import SourceEntry
from ispctl.providers.ldap.provider import LdapProvider
from ispctl.reconciler.contract import MAILBOX, CommandContext, IspctlError, address_of, audit, output

FIELD = "password"


def carriable(entries: Iterable[SourceEntry]) -> tuple[dict[str, str], dict[str, str]]:
    """(address -> hash to write, address -> why not) for every ISPMan user with a weak hash."""
    carry: dict[str, str] = {}
    refused: dict[str, str] = {}
    for entry in entries:
        if not entry.classes & USER_CLASSES:
            continue
        local, domain = (entry.get("ispmanUserId") or "").lower(), (entry.get("ispmanDomain") or "").lower()
        raw = entry.get("userPassword")
        sorted_out = classify_password(raw)
        if not local or not domain or not sorted_out.weak or raw is None:
            continue
        address = f"{local}@{domain}"
        prefix = CARRIED_SCHEMES.get(sorted_out.scheme)
        if prefix is None:
            refused[address] = (f"{sorted_out.scheme}: not read alike by slapd and Dovecot; rotate it "
                                "('ispctl passwd')")
            continue
        carry[address] = prefix + raw.strip()[raw.strip().index("}") + 1:]
    return carry, refused


def carry_passwords_cmd(ctx: CommandContext, root: Path, entries: list[SourceEntry], lock_timeout: float) -> int:
    carry, refused = carriable(entries)
    return carry_passwords(ctx, root, carry, refused, lock_timeout, "import-ispman-passwords", "ISPMan")


def carry_passwords(ctx: CommandContext, root: Path, carry: dict[str, str], refused: dict[str, str],
                    lock_timeout: float, operation: str, origin: str) -> int:
    """Write each ``carry`` hash into its migrated mailbox (see the module docstring); ``import ldap-passwords``
    uses it too."""
    done: list[str] = []
    skipped: dict[str, str] = dict(refused)
    with ctx.session(root) as session:
        provider = next((p for p in session.providers if isinstance(p, LdapProvider)), None)
        if provider is None:
            raise IspctlError("this writes the directory: enable the ldap provider (providers: or ISPCTL_PROVIDERS)")
        ttl = timedelta(seconds=session.catalog.estate.site.safety.lock_ttl)
        with provider.estate_lock(operation, None, ttl, lock_timeout) as lock:
            live = provider.read({MAILBOX})
            for address, value in sorted(carry.items()):
                ident = (MAILBOX, address)
                desired = session.compiled.get(ident) or session.desired.get(ident)
                found = live.get(ident)
                if desired is None:
                    skipped[address] = "in no file of the estate"
                elif FIELD not in desired.create_only or desired.attrs.get(FIELD):
                    skipped[address] = "git gives it a password"
                elif found is None:
                    skipped[address] = "not in the directory yet: run 'ispctl apply' first"
                elif found.attrs.get(FIELD):
                    skipped[address] = "already has a password (its user's)"
                else:
                    provider.set_credential(found, FIELD, value)
                    done.append(address)
            if done:
                audit.append({"estate": ctx.estate(root), **_record(done, provider, lock.id, operation)},
                             audit.log_path())
    out = output.out()
    out.print(f"Carried {len(done)} password hash(es) from {origin}; they are their users' from now on.", markup=False)
    for address in done:
        out.print(f"  {address}", markup=False)
    if skipped:
        out.print(f"Not carried ({len(skipped)}):", markup=False)
        for address, why in sorted(skipped.items()):
            out.print(f"  {address}: {why}", markup=False)
    return 0


def _record(addresses: list[str], provider: LdapProvider, lock_id: str, operation: str) -> dict[str, object]:
    """Shaped like ``ispctl passwd``'s record (an ``end`` line), so ``ispctl history`` lists it."""
    changes = [{"address": address_of(MAILBOX, a), "action": "update", "status": "ok", "error": None,
                "attributes": [FIELD]} for a in addresses]
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return {
        "type": "end", "run": None, "result": "complete", "stopped": None, "operation": operation,
        "time": datetime.now(UTC).isoformat(timespec="seconds"), "who": who, "host": socket.gethostname(),
        "desired": {"commit": None, "dirty": False}, "plan_checksum": None, "lock": lock_id,
        "directory": {"url": provider.settings.url, "base_dn": provider.base_dn},
        "summary": {"added": 0, "changed": len(changes), "destroyed": 0, "failed": 0, "skipped": 0},
        "changes": changes,
    }
