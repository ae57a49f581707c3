"""cn=config LDIF that makes a directory a delta-syncrepl provider, or a read-only consumer of one.

OpenLDAP replicates; ispctl does not (README "Replication"). These are the changes an operator
applies with ``ldapmodify -Y EXTERNAL -H ldapi:///`` on each server, and exactly what the
sandbox's provider and consumer slapds are built with, so the tests run the production text:

provider
    modules ``syncprov`` and ``accesslog``; a changelog database ``cn=accesslog`` (readable by the
    replication account only: it holds every change, password hashes included) with ``syncprov``
    (``nopresent``, ``reloadhint``); on the main database ``syncprov`` (checkpoint, session log)
    then ``accesslog`` (successful writes, purged after a week), equality indexes on
    ``entryCSN``/``entryUUID``, and for the replication account read access to everything
    before any other rule and no size or time limit.
consumer
    ``olcSyncrepl`` pulling from the provider with ``syncdata=accesslog`` (only the changes; a
    consumer too far behind falls back to a full refresh by itself), ``refreshAndPersist``,
    retrying forever; ``olcUpdateRef`` sends writes to the provider (the database is a shadow:
    clients get a referral, ispctl never writes a replica).
"""

from __future__ import annotations

import re

DEFAULT_DATABASE = "olcDatabase={1}mdb,cn=config"
DEFAULT_MODULES = "cn=module{0},cn=config"
ACCESSLOG_SUFFIX = "cn=accesslog"
# Only writes that succeeded are replayed by consumers (the admin guide's filter).
LOG_FILTER = "(&(objectClass=auditWriteObject)(reqResult=0))"
# A syncrepl value cannot carry these inside its quoted fields.
_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]')


def _plain(name: str, value: str) -> str:
    if _UNSAFE.search(value) or not value:
        raise ValueError(f"{name} {value!r} cannot be written into the replication configuration (empty, quote, "
                         "backslash or control character)")
    return value


def _limits(replicator_dn: str) -> str:
    return (f'dn.exact="{replicator_dn}" time.soft=unlimited time.hard=unlimited size.soft=unlimited '
            "size.hard=unlimited")


def provider_ldif(replicator_dn: str, accesslog_dir: str, *, database: str = DEFAULT_DATABASE,
                  modules: str = DEFAULT_MODULES, accesslog_database: str = "{2}mdb",
                  checkpoint: tuple[int, int] = (100, 5), purge: str = "07+00:00 01+00:00",
                  nosync: bool = False) -> str:
    """ldapmodify input turning a running directory into a delta-syncrepl provider.

    ``accesslog_database`` is the new changelog database's ``olcDatabase`` (the next free
    number); ``accesslog_dir`` must exist and be writable by slapd. ``nosync`` (throwaway test
    instances only, like the main database's ``olcDbNoSync``): every write is also a changelog
    write, and with fsync on both a provider writes about half as fast.
    """
    _plain("replication account", replicator_dn)
    ops, minutes = checkpoint
    return (
        f"dn: {modules}\nchangetype: modify\nadd: olcModuleLoad\nolcModuleLoad: syncprov\n"
        "olcModuleLoad: accesslog\n\n"
        # The changelog: every write with its values, password hashes included; nobody but the
        # replication account reads it.
        f"dn: olcDatabase={accesslog_database},cn=config\nchangetype: add\nobjectClass: olcDatabaseConfig\n"
        f"objectClass: olcMdbConfig\nolcDatabase: {accesslog_database}\nolcDbDirectory: {accesslog_dir}\n"
        f"olcSuffix: {ACCESSLOG_SUFFIX}\nolcRootDN: {ACCESSLOG_SUFFIX}\nolcDbMaxSize: {1024**3}\n"
        f"olcDbNoSync: {'TRUE' if nosync else 'FALSE'}\n"
        "olcDbIndex: default eq\nolcDbIndex: entryCSN,objectClass,reqEnd,reqResult,reqStart,reqDN\n"
        f'olcAccess: {{0}}to * by dn.exact="{replicator_dn}" read by * none\n'
        f"olcLimits: {{0}}{_limits(replicator_dn)}\n\n"
        f"dn: olcOverlay=syncprov,olcDatabase={accesslog_database},cn=config\nchangetype: add\n"
        "objectClass: olcOverlayConfig\nobjectClass: olcSyncProvConfig\nolcOverlay: syncprov\n"
        "olcSpNoPresent: TRUE\nolcSpReloadHint: TRUE\n\n"
        f"dn: {database}\nchangetype: modify\nadd: olcDbIndex\nolcDbIndex: entryCSN,entryUUID eq\n-\n"
        # First rule, falling through for everyone else: the consumer must see every entry and
        # attribute (hashes included) or it would hold a partial copy without saying so.
        f'add: olcAccess\nolcAccess: {{0}}to * by dn.exact="{replicator_dn}" read by * break\n-\n'
        f"add: olcLimits\nolcLimits: {_limits(replicator_dn)}\n\n"
        f"dn: olcOverlay=syncprov,{database}\nchangetype: add\nobjectClass: olcOverlayConfig\n"
        f"objectClass: olcSyncProvConfig\nolcOverlay: syncprov\nolcSpCheckpoint: {ops} {minutes}\n"
        "olcSpSessionLog: 1000\n\n"
        f"dn: olcOverlay=accesslog,{database}\nchangetype: add\nobjectClass: olcOverlayConfig\n"
        f"objectClass: olcAccessLogConfig\nolcOverlay: accesslog\nolcAccessLogDB: {ACCESSLOG_SUFFIX}\n"
        f"olcAccessLogOps: writes\nolcAccessLogSuccess: TRUE\nolcAccessLogPurge: {purge}\n"
    )


def syncrepl_value(rid: int, provider_url: str, suffix: str, replicator_dn: str, password: str,
                   retry: str = "5 +") -> str:
    """One ``olcSyncrepl`` value: delta-syncrepl from ``provider_url``, refreshAndPersist."""
    if not 0 < rid < 1000:
        raise ValueError(f"replica id {rid} must be 1..999")
    return (f"rid={rid:03d} provider={_plain('provider URL', provider_url)} bindmethod=simple "
            f'binddn="{_plain("replication account", replicator_dn)}" '
            f'credentials="{_plain("replication password", password)}" '
            f'searchbase="{_plain("suffix", suffix)}" logbase="{ACCESSLOG_SUFFIX}" logfilter="{LOG_FILTER}" '
            f'schemachecking=on type=refreshAndPersist retry="{_plain("retry", retry)}" syncdata=accesslog')


def consumer_ldif(rid: int, provider_url: str, suffix: str, replicator_dn: str, password: str, *,
                  database: str = DEFAULT_DATABASE, retry: str = "5 +") -> str:
    """ldapmodify input making a running directory's database a read-only consumer of the provider."""
    value = syncrepl_value(rid, provider_url, suffix, replicator_dn, password, retry)
    return (f"dn: {database}\nchangetype: modify\nadd: olcDbIndex\nolcDbIndex: entryCSN,entryUUID eq\n-\n"
            f"add: olcSyncrepl\nolcSyncrepl: {value}"
            f"\n-\nadd: olcUpdateRef\nolcUpdateRef: {_plain('provider URL', provider_url)}\n")
