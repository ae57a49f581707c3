"""Mail client autoconfiguration and MTA-STS: what a domain with both mail and web gets.

Pure functions shared by the DNS service (the ``_mta-sts`` and ``_smtp._tls`` TXT records and
the address records of ``autoconfig`` and ``mta-sts``) and the web service (the sites that serve
the XML and the policy, ``ispctl.providers.web.mailconfig``), so both derive the same thing from
the same settings (``dns.mail``: the MX, IMAP, POP3 and submission hosts the SRV records use).

* ``autoconfig.<domain>``: Thunderbird's autoconfig file, when ``dns.mail.autoconfig`` is on
  and at least one of ``imap``/``pop3``/``submission`` is set;
* ``mta-sts.<domain>``: the RFC 8461 policy (mode, the MX hosts, max_age), when
  ``dns.mail.mta_sts.enabled`` and the site has MX hosts. The TXT record's id is a digest of the
  policy text, so it changes exactly when the policy does (RFC 8461 3.1: senders refetch then).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ispctl.providers.dns.names import BadValue, owner_name, record_text
from ispctl.providers.dns.settings import DOMAIN_DNS, DnsMail
from ispctl.reconciler.contract import NDomain

AUTOCONFIG = "autoconfig"
MTA_STS = "mta-sts"
POLICY_PATH = "/.well-known/mta-sts.txt"


def plain(host: str) -> str:
    """A host name as a client or the policy writes it: no trailing dot."""
    return host.rstrip(".")


def eligible(domain: NDomain) -> bool:
    """Whether the domain gets these: a primary domain (an alias domain's mail is its target's)
    with both the mail and the web service."""
    return domain.type == "primary" and {"mail", "web"} <= set(domain.services)


def domain_mx(domain: NDomain, mail: DnsMail) -> tuple[str, ...]:
    """The domain's MX as ``"<priority> <host>."`` texts: its file's explicit ``@`` MX record
    set when it writes one (the policy must name the hosts the zone serves), else the site's."""
    spec = domain.spec.get_section(DOMAIN_DNS)
    for owner, types in (spec.records if spec is not None else {}).items():
        try:
            if owner_name(owner, domain.name) != "@":
                continue
        except BadValue:
            continue  # DNS validation reports it
        for rdtype, rrset in types.items():
            if rdtype.upper() == "MX":
                try:
                    return tuple(record_text("MX", value, domain.name) for value in rrset.values)
                except BadValue:
                    return ()  # reported by DNS validation; no policy from a broken MX
    return tuple(f"{m.priority} {m.host}" for m in mail.mx)


def has_autoconfig(mail: DnsMail) -> bool:
    return mail.autoconfig and any((mail.imap, mail.pop3, mail.submission))


def policy(mail: DnsMail, mx: Sequence[str]) -> str | None:
    """The MTA-STS policy file's text (CRLF lines, RFC 8461 3.2) for the MX texts ``mx``; None
    when off or the domain receives no mail (no MX, or RFC 7505's null MX ``0 .``)."""
    sts = mail.mta_sts
    hosts = sorted({plain(text.split()[-1]).lower() for text in mx} - {""})
    if not sts.enabled or not hosts:
        return None
    lines = ["version: STSv1", f"mode: {sts.mode}"]
    lines += [f"mx: {host}" for host in hosts]
    lines.append(f"max_age: {sts.max_age}")
    return "".join(line + "\r\n" for line in lines)


def policy_id(text: str) -> str:
    """The TXT record's id: 1-32 alphanumerics (RFC 8461 3.1), here a digest of the policy."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def hosts(mail: DnsMail, mx: Sequence[str]) -> tuple[str, ...]:
    """The labels (relative to the domain) whose sites are derived, given the settings and MX."""
    found = [AUTOCONFIG] if has_autoconfig(mail) else []
    if policy(mail, mx) is not None:
        found.append(MTA_STS)
    return tuple(found)


def txt_records(mail: DnsMail, mx: Sequence[str]) -> dict[str, str]:
    """Owner (relative) -> TXT value: ``_mta-sts`` with the policy's id, ``_smtp._tls`` when a
    TLS-RPT address is set."""
    text = policy(mail, mx)
    if text is None:
        return {}
    out = {"_mta-sts": f"v=STSv1; id={policy_id(text)}"}
    if mail.mta_sts.report:
        out["_smtp._tls"] = f"v=TLSRPTv1; rua={mail.mta_sts.report}"
    return out
