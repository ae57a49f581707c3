"""``ispctl import ldap-passwords``: the old directory's hashes carried into the migrated mailboxes.

``import ldap`` writes only ``{CRYPT}$6$``/``$2y$`` into git; iRedMail's default is ``{SSHA512}``,
so most of its users come without a password. After the apply, this command writes each such
hash verbatim into its mailbox's ``userPassword`` in ispctl's subtree (the ISPMan import's
``carry_passwords``: under the apply lock, only where git gives none and the entry has none,
audited without values), so users log in with the password they had. Carried: what Dovecot, which
reads the hash itself (``auth_bind = no``), verifies by its scheme -- salted and plain SHA-1/SHA-2
digests and crypt(3) strings. Not carried, to rotate with ``ispctl passwd``: ``{MD5}`` (slapd reads
a base64 MD5 digest, Dovecot MD5-crypt), plaintext, and schemes Dovecot may lack (PBKDF2, Argon2).
slapd verifies ``{SSHA512}``/``{SSHA256}`` only with its ``pw-sha2`` module: needed only for
programs that bind as the user (ispctl's services never do).
"""

from __future__ import annotations

from collections.abc import Iterable

from ispctl.providers.adopt.hashes import judge
from ispctl.providers.adopt.mapping import Mapping
from ispctl.providers.adopt.source import SourceEntry
from ispctl.reconciler.contract import InvalidName, normalise_address

CARRIED = {
    "{SSHA512}": "{SSHA512}", "{SSHA256}": "{SSHA256}", "{SHA512}": "{SHA512}", "{SHA256}": "{SHA256}",
    "{SSHA}": "{SSHA}", "{SHA}": "{SHA}", "{CRYPT} DES": "{CRYPT}", "{CRYPT} MD5": "{CRYPT}",
    "{CRYPT} SHA-256": "{CRYPT}",
}


def carriable(entries: Iterable[SourceEntry], mapping: Mapping) -> tuple[dict[str, str], dict[str, str]]:
    """(address -> hash to write, address -> why not) for every mailbox the import left without one."""
    mm = mapping.mailboxes
    wanted = mm.object_class.lower()
    carry: dict[str, str] = {}
    refused: dict[str, str] = {}
    for entry in entries:
        raw, mail = entry.get(mm.password), entry.get(mm.address)
        if wanted not in entry.classes or raw is None or mail is None or mail.startswith("@"):
            continue
        verdict = judge(raw)
        if verdict.value is not None:
            continue  # in git already
        try:
            address = normalise_address(mail)
        except InvalidName:
            continue  # the import reported it
        prefix = CARRIED.get(verdict.scheme)
        if prefix is None:
            refused[address] = f"{verdict.scheme}: not verified alike by slapd and Dovecot; rotate it ('ispctl passwd')"
            continue
        value = raw.strip()
        carry[address] = prefix + value[value.index("}") + 1:]
    return carry, refused
