"""A zone's life on named: create, switch between primary and secondary, delete, repair.

Every step is safe to interrupt and safe to repeat, and no step loses a primary's data:

* A zone changing type is deleted and added again in one step (``switch``): every value that
  goes into its config was checked at validate time and is checked again by the writer, and if
  named still refuses the new config, the old zone is added back from its files, which a
  primary's delete never cleans. (``rndc modzone`` cannot change a running zone's type in
  BIND 9.18: it records the new type at once but applies it only at the next reconfig.)
* A primary's data is archived before named stops being its primary: an AXFR of the zone as
  served (the journal included) goes to ``$ISPCTL_DNS_ZONE_DIR/archive/<zone>.<UTC time>.db``,
  a zone file ``named-checkzone`` and ``addzone`` read as is. Only then may ``delzone -clean``
  remove its files; without a zone directory, named keeps them (plain ``delzone``). A file a
  new primary's file would replace is moved to the archive, never overwritten.
* The catalog says what ispctl owns. A new zone is listed before named serves it; a deleted
  one is unlisted after named dropped it. A secondary's catalog entry gets its fingerprint
  only once named is configured as a secondary: an entry without one marks a switch that did
  not finish, and the next plan finishes it (``DnsProvider`` reads it as a change).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ispctl.providers.dns import catalog as cat
from ispctl.providers.dns.axfr import transfer
from ispctl.providers.dns.connection import DnsConnection
from ispctl.providers.dns.rndc import Rndc, address_list, check_zone_name, quoted
from ispctl.reconciler.contract import ProviderError, Resource

if TYPE_CHECKING:
    import dns.update

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).

ARCHIVE = "archive"
# The live attribute that says named and the catalog disagree on a zone (DnsProvider._read_live).
NAMED_ATTR = "named"
NOT_SERVED = "not served, though the catalog lists it"
UNFINISHED = "switch to secondary not finished (no fingerprint in the catalog)"


@dataclass
class ZoneLife:
    conn: DnsConnection
    rndc: Callable[[], Rndc]
    send_catalog: Callable[[dns.update.UpdateMessage], None]

    # -- files -----------------------------------------------------------------------

    def zone_file(self, zone: str, secondary: bool = False) -> Path | None:
        """Where a zone's data lives; a secondary's copy never shares a primary's file."""
        if not self.conn.zone_dir:
            return None
        return Path(self.conn.zone_dir) / f"{zone}{'.secondary' if secondary else ''}.db"

    def archive_path(self, zone: str) -> Path:
        assert self.conn.zone_dir
        folder = Path(self.conn.zone_dir) / ARCHIVE
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path, n = folder / f"{zone}.{stamp}.db", 1
        while path.exists() or path.with_name(path.name + ".jnl").exists():
            n += 1
            path = folder / f"{zone}.{stamp}.{n}.db"
        return path

    def snapshot(self, zone: str) -> Path | None:
        """Archive the zone's data as named serves it now (None: no zone directory to archive into)."""
        if not self.conn.zone_dir:
            return None
        served = transfer(self.conn, zone)
        text = f"$ORIGIN {zone}.\n" + served.to_text(relativize=True)
        path = self.archive_path(zone)
        write_atomically(path, text)
        return path

    def set_aside(self, path: Path) -> None:
        """Move a file (and its journal) that a new one would replace into the archive."""
        if not path.exists():
            path.with_name(path.name + ".jnl").unlink(missing_ok=True)  # a journal of nothing
            return
        target = self.archive_path(path.name.removesuffix(".db"))
        journal = path.with_name(path.name + ".jnl")
        if journal.exists():
            os.replace(journal, target.with_name(target.name + ".jnl"))
        os.replace(path, target)

    # -- config ----------------------------------------------------------------------

    def config(self, zone: Resource) -> str:
        secondary = zone.attrs.get("type") == "secondary"
        path = self.zone_file(check_zone_name(zone.key), secondary)
        file_clause = f" file {quoted(str(path))};" if path is not None else ""
        if secondary:
            primaries = zone.attrs.get("primaries")
            listed = tuple(str(p) for p in primaries) if isinstance(primaries, tuple) else ()
            return f"{{ type secondary; primaries {address_list(listed)};{file_clause} }};"
        # Transfers are allowed by the server's global allow-transfer (ispctl's key and the
        # ISP's secondaries); a zone-level list would override it and lock the secondaries out.
        key = quoted(self.conn.tsig_name.rstrip("."))
        return f"{{ type primary;{file_clause} allow-update {{ key {key}; }}; }};"

    # -- steps -----------------------------------------------------------------------

    def claim(self, zone: str, listed: bool) -> str | None:
        """named's type for the zone; refuses a zone named has that the catalog does not list."""
        current = self.rndc().zone_type(zone)
        if not listed and current is not None:
            raise ProviderError(
                f"dns_zone.{zone}: named already has zone {zone}, and the catalog {self.conn.catalog} does not list "
                "it: it is not ispctl's (to adopt it, list it in the catalog)")
        return current

    def leave_primary(self, zone: str) -> None:
        """Archive a primary's data before named stops being its primary; refuse if it cannot be."""
        if not self.conn.zone_dir:
            raise ProviderError(f"dns_zone.{zone}: set ISPCTL_DNS_ZONE_DIR so the zone's data can be archived "
                                "before named stops being its primary; nothing was changed")
        try:
            self.snapshot(zone)
        except ProviderError as exc:
            raise ProviderError(f"dns_zone.{zone}: cannot archive the zone's data ({exc}); nothing was "
                                "changed") from None

    def switch(self, zone: str, present: bool, old: str | None, new: str, clean: bool) -> None:
        """named serves ``zone`` with config ``new``; if it refuses ``new``, the ``old`` config again.

        modzone cannot do this: BIND 9.18 stores a new type in its NZD at once but keeps the
        running zone's type until a reconfig or restart. So the zone goes and comes back
        within one call, and a refused add restores the old zone (its files are still there:
        only a secondary's copy is cleaned).
        """
        rndc = self.rndc()
        if present:
            rndc.delzone(zone, clean=clean)
        try:
            rndc.addzone(zone, new)
        except ProviderError as exc:
            if old is None:
                raise
            try:
                rndc.addzone(zone, old)
            except ProviderError as again:
                raise ProviderError(f"{exc}; restoring the old zone failed too ({again}): zone {zone} is not "
                                    "served; its data is in the archive; run 'ispctl apply' again") from None
            raise ProviderError(f"{exc}; the old zone {zone} is served again, unchanged") from None

    def make_primary(self, zone: Resource, text: str, listed: bool, was_secondary: bool) -> None:
        """Write the zone's file and have named serve it as a primary."""
        current = self.claim(zone.key, listed)
        path = self.zone_file(zone.key)
        if path is None:
            raise ProviderError(f"{zone.address}: set ISPCTL_DNS_ZONE_DIR (a directory named reads, on its host) so "
                                "ispctl can write the new zone's file")
        old = self.rndc().zone_config(zone.key) if current is not None else None
        self.set_aside(path)  # whatever a primary held there goes to the archive
        write_atomically(path, text)
        if not listed:  # listed first: a zone named serves but no catalog lists would be nobody's
            self.send_catalog(cat.add_member(self.conn.catalog, zone, self.conn.tsig_key))
        try:
            # A former primary's files were just set aside: nothing to restore from.
            self.switch(zone.key, current is not None, old if current == "secondary" else None, self.config(zone),
                        clean=current == "secondary")
        except ProviderError:
            if current is None:
                path.unlink(missing_ok=True)
                if not listed:
                    # Never leave a claim on a zone ispctl did not create; should this fail too,
                    # the next apply finds the entry and retries.
                    self.send_catalog(cat.remove_member(self.conn.catalog, zone.key, self.conn.tsig_key))
            raise
        if was_secondary:  # the entry says secondary until named really is the primary
            self.send_catalog(cat.change_member(self.conn.catalog, zone, self.conn.tsig_key))

    def make_secondary(self, zone: Resource, listed: bool) -> None:
        """Have named transfer the zone from its primaries."""
        config = self.config(zone)  # checked before anything changes
        current = self.claim(zone.key, listed)
        if current == "primary":
            self.leave_primary(zone.key)
        if listed:
            self.send_catalog(cat.change_member(self.conn.catalog, zone, self.conn.tsig_key, finished=False))
        else:
            self.send_catalog(cat.add_member(self.conn.catalog, zone, self.conn.tsig_key, finished=False))
        if current == "secondary":
            self.rndc().modzone(zone.key, config)  # same type: modzone reconfigures the running zone
        else:
            old = self.rndc().zone_config(zone.key) if current is not None else None
            try:
                self.switch(zone.key, current is not None, old, config, clean=False)  # a primary's files stay
            except ProviderError:
                if not listed:
                    self.send_catalog(cat.remove_member(self.conn.catalog, zone.key, self.conn.tsig_key))
                raise
        self.send_catalog(cat.change_member(self.conn.catalog, zone, self.conn.tsig_key))

    def delete(self, zone: str) -> None:
        """named drops the zone (a primary's data archived first), then the catalog unlists it."""
        rndc = self.rndc()
        current = rndc.zone_type(zone)
        if current is not None:
            clean = current != "primary"
            if current == "primary" and self.conn.zone_dir:
                try:
                    self.snapshot(zone)
                    clean = True
                except ProviderError:
                    clean = False  # not servable: named keeps its files, set aside below
            rndc.delzone(zone, clean=clean)
            path = self.zone_file(zone)
            if not clean and path is not None:
                self.set_aside(path)
        self.send_catalog(cat.remove_member(self.conn.catalog, zone, self.conn.tsig_key))


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)  # named (possibly another user) must read it
    os.replace(tmp, path)
