"""Postfix LDAP lookup tables for ispctl's DIT, rendered from the site settings.

One ``ldap_table(5)`` file per table, plus ``main.cf.ispctl``: the main.cf parameters that
wire them in, in the order that matters. Every filter matches ispctl's marker class only
(entries without it are not ispctl's) and reads *effective* statuses: a mailbox of a
suspended domain or tenant is itself ``suspended``, so one entry decides every lookup.

Lookup keys are only ever substituted as ``%s`` (the whole key) or ``%d`` (its domain);
Postfix quotes them per RFC 4515 before they reach the filter, so a key such as
``*@example.com`` or ``x)(mail=*`` cannot widen a search (``tests/test_postfix.py`` proves
it against slapd).

virtual_alias_maps is an ordered list. Postfix sends ``user@domain`` to every table of
the list before it tries ``@domain``, and the first answer wins (virtual(5)); the tables
below that look at the domain alone (alias domains, catch-all) already answer for
``user@domain``, so everything that names one address must come first:

1. forwards of active mailboxes (the mailbox's own address among them keeps a copy;
   Postfix does not expand an address that maps to itself again);
2. every mailbox to itself, whatever its status, and every non-active list to itself: an
   existing address is never taken by the catch-all, and the recursion ends here;
3. extra addresses -> the owning mailbox (expanded again, so its forwards apply);
4. active aliases and distribution lists -> their targets;
5. active alias domains -> ``@target``: per virtual(5) a result ``@otherdomain`` becomes
   the same user in otherdomain;
6. catch-all of an active domain -> its target.

Suspended mailboxes. Any match in virtual_alias_maps makes the SMTP server accept a
recipient (smtpd_check.c accepts before it looks at virtual_mailbox_maps), and step 2
matches suspended mailboxes on purpose. Two more tables therefore keep their mail out:
``smtpd_recipient_access`` rejects a suspended address (mailbox, extra address or list) at
RCPT time, and ``transport_maps`` bounces mail that still reaches one through an alias
or list (Dovecot's LMTP would otherwise deliver it: its user lookup ignores status).

``render`` is pure (settings in, file texts out); ``write_files`` puts them on disk;
``commands`` has ``ispctl render postfix``.
"""

from __future__ import annotations

import grp
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.mapping import MARKER
from ispctl.providers.ldap.settings import DIRECTORY
from ispctl.providers.postfix.transport import host_routes
from ispctl.reconciler.contract import ConfigError, SiteFile

DEFAULT_TABLE_DIR = "/etc/postfix/ispctl"
MAIN_CF = "main.cf.ispctl"
# Every file is root's and the postfix group's only: the tables hold bind_pw, and
# proxymap(8), which opens them, runs as the postfix user.
FILE_MODE = 0o640
DIR_MODE = 0o750
# Debian's CA bundle: what ispctl's own connections trust when ISPCTL_LDAP_CA_FILE is unset.
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
# Where Dovecot's LMTP listener is expected, relative to Postfix's queue directory.
LMTP_SOCKET = "private/dovecot-lmtp"
DISABLED_REPLY = "550 5.2.1 Mailbox disabled"
DISABLED_BOUNCE = "error:5.2.1 Mailbox disabled"

_MANAGED = f"(objectClass={MARKER})"
_ACTIVE = "(ispctlAccountStatus=active)"
_NOT_ACTIVE = "(!(ispctlAccountStatus=active))"
_MAILBOX = f"(objectClass=ispctlMailUser){_MANAGED}"
_LIST = f"(objectClass=ispctlMailGroup){_MANAGED}"
# A domain that receives mail: active and with the mail service.
_MAIL_DOMAIN = f"(objectClass=ispctlDomain){_MANAGED}{_ACTIVE}(ispctlEnabledService=mail)"
_IS_ALIAS_DOMAIN = "(ispctlDomainType=alias)"
_NOT_ALIAS_DOMAIN = "(!(ispctlDomainType=alias))"


@dataclass(frozen=True)
class Table:
    """One ldap_table(5) file: ``<name>.cf``."""

    name: str
    parameter: str          # the main.cf parameter it serves
    about: str              # key -> result, for the file's header
    query_filter: str
    result_attribute: str
    result_format: str = "%s"

    @property
    def file_name(self) -> str:
        return f"{self.name}.cf"


