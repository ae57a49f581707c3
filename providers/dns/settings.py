"""The DNS parts of the desired-state files, as pydantic models.

* ``DnsSettings`` -- the ``dns:`` section of ``ispctl.yaml``: SOA and NS defaults, the
  default TTL, what derived records point at (mail, web), DKIM key settings and the
  ``ignore`` rules that give record sets to other tools (see README "DNS").
* ``DomainDns`` -- the ``dns:`` section of a domain file: TTL, SOA/NS overrides and
  ``records``.

Like the estate's models these only check what one file can know. Record values are
kept close to what was written (``RecordSet.values`` holds raw items): turning them into
rdata needs the zone's name, which only ``validate`` has, and checking them there lets
every problem name the exact list item it is about.

``DNS`` and ``DOMAIN_DNS`` are the two sections the DNS service adds to the files.
"""

# (No postponed annotations here: pydantic builds these models from annotations as objects; as
# strings, every field's was compiled and evaluated at each start: ~1,000 of them in a plan.)

import fnmatch
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from ispctl.reconciler.contract import Duration, InvalidName, Section, Strict, normalise_domain


def absolute_host(value: str) -> str:
    """A fully qualified host name in ASCII, lower case, with its trailing dot.

    Site settings have no zone to be relative to, so the trailing dot is optional there.
    """
    try:
        return normalise_domain(value).ascii + "."
    except InvalidName as exc:
        raise ValueError(str(exc)) from None


HostName = Annotated[str, AfterValidator(absolute_host)]


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in text)


def _ip(version: int) -> Any:
    def check(value: str) -> str:
        # ipaddress takes an IPv6 zone id ("fe80::1%eth0"), which no DNS record can hold.
        if "%" in value or not re.fullmatch(r"[0-9A-Fa-f:.]+", value):
            raise ValueError(f"{value!r} is not a plain IP address")
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        if address.version != version:
            other = "AAAA (aaaa)" if address.version == 6 else "A (a)"
            raise ValueError(f"{value} is an IPv{address.version} address; list it under {other}")
        return str(address)
    return check


IPv4 = Annotated[str, AfterValidator(_ip(4))]
IPv6 = Annotated[str, AfterValidator(_ip(6))]


# --- site settings ------------------------------------------------------------------

class SoaSettings(Strict):
    mname: HostName | None = Field(None, description="primary master; default: the first name server")
    rname: str | None = Field(None, description="responsible mailbox, hostmaster@isp.example or "
                                                "hostmaster.isp.example.; default hostmaster.<zone>.")
    refresh: Duration = 3 * 3600
    retry: Duration = 30 * 60
    expire: Duration = 7 * 86400
    minimum: Duration = 86400


def _mx_short(value: object) -> object:
    """``"10 mx1.isp.example."`` is shorthand for ``{priority: 10, host: mx1.isp.example.}``."""
    if isinstance(value, str):
        parts = value.split()
        if len(parts) == 2 and re.fullmatch(r"[0-9]{1,5}", parts[0]):  # ASCII digits: "²".isdigit() is true
            return {"priority": int(parts[0]), "host": parts[1]}
        raise ValueError(f"{value!r} is not an MX value: write '10 mx1.isp.example.' or {{priority: 10, host: ...}}")
    return value


class MxHost(Strict):
    host: HostName
    priority: Annotated[int, Field(ge=0, le=65535)] = 10


class MtaSts(Strict):
    """MTA-STS (RFC 8461) for domains with mail and web: the policy at mta-sts.<domain>, the
    _mta-sts TXT record and, with ``report``, TLS-RPT (RFC 8460) at _smtp._tls."""

    enabled: bool = True
    mode: Literal["testing", "enforce", "none"] = "testing"
    max_age: Annotated[Duration, Field(ge=86400, le=31557600)] = Field(
        604800, description="how long senders cache the policy (RFC 8461: at most a year; here at least a day)")
    report: str | None = Field(None, description="TLS-RPT rua, e.g. mailto:tls-reports@isp.example")

    @field_validator("report")
    @classmethod
    def _rua(cls, value: str | None) -> str | None:
        """RFC 8460 3: one or more mailto: or https: URIs, comma-separated; nothing that would end
        the record's field (';') or break its text."""
        if value is None:
            return None
        for uri in value.split(","):
            if not re.fullmatch(r"(?:mailto:[^@\s;,]+@[^@\s;,]+|https://[^\s;,]+)", uri.strip()):
                raise ValueError(f"{uri.strip()!r} is not a mailto: or https:// address for TLS reports")
        return value


