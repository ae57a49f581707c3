"""Kind ``mailhost``: each mailbox's mail_store host in the directory, and moves when it changes.

In a cluster (``cluster:`` with mail_store hosts) every mailbox is placed on a host
(``reconciler/estate/placement.py``). ``mailhost.<address>`` stores it in the mailbox's entry
as ``mailHost`` (with the auxiliary class ``inetLocalMailRecipient``, both from OpenLDAP's misc
schema: the standard attribute of the LDAP mail-routing draft, the one ISPMan used), where
Postfix's transport maps and Dovecot read it. Created with the mailbox (nothing to copy);
an update from one host to another is a move (``move``: copy with doveadm, switch this value,
sync again); a delete (the cluster no longer places mailboxes) removes the value. It is a
kind of its own, not an attribute of the mailbox's entry, because switching it is the middle
step of the move and must wait for the copy: the plan shows it as ``host: A -> B``.

It runs in the central run (which writes the directory); the live state is one paged search
for the entries holding ``mailHost``, and the move journal: a move interrupted at any point
shows as the live attribute ``moving: A -> B`` (never desired), so the plan proposes to finish
it, towards the host git says now, syncing from every host that may hold some of the mail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ispctl.providers.ldap.connection import LdapSettings, OnDemandConnection, first_value, paged_entries
from ispctl.providers.ldap.dn import escape_filter

# The move journal's helpers are looked up on the contract when a function runs: the journal's
# module loads then, not with the registry (issue 11; a plan without hosts never needs it).
from ispctl.reconciler import contract
from ispctl.reconciler.contract import MAILBOX, Provider, ProviderError, Resource, address_of

if TYPE_CHECKING:
    import ldap3

    from ispctl.providers.dovecot.move import Doveadm
    from ispctl.reconciler.contract import MoveJournal

KIND = "mailhost"
CLASS = "inetLocalMailRecipient"
ATTR = "mailHost"
_MAILBOXES = "(objectClass=ispctlMailUser)"
_FTP_CLASS = "ispctlftpuser"  # the FTP service's class: a mailbox that is an FTP login (lower case)


class MailHostProvider(OnDemandConnection, Provider):
    name: ClassVar[str] = "dovecot"
    SUPPORTS: ClassVar[frozenset[str]] = frozenset({KIND})

    def __init__(self, ldap: LdapSettings, base_dn: str, endpoints: Mapping[str, str], doveadm: Doveadm | None,
                 journal: MoveJournal, page_size: int = 1000) -> None:
        self.ldap = ldap
        self.base_dn = base_dn
        self.endpoints = dict(endpoints)  # mail_store host -> its doveadm server (host:port)
        self.doveadm = doveadm
        self.journal = journal
        self.page_size = page_size
        self._conn: ldap3.Connection | None = None

    def _read_live(self, kinds: frozenset[str]) -> Iterable[Resource]:
        if KIND not in kinds:
            return []
        pending = self.journal.pending()
        found: list[Resource] = []
        for entry in self._search(f"(&{_MAILBOXES}({ATTR}=*))", ["mail", ATTR]):
            address, host = first_value(entry, "mail"), first_value(entry, ATTR)
            if address is None or host is None:
                continue
            moving = pending.get(address)
            # Until a move's last step, the mail is not (all) where the directory says: the
            # live side says which move is unfinished (``moving``, never desired), so the plan
            # proposes to finish it and apply does, towards whatever host git now says.
            found.append(Resource(KIND, address, contract.moving_attrs(host, moving),
                                  depends_on=(address_of(MAILBOX, address),),
                                  interrupted=moving.describe() if moving else None))
        return found

    def _search(self, filterstr: str, attrs: list[str]) -> Iterable[Mapping[str, Any]]:
        return paged_entries(self.conn, self.base_dn, filterstr, attrs, self.page_size, "mail hosts")

    def placed(self) -> dict[str, str]:
        """Every mailbox's mailHost as the directory has it (address -> host), in one search:
        where a host's own run finds which mailboxes are its (``MailStoreProvider.reconciles``)."""
        return {address: host for address, host, _ftp in self._placed()}

    def counts(self) -> dict[str, dict[str, int]]:
        """Mailboxes per host, and the FTP logins among them (served where the mail is), in one
        search (``ispctl status``)."""
        found: dict[str, dict[str, int]] = {}
        for _address, host, ftp in self._placed():
            counts = found.setdefault(host, {"mailboxes": 0, "mailbox ftp logins": 0})
            counts["mailboxes"] += 1
            counts["mailbox ftp logins"] += ftp
        return found

    def _placed(self) -> Iterable[tuple[str, str, bool]]:
        for entry in self._search(f"(&{_MAILBOXES}({ATTR}=*))", ["mail", ATTR, "objectClass"]):
            address, host = first_value(entry, "mail"), first_value(entry, ATTR)
            if address is not None and host is not None:
                classes = {str(c).lower() for c in entry.get("objectClass") or []}
                yield address, host, _FTP_CLASS in classes

    def _dn(self, address: str) -> tuple[str, list[str]] | None:
        found = list(self._search(f"(&{_MAILBOXES}(mail={escape_filter(address)}))", ["objectClass"]))
        if not found:
            return None
        if len(found) > 1:
            raise ProviderError(f"{len(found)} mailbox entries hold mail={address}")
        classes = found[0].get("objectClass") or []
        return str(found[0]["dn"]), [str(c) for c in classes]

    def _write(self, address: str, host: str | None) -> None:
        import ldap3  # here, not with the module: the registry imports it for every command (issue 11)
        from ldap3.core.exceptions import LDAPException

        where = self._dn(address)
        if where is None:
            if host is None:
                return  # the entry is gone with its mailbox: nothing holds the value any more
            raise ProviderError(f"the directory has no mailbox entry for {address}")
        dn, classes = where
        has_class = CLASS.lower() in {c.lower() for c in classes}
        changes: dict[str, list[tuple[str, list[str]]]] = {}
        if host is None:
            changes[ATTR] = [(ldap3.MODIFY_REPLACE, [])]
            if has_class:
                changes["objectClass"] = [(ldap3.MODIFY_DELETE, [CLASS])]
        else:
            if not has_class:
                changes["objectClass"] = [(ldap3.MODIFY_ADD, [CLASS])]
            changes[ATTR] = [(ldap3.MODIFY_REPLACE, [host])]
        try:
            ok = self.conn.modify(dn, changes)
        except LDAPException as exc:
            raise ProviderError(f"{address}: cannot write {ATTR}: {exc}") from None
        if not ok:
            raise ProviderError(f"{address}: cannot write {ATTR}: {self.conn.result.get('description')} "
                                f"{self.conn.result.get('message') or ''}".rstrip())

    def _create(self, resource: Resource) -> None:
        # A new mailbox: its entry was just made, no mail exists anywhere to copy.
        self._write(resource.key, contract.placed_host(resource))

    def _update(self, before: Resource, after: Resource, changed: tuple[str, ...]) -> None:
        source, target = contract.placed_host(before), _target(before, after)
        earlier = contract.interrupted_hosts(before)
        if source == target and not earlier:
            # A renamed mailbox (its entry renamed by the directory first): same host, no mail moves.
            self._write(after.key, target)
            return
        # A move's modules (doveadm, the journal's steps) load when a mailbox moves, not with the provider.
        from ispctl.providers.dovecot.move import MoveError, move_mailbox

        if self.doveadm is None:
            raise MoveError(f"moving {after.key} from {source} to {target} needs the hosts' doveadm password: set "
                            "ISPCTL_DOVEADM_PASSWORD_FILE (or ISPCTL_DOVEADM_PASSWORD)")
        move_mailbox(after.key, source, target, self.endpoints, self.doveadm, self.journal,
                     lambda: self._write(after.key, target), also=earlier)

    def _delete(self, resource: Resource) -> None:
        self._write(resource.key, None)

    def describe(self, before: Resource | None, after: Resource | None) -> tuple[str, ...]:
        if before is None or after is None:
            return ()
        source = contract.placed_host(before)
        if source == _target(before, after):
            moving = before.attrs.get("moving")
            return (f"finishes the interrupted move ({moving}): syncs the mail on {source} with the other "
                    "host again",) if moving else ()
        return (f"moves the mail from {source} to {contract.placed_host(after)} with doveadm sync, switches mailHost "
                "once the copy is complete, syncs again; the old copy is archived by the mail store run on "
                f"{source}",)


def _target(before: Resource, after: Resource) -> str:
    """Where the mail ends up: the host git pins, or for a default-placed mailbox (its host the
    directory's once it exists) the one the directory names."""
    return contract.placed_host(before) if "host" in after.create_only else contract.placed_host(after)
