"""Mail client autoconfiguration and the MTA-STS policy, served by derived sites.

For each primary domain with both the mail and the web service (``dns.mailconfig`` decides what
from the ``dns.mail`` settings, the same ones the MX and RFC 6186 SRV records use):

* site ``autoconfig.<domain>`` serves Thunderbird's ``/mail/config-v1.1.xml`` (IMAP 993, POP3 995
  over SSL, submission 587 with STARTTLS, username ``%EMAILADDRESS%``), and the domain's own site
  serves the same file at ``/.well-known/autoconfig/mail/config-v1.1.xml``;
* site ``mta-sts.<domain>`` serves ``/.well-known/mta-sts.txt`` (RFC 8461 needs HTTPS: with
  ``web.https: auto`` its certificate comes from ACME like any site's).

They are ordinary ``site`` resources of the domain's tenant (its web uid, home and logs) whose
content is ``generated`` (files ispctl writes beside the vhosts, never in a docroot: ``generated``);
their address records follow like every site's. A site the customer declares (or an alias) at one
of these names is an error naming its file and line: turn the derived one off
(``dns.mail.autoconfig: false``, ``dns.mail.mta_sts.enabled: false``) to host it yourself.
"""

from __future__ import annotations

from ispctl.providers.dns import mailconfig as derive
from ispctl.providers.dns.settings import DNS, DnsMail, DnsSettings
from ispctl.providers.web.generated import ATTR
from ispctl.providers.web.settings import WEB, SiteSpec, WebSettings
from ispctl.providers.web.validate import Site, SiteSet
from ispctl.reconciler.contract import Catalog, Problem

XML_PATH = "/mail/config-v1.1.xml"
WELL_KNOWN_XML = "/.well-known/autoconfig/mail/config-v1.1.xml"


def escape(text: str) -> str:
    """``xml.sax.saxutils.escape``: &, > and < as entities. Ours, because compiling the web service
    (every plan) made the autoconfig file of every domain, and xml.sax was ~2 ms of importing
    (issue 11; tests/test_web_mailconfig.py holds the two equal)."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def quoteattr(text: str) -> str:
    """``xml.sax.saxutils.quoteattr``: escaped, newlines and tabs as character references, in the
    quotes the value does not hold (double ones as &quot; when it holds both)."""
    data = escape(text).replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in data:
        return f'"{data}"'
    if "'" not in data:
        return f"'{data}'"
    quoted = data.replace('"', "&quot;")
    return f'"{quoted}"'


def autoconfig_xml(domain: str, mail: DnsMail) -> str:
    """Thunderbird's clientConfig v1.1 for ``domain`` from the SRV records' hosts."""
    servers: list[str] = []

    def server(tag: str, kind: str, host: str, port: int, socket: str) -> None:
        servers.append(f"    <{tag} type={quoteattr(kind)}>\n"
                       f"      <hostname>{escape(derive.plain(host))}</hostname>\n"
                       f"      <port>{port}</port>\n"
                       f"      <socketType>{socket}</socketType>\n"
                       "      <authentication>password-cleartext</authentication>\n"
                       "      <username>%EMAILADDRESS%</username>\n"
                       f"    </{tag}>\n")

    if mail.imap:
        server("incomingServer", "imap", mail.imap, 993, "SSL")
    if mail.pop3:
        server("incomingServer", "pop3", mail.pop3, 995, "SSL")
    if mail.submission:
        server("outgoingServer", "smtp", mail.submission, 587, "STARTTLS")
    name = escape(domain)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<clientConfig version="1.1">\n'
            f"  <emailProvider id={quoteattr(domain)}>\n"
            f"    <domain>{name}</domain>\n"
            f"    <displayName>{name}</displayName>\n"
            f"    <displayShortName>{name}</displayShortName>\n"
            + "".join(servers)
            + "  </emailProvider>\n</clientConfig>\n")


def derived_sites(catalog: Catalog, sites: SiteSet) -> tuple[dict[str, tuple[str, ...]], list[Problem]]:
    """Adds the derived sites to ``sites`` (and the well-known file to each domain's own site);
    returns host -> its ``generated`` entries for every site that has some, and the conflicts."""
    settings: DnsSettings = catalog.estate.site.section(DNS)
    web: WebSettings = catalog.estate.site.section(WEB)
    mail = settings.mail
    claimed = {name: site for site in sites.sites.values() for name in (site.host, *site.aliases)}
    content: dict[str, tuple[str, ...]] = {}
    problems: list[Problem] = []
    for domain in sorted(catalog.domains.values(), key=lambda d: d.name):
        if not derive.eligible(domain) or domain.tenant not in sites.uids:
            continue
        mx = derive.domain_mx(domain, mail)
        labels, policy = derive.hosts(mail, mx), derive.policy(mail, mx)
        xml = autoconfig_xml(domain.name, mail)
        wanted = {}
        if derive.AUTOCONFIG in labels:
            wanted[f"{derive.AUTOCONFIG}.{domain.name}"] = (f"{XML_PATH}\n{xml}",)
        if policy is not None:
            wanted[f"{derive.MTA_STS}.{domain.name}"] = (f"{derive.POLICY_PATH}\n{policy}",)
        # The site answering the apex (as its host or an alias), when it is this domain's: a site of
        # another domain answering it as an alias would have to serve two domains' files at one path.
        own = claimed.get(domain.name)
        own = own if own is not None and own.domain == domain.name else None
        if own is not None and derive.AUTOCONFIG in labels:
            content[own.host] = (f"{WELL_KNOWN_XML}\n{xml}",)
        for host, files in wanted.items():
            taken = claimed.get(host)
            if taken is not None:
                which = "autoconfig: false" if host.startswith(derive.AUTOCONFIG) else "mta_sts: {enabled: false}"
                problems.append(Problem(taken.location, "web.sites", (
                    f"{host} is derived for {domain.name}'s mail (client autoconfiguration / MTA-STS) and cannot "
                    f"also be a site or alias here; to serve it yourself set dns.mail.{which} in ispctl.yaml")))
                continue
            template = own or next((s for s in sites.sites.values() if s.domain == domain.name), None)
            location = template.location if template is not None else domain.doc.location(("domain",))
            status = template.status if template is not None else "active"
            sites.sites[host] = Site(host, domain.name, domain.tenant, SiteSpec(), location,
                                     https=web.https, status=status)
            content[host] = files
    return content, problems


__all__ = ["ATTR", "XML_PATH", "WELL_KNOWN_XML", "autoconfig_xml", "derived_sites"]