TABLES: tuple[Table, ...] = (
    Table(
        "virtual_mailbox_domains", "virtual_mailbox_domains",
        "domain -> itself, for active domains with the mail service that hold mailboxes "
        "(primary, slave, nodns; not alias domains)",
        f"(&{_MAIL_DOMAIN}{_NOT_ALIAS_DOMAIN}(associatedDomain=%s))", "associatedDomain",
    ),
    Table(
        "virtual_alias_domains", "virtual_alias_domains",
        "domain -> itself, for active alias domains with the mail service",
        f"(&{_MAIL_DOMAIN}{_IS_ALIAS_DOMAIN}(associatedDomain=%s))", "associatedDomain",
    ),
    Table(
        "virtual_mailbox_maps", "virtual_mailbox_maps",
        "address -> itself, for active mailboxes only (Dovecot's LMTP delivers; the value "
        "only has to exist)",
        f"(&{_MAILBOX}{_ACTIVE}(mail=%s))", "mail",
    ),
    Table(
        "virtual_alias_1_forwards", "virtual_alias_maps",
        "step 1 of 6: mailbox address -> its forwarding targets, for active mailboxes "
        "(its own address among them keeps a copy)",
        f"(&{_MAILBOX}{_ACTIVE}(ispctlMailForward=*)(mail=%s))", "ispctlMailForward",
    ),
    Table(
        "virtual_alias_2_self", "virtual_alias_maps",
        "step 2 of 6: mailbox address -> itself, whatever its status, and a non-active "
        "list -> itself (the catch-all never takes an existing address; recursion ends)",
        f"(&{_MANAGED}(mail=%s)(|(objectClass=ispctlMailUser)"
        f"(&(objectClass=ispctlMailGroup){_NOT_ACTIVE})))", "mail",
    ),
    Table(
        "virtual_alias_3_extra_addresses", "virtual_alias_maps",
        "step 3 of 6: extra address -> the owning mailbox's address",
        f"(&{_MAILBOX}(ispctlMailAlias=%s))", "mail",
    ),
    Table(
        "virtual_alias_4_lists", "virtual_alias_maps",
        "step 4 of 6: alias or distribution list address -> its targets, for active lists",
        f"(&{_LIST}{_ACTIVE}(mail=%s))", "ispctlMailTarget",
    ),
    Table(
        "virtual_alias_5_alias_domains", "virtual_alias_maps",
        "step 5 of 6: user@alias-domain (or @alias-domain) -> @target-domain, which Postfix "
        "turns into user@target-domain (virtual(5))",
        f"(&{_MAIL_DOMAIN}{_IS_ALIAS_DOMAIN}(associatedDomain=%d))", "ispctlAliasDomainTarget", "@%s",
    ),
    Table(
        "virtual_alias_6_catch_all", "virtual_alias_maps",
        "step 6 of 6: any other address of a domain with a catch-all -> the catch-all target",
        f"(&{_MAIL_DOMAIN}{_NOT_ALIAS_DOMAIN}(ispctlCatchAll=*)(associatedDomain=%d))", "ispctlCatchAll",
    ),
    Table(
        "smtpd_sender_login_maps", "smtpd_sender_login_maps",
        "sender address -> the login (uid, the full address) that may use it: a mailbox's "
        "own and extra addresses, for active mailboxes with the smtp service",
        f"(&{_MAILBOX}{_ACTIVE}(ispctlEnabledService=smtp)(|(mail=%s)(ispctlMailAlias=%s)))", "uid",
    ),
    Table(
        "smtpd_recipient_access", "smtpd_recipient_restrictions",
        "recipient -> a rejection, for the addresses and extra addresses of non-active "
        "mailboxes and for non-active lists",
        f"(&{_MANAGED}{_NOT_ACTIVE}(|(&(objectClass=ispctlMailUser)(|(mail=%s)(ispctlMailAlias=%s)))"
        "(&(objectClass=ispctlMailGroup)(mail=%s))))", "mail", DISABLED_REPLY,
    ),
    Table(
        "transport_maps", "transport_maps",
        "final recipient -> a bounce, for non-active mailboxes and lists reached through "
        "an alias, a list or a catch-all",
        f"(&{_MANAGED}{_NOT_ACTIVE}(|(objectClass=ispctlMailUser)(objectClass=ispctlMailGroup))(mail=%s))",
        "mail", DISABLED_BOUNCE,
    ),
)