class DnsMail(Strict):
    """Where the records derived for domains with the mail service point."""

    mx: tuple[Annotated[MxHost, BeforeValidator(_mx_short)], ...] = ()
    spf: str | None = Field(None, description="TXT at the apex, e.g. 'v=spf1 mx -all'")
    dmarc: str | None = Field(None, description="TXT at _dmarc, e.g. 'v=DMARC1; p=quarantine'")
    imap: HostName | None = Field(None, description="IMAPS server: SRV _imaps._tcp (RFC 6186)")
    submission: HostName | None = Field(None, description="submission server: SRV _submission._tcp (RFC 6186)")
    pop3: HostName | None = Field(None, description="POP3S server: SRV _pop3s._tcp (RFC 6186); none: no POP3")
    autoconfig: bool = Field(True, description="Thunderbird autoconfig at autoconfig.<domain> for domains with "
                                               "mail and web (README \"Mail client autoconfiguration\")")
    mta_sts: MtaSts = MtaSts()


class DnsWeb(Strict):
    """Addresses the apex and www of domains with the web service get."""

    a: tuple[IPv4, ...] = ()
    aaaa: tuple[IPv6, ...] = ()


class DkimSettings(Strict):
    selector: Annotated[str, Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")] = "ispctl1"
    key_dir: str = Field("/etc/ispctl/dkim", description="key store the mail signer reads; ISPCTL_DKIM_DIR overrides "
                                                         "it")
    bits: Literal[1024, 2048, 3072, 4096] = 2048
    grace_days: int = Field(7, ge=0, le=365, description="days after a rotation's new key is made before "
                                                          "'ispctl dkim retire' may remove the old one's record")

    @field_validator("key_dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or "/../" in value + "/" or _has_control(value):
            raise ValueError("must be an absolute path without '..' or control characters")
        return value.rstrip("/") or "/"


RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS", "PTR")


class IgnoreRule(Strict):
    """Record sets another tool owns: ispctl never writes, changes or deletes them."""

    name: str = Field(min_length=1, description="glob on the relative owner name, e.g. _acme-challenge*")
    type: str | None = Field(None, description="record type; unset means every type")

    @field_validator("name")
    @classmethod
    def _lower(cls, value: str) -> str:
        if _has_control(value):
            raise ValueError(f"{value!r} contains a control character")
        return value.strip(" ").lower().rstrip(".") or "@"

    @field_validator("type")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is None:
            return None
        upper = value.strip().upper()
        if upper not in RECORD_TYPES:
            raise ValueError(f"unknown record type {value!r}; one of {', '.join(RECORD_TYPES)}")
        return upper

    def matches(self, owner: str, rdtype: str) -> bool:
        return fnmatch.fnmatchcase(owner, self.name) and self.type in (None, rdtype)


class DnsSettings(Strict):
    """Site-wide DNS settings. DNS is managed only when ispctl.yaml has a ``dns:`` section."""

    soa: SoaSettings = SoaSettings()
    ns: tuple[HostName, ...] = ()
    default_ttl: Duration = 3600
    mail: DnsMail = DnsMail()
    web: DnsWeb = DnsWeb()
    dkim: DkimSettings | None = Field(None, description="set to publish DKIM keys (made by 'ispctl dkim init')")
    ignore: tuple[IgnoreRule, ...] = ()


# --- a domain's dns: section ---------------------------------------------------------

def _record_short_form(value: object) -> object:
    """Short forms of a record set, turned into the full ``{ttl, values}`` form.

    ``A: 192.0.2.1`` and ``A: [..]`` are values; ``MX: {priority, host}`` is one value;
    ``TXT: null`` or ``TXT: []`` is an empty set (it suppresses a derived record).
    """
    if value is None:
        return {"values": []}
    if isinstance(value, dict):
        if "host" in value or "priority" in value:
            return {"values": [value]}
        return value
    if isinstance(value, list):
        return {"values": value}
    return {"values": [value]}


class RecordSet(Strict):
    ttl: Duration | None = None
    values: list[Any] = Field(default_factory=list)


RecordValue = Annotated[RecordSet, BeforeValidator(_record_short_form)]


class DomainSoa(Strict):
    """Per-zone overrides of the site's SOA settings (names may be relative to the zone)."""

    mname: str | None = None
    rname: str | None = None
    refresh: Duration | None = None
    retry: Duration | None = None
    expire: Duration | None = None
    minimum: Duration | None = None


class DomainDns(Strict):
    ttl: Duration | None = Field(None, description="default TTL of this zone; default: site dns.default_ttl")
    soa: DomainSoa | None = None
    ns: list[str] | None = Field(None, description="apex name servers; default: site dns.ns")
    records: dict[str, dict[str, RecordValue]] = Field(default_factory=dict)


DNS = Section("site", "dns", DnsSettings, default=DnsSettings(),
              description="DNS is managed when ispctl.yaml has this section (see README \"DNS\")")
DOMAIN_DNS = Section("domain", "dns", DomainDns, description="TTL, SOA/NS overrides and records of the zone")
