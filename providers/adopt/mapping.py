"""How a Postfix-LDAP directory spells mail accounts: the mapping ``ispctl import ldap`` reads by.

The defaults are iRedMail's convention (``mailDomain``, ``mailUser``, ``mailAlias``,
``mailList``; ``accountStatus`` active/disabled; per-service flags in ``enabledService``;
``mailQuota`` in bytes; ``shadowAddress``; ``mailForwardingAddress``, which keeps a copy when
it lists the account's own address). A site whose directory deviates writes only what
differs into a YAML file (``--mapping``): attribute and class names, status values, the
quota units, which ``enabledService`` values grant IMAP, POP3 and SMTP. ``ispctl import ldap
--print-mapping`` prints the whole default to start from.

A bad mapping file is reported with its file, line and field, every problem at once.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import io
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from ispctl.reconciler.contract import ConfigError, Strict

Unit = Literal["B", "KiB", "MiB", "GiB", "kB", "MB", "GB"]
UNIT_BYTES: dict[str, int] = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1000**2,
                              "GB": 1000**3}
IspctlStatus = Literal["active", "suspended"]


def _iredmail_status() -> dict[str, IspctlStatus]:
    return {"active": "active", "disabled": "suspended"}


class DomainMap(Strict):
    object_class: str = "mailDomain"
    name: str = "domainName"
    status: str = "accountStatus"
    alias_domains: str = Field("domainAliasName", description="names of alias domains, on the domain entry")
    default_quota: str = "domainDefaultUserQuota"
    default_quota_unit: Unit = "MiB"
    backup_mx: str = Field("domainBackupMX", description="yes: a backup MX relay, not a hosted domain")
    transport: str = Field("mtaTransport", description="Postfix transport; other than local_transports is reported")
    local_transports: list[str] = ["dovecot", "lmtp:unix:private/dovecot-lmtp"]
    not_modelled: list[str] = [
        "domainSenderBccAddress", "domainRecipientBccAddress", "disclaimer", "domainWhitelistIP",
        "domainWhitelistSender", "domainBlacklistIP", "domainBlacklistSender", "senderRelayHost", "domainAdmin",
        "domainMaxUserNumber", "domainMaxAliasNumber", "domainMaxListNumber", "domainMaxQuotaSize",
        "domainPendingAliasName", "expiredDate",
    ]


class MailboxMap(Strict):
    object_class: str = "mailUser"
    address: str = "mail"
    name: str = "cn"
    password: str = "userPassword"
    quota: str = "mailQuota"
    quota_unit: Unit = "B"
    status: str = "accountStatus"
    aliases: str = Field("shadowAddress", description="more addresses of the mailbox")
    forward: str = "mailForwardingAddress"
    services: str = "enabledService"
    # The enabledService value without which the forwards are not in effect (None: always are).
    forward_service: str | None = "forward"
    # ... and without which the account gets no mail and cannot log in: imported as suspended.
    mail_service: str | None = "mail"
    home: str = Field("homeDirectory", description="where the account's mail is (its home, holding Maildir/)")
    storage_base: str = Field("storageBaseDirectory", description="older layout: home = storage_base/message_store")
    message_store: str = "mailMessageStore"
    mailbox_format: str = Field("mailboxFormat", description="anything but maildir is reported, mail not adopted")
    mailbox_folder: str = Field("mailboxFolder", description="the maildir's folder below the home (Maildir)")
    groups: str = Field("memberOfGroup", description="mailing lists (by address) the account is a member of")
    not_modelled: list[str] = [
        "userRecipientBccAddress", "userSenderBccAddress", "allowNets", "senderRelayHost", "expiredDate",
        "mailQuotaMessageLimit", "maxMessageSize", "mailWhitelistRecipient", "mailBlacklistRecipient",
        "disabledService", "mtaTransport", "userManager",
    ]


class AliasMap(Strict):
    object_class: str = "mailAlias"
    address: str = "mail"
    to: str = "mailForwardingAddress"
    status: str = "accountStatus"
    description: str = "cn"


class ListMap(Strict):
    object_class: str = "mailList"
    address: str = "mail"
    status: str = "accountStatus"
    description: str = "cn"
    # Members outside the directory's mailboxes: entries of this class naming the list in groups.
    external_class: str = "mailExternalUser"
    external_address: str = "mail"
    not_modelled: list[str] = ["accessPolicy", "listAllowedUser", "listModerator", "listOwner", "mailingListID"]


class ServiceMap(Strict):
    """enabledService values that grant each mailbox service; any one of them does."""

    imap: list[str] = ["imap", "imapsecured"]
    pop3: list[str] = ["pop3", "pop3secured"]
    smtp: list[str] = ["smtp", "smtpsecured"]


class Mapping(Strict):
    tenant: str = Field("imported", description="the reseller (tenant folder) every imported domain goes under")
    tenant_name: str = "Imported from LDAP"
    clients: Literal["none", "per_domain"] = Field(
        "none", description="per_domain: each domain becomes a client of the reseller, named after the domain")
    status: dict[str, IspctlStatus] = Field(
        default_factory=_iredmail_status,
        description="the directory's status values (any case) -> ispctl's; another value is an error")
    services: ServiceMap = ServiceMap()
    domains: DomainMap = DomainMap()
    mailboxes: MailboxMap = MailboxMap()
    aliases: AliasMap = AliasMap()
    lists: ListMap = ListMap()
    # Classes of entries reported as not imported (admins of the old panel, ...), with their words.
    not_modelled_classes: dict[str, str] = Field(default_factory=lambda: {
        "mailAdmin": "a mail administrator of the old panel (ispctl's accounts are declared in ispctl.yaml)",
    })

    def status_of(self, value: str | None) -> IspctlStatus | None:
        """ispctl's status for a directory value; None when the mapping has no such value."""
        if value is None:
            return "active"
        return {k.lower(): v for k, v in self.status.items()}.get(value.strip().lower())


def _line_of(doc: Any, loc: tuple[int | str, ...]) -> int:
    """The line (1-based) of the deepest key of ``loc`` found in the loaded document."""
    line = 0
    node = doc
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def load_mapping(path: Path | None) -> Mapping:
    """The default mapping, with what ``path`` overrides; ConfigError naming file:line: field."""
    if path is None:
        return Mapping()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the mapping {path}: {reason}") from None
    try:
        doc = YAML().load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if doc is None:
        return Mapping()
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}:1: the mapping must be a YAML mapping of the fields to change")
    try:
        return Mapping.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            field_path = ".".join(str(p) for p in loc)
            problems.append(f"{path}:{_line_of(doc, loc) or 1}: {field_path}: {error['msg']}")
        raise ConfigError(f"{len(problems)} problem(s) in the mapping:\n  " + "\n  ".join(problems)) from None


def default_mapping_yaml() -> str:
    """The default mapping as YAML, to copy and adjust."""
    yaml = YAML()
    yaml.default_flow_style = False
    buffer = io.StringIO()
    buffer.write("# ispctl import ldap: the directory's convention (defaults: iRedMail). Keep only what differs.\n")
    yaml.dump(Mapping().model_dump(), buffer)
    return buffer.getvalue()