ALIAS_TABLES: tuple[Table, ...] = tuple(t for t in TABLES if t.parameter == "virtual_alias_maps")


def _value(value: str, what: str) -> str:
    """A value as Postfix's table parser will read it back: one line, ends not trimmed."""
    if not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        # Never echo the value: it may be a password.
        raise ConfigError(f"{what} is empty or contains a line break or control character; "
                          "it cannot be written to a Postfix table file")
    if value != value.strip():
        raise ConfigError(f"{what} starts or ends with whitespace, which Postfix strips from "
                          "table files; it cannot be used there")
    return value


def _server_host(url: str) -> str:
    # server_host is a list split at whitespace and commas; an ldapi path must be percent-encoded.
    if any(c.isspace() or c == "," for c in url):
        raise ConfigError("the LDAP URL contains whitespace or a comma; Postfix's server_host "
                          "would split it (percent-encode an ldapi:// path)")
    return _value(url, "the LDAP URL")


def _table_dir(table_dir: str) -> str:
    # main.cf splits lists at whitespace and commas and expands $names; a relative
    # ldap:name is Postfix's obsolete main.cf-parameter form, not a file.
    if not table_dir.startswith("/") or any(c.isspace() or c in ",$" for c in table_dir):
        raise ConfigError(f"the table directory must be an absolute path without whitespace, ',' "
                          f"or '$' (got {table_dir!r})")
    return table_dir.rstrip("/") or "/"


def connection_lines(site: SiteFile, ldap: LdapSettings) -> str:
    """The part every table shares: where the directory is, how to bind, where to search."""
    lines = [
        f"server_host = {_server_host(ldap.url)}",
        "version = 3",
        "bind = yes",
        f"bind_dn = {_value(ldap.bind_dn, 'the bind DN')}",
        f"bind_pw = {_value(ldap.password, 'the LDAP password')}",
    ]
    if ldap.starttls:
        lines.append("start_tls = yes")
    if ldap.starttls or ldap.url.lower().startswith("ldaps://"):
        # ispctl never connects without checking the certificate, nor does its Postfix.
        lines.append("tls_require_cert = yes")
        lines.append(f"tls_ca_cert_file = {_value(ldap.ca_file or SYSTEM_CA_FILE, 'the LDAP CA file')}")
    # search_base is %-expanded like query_filter: a literal % in the DN must be doubled.
    base = _value(site.section(DIRECTORY).base_dn, "directory.base_dn").replace("%", "%%")
    lines += [f"search_base = {base}", "scope = sub", "dereference = 0"]
    return "\n".join(lines) + "\n"


def render_table(table: Table, connection: str) -> str:
    return (
        f"# Postfix LDAP table (ldap_table(5)) for {table.parameter}, generated by\n"
        "# `ispctl render postfix`; do not edit: re-render after changing ispctl.yaml or the\n"
        "# directory connection. Test it: postmap -q ADDRESS ldap:/path/to/this/file\n"
        f"# Answers: {table.about}.\n"
        "# Holds bind_pw: keep it owned by root, group postfix, mode 0640.\n\n"
        f"{connection}\n"
        f"query_filter = {table.query_filter}\n"
        f"result_attribute = {table.result_attribute}\n"
        f"result_format = {table.result_format}\n"
    )


def cluster_tables(site: SiteFile) -> tuple[Table, ...]:
    """One transport table per mail_store host of the cluster (see ``transport``); none without."""
    return tuple(Table(
        name, "transport_maps", f"address -> {route}, for active mailboxes stored on {host} (mailHost)",
        f"(&{_MAILBOX}{_ACTIVE}(mailHost={host})(mail=%s))", "mail", route,
    ) for name, host, route in host_routes(site))


def render_main_cf(table_dir: str, routes: tuple[Table, ...] = ()) -> str:
    """The main.cf parameters that wire the tables in, with why they are set so."""
    where = _table_dir(table_dir)

    def ref(name: str) -> str:
        # proxy: lets every Postfix process share proxymap's few LDAP connections; all of
        # these parameters are in the default proxy_read_maps.
        return f"proxy:ldap:{where}/{name}.cf"

    aliases = "".join(f"    {ref(t.name)}\n" for t in ALIAS_TABLES)
    return (
        "# Postfix main.cf parameters for ispctl's directory, generated by `ispctl render postfix`.\n"
        f"# The tables are in {where}/. Merge these lines into /etc/postfix/main.cf\n"
        "# (a parameter set twice takes the later value), then `postfix reload`.\n\n"
        "# Domains whose mailboxes live here: active, mail service on, not alias domains.\n"
        f"virtual_mailbox_domains = {ref('virtual_mailbox_domains')}\n"
        "# Domains whose every address is the same local part in another (target) domain.\n"
        f"virtual_alias_domains = {ref('virtual_alias_domains')}\n"
        "# Mailboxes that may receive: active ones only.\n"
        f"virtual_mailbox_maps = {ref('virtual_mailbox_maps')}\n\n"
        "# ORDER MATTERS. Postfix asks every table below for user@domain before it asks any\n"
        "# of them for @domain, and the first answer wins (virtual(5)). Tables 5 and 6 look at\n"
        "# the domain alone, so they answer for user@domain too: everything that names one\n"
        "# address comes first.\n"
        "#   1 forwards of active mailboxes (the own address among the targets keeps a copy)\n"
        "#   2 every mailbox to itself whatever its status, and a non-active list to itself:\n"
        "#     the catch-all never takes an existing address, and recursion stops here\n"
        "#   3 extra addresses -> the owning mailbox (then expanded again: forwards apply)\n"
        "#   4 aliases and distribution lists (active) -> their targets\n"
        "#   5 alias domains: user@alias -> @target, which Postfix rewrites to user@target\n"
        "#   6 catch-all -> its target. Like any wildcard it makes the SMTP server accept\n"
        "#     every address of the domain (see \"@domain\" in virtual(5) on backscatter); so\n"
        "#     does 5 for addresses that do not exist in the target domain.\n"
        f"virtual_alias_maps =\n{aliases}\n"
        "# A suspended mailbox must not receive. Table 2 makes its address known to the SMTP\n"
        "# server (any virtual_alias_maps match does), so reject it explicitly, for every\n"
        "# client, before any permit in your own list:\n"
        "smtpd_recipient_restrictions =\n"
        f"    check_recipient_access {ref('smtpd_recipient_access')}\n"
        "# ... and bounce mail that reaches a suspended mailbox or list through an alias, a\n"
        "# list or the catch-all (Dovecot's LMTP would deliver it).\n"
        + ("# In a cluster, then each mailbox to the LMTP server of the host storing it (mailHost).\n"
           if routes else "")
        + f"transport_maps = {ref('transport_maps')}\n"
        + "".join(f"    {ref(t.name)}\n" for t in routes) + "\n"
        "# Who may send as which address: a mailbox's own and extra addresses (active, smtp on).\n"
        f"smtpd_sender_login_maps = {ref('smtpd_sender_login_maps')}\n"
        "smtpd_sender_restrictions = reject_authenticated_sender_login_mismatch\n\n"
        "# Delivery goes to Dovecot's LMTP server, which enforces the directory quota; it must\n"
        f"# listen on <queue_directory>/{LMTP_SOCKET}. Do not use virtual(8): the value\n"
        "# virtual_mailbox_maps returns is not a mailbox path.\n"
        f"virtual_transport = lmtp:unix:{LMTP_SOCKET}\n"
    )


def render(site: SiteFile, ldap: LdapSettings, table_dir: str = DEFAULT_TABLE_DIR) -> dict[str, str]:
    """File name -> content: every table, and ``main.cf.ispctl`` naming them in ``table_dir``."""
    connection = connection_lines(site, ldap)
    routes = cluster_tables(site)
    files = {t.file_name: render_table(t, connection) for t in (*TABLES, *routes)}
    files[MAIN_CF] = render_main_cf(table_dir, routes)
    return files


def _group_id(group: str | None) -> int | None:
    if group is None:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError(f"group {group!r} does not exist") from None


def write_files(files: Mapping[str, str], out_dir: Path, group: str | None = None) -> list[Path]:
    """Write the rendered files into ``out_dir`` (mode 0640, optionally group ``group``).

    Each file is created under a temporary name with its final mode, then renamed: the
    password is never readable by others, and Postfix never reads half a file.
    """
    gid = _group_id(group)
    out_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in sorted(files.items()):
        target = out_dir / name
        tmp = out_dir / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                if gid is not None:
                    os.fchown(handle.fileno(), -1, gid)
                os.fchmod(handle.fileno(), FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written.append(target)
    return written
