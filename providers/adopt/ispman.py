"""``ispctl import ispman``: an ISPMan 1.x directory as an ispctl estate, and the report of the rest.

Entries are found by object class, never by DN (ISPMan's domains are siblings under the base;
ownership is the ``ispmanClientId``/``ispmanResellerId`` attributes). Resellers and clients
become tenant folders, every domain one file (replica domains as alias domains), users
mailboxes, mail groups aliases, ``dNSZone`` leaves the zones' records, virtual hosts sites.
Every value converted is commented at its line and reported; whatever ispctl does not model
(databases, extra Apache configuration, address books, queued agent tasks, ...) is reported
with its DN, never dropped silently; weak password hashes are listed for rotation and kept
out of git (see ``ispman_values``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ruamel.yaml.comments import CommentedMap

from ispctl.providers.adopt.ispman_dns import domain_dns, read_zones, site_dns
from ispctl.providers.adopt.ispman_mail import read_groups, read_mailboxes, read_radius_profiles
from ispctl.providers.adopt.ispman_sites import read_sites
from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, ImportReport
from ispctl.providers.adopt.source import SourceEntry
from ispctl.providers.adopt.writer import ImportedDomain, ImportedEstate, ImportedTenant, tenant_slug

UNASSIGNED = "ispman-unassigned"
# Kinds the estate has no place for yet, by object class: reported with their DNs.
NOT_MODELLED = {
    "ispmandatabasedata": "database (ispctl does not manage databases)",
    "ispmanvirtualhostuser": "web basic-auth user (passwords of ISPMan's web users are not carried)",
    "ispmanvirtualhostacl": "web access rule (ispmanVhostAcl*)",
    "ispmanprocesses": "queued ISPMan agent task, never run",
    "ispmanwebmailhost": "webmail branding",
    "ispmansysadmin": "ISPMan administrator (ispctl's own accounts are directory.accounts)",
    "ispmanhost": "host of ISPMan's placement (webHost/fileHost/mailHost)",
    "ispmanhostgroup": "host group of ISPMan's placement",
    "ispmanconfvar": "ISPMan setting (ou=conf)",
}
# Structure only: containers, counters, the domain's posixGroup, DNS branch nodes.
STRUCTURE = frozenset({"organizationalunit", "organization", "ispmanbranch", "ispmancounters", "posixgroup",
                       "ispmanconfmodule", "ispmandomainservice", "dcobject", "top"})
USER_CLASSES = frozenset({"ispmandomainuser", "ispmanmailuser", "ispmanuser"})


@dataclass
class _Sorted:
    resellers: list[SourceEntry] = field(default_factory=list)
    clients: list[SourceEntry] = field(default_factory=list)
    domains: list[SourceEntry] = field(default_factory=list)
    users: list[SourceEntry] = field(default_factory=list)
    groups: list[SourceEntry] = field(default_factory=list)
    dns: list[SourceEntry] = field(default_factory=list)
    vhosts: list[SourceEntry] = field(default_factory=list)
    radius_profiles: list[SourceEntry] = field(default_factory=list)


def _sort(entries: Iterable[SourceEntry], report: ImportReport) -> _Sorted:
    found = _Sorted()
    for entry in entries:
        classes = entry.classes
        dn_lower = entry.dn.lower()
        if "ispmanreseller" in classes:
            found.resellers.append(entry)
        elif "ispmanclient" in classes:
            found.clients.append(entry)
        elif "ispmandomain" in classes and entry.dn.lower().startswith("ispmandomain="):
            found.domains.append(entry)
        elif classes & USER_CLASSES:
            found.users.append(entry)
        elif "ispmanmailgroup" in classes:
            found.groups.append(entry)
        elif "dnszone" in classes:
            found.dns.append(entry)
        elif classes & {"ispmanvirtualhost", "ispmanvirtualhostalias", "ispmanvirtualhostredirection"}:
            found.vhosts.append(entry)
        elif "radiusprofile" in classes:
            found.radius_profiles.append(entry)
        elif any(c in NOT_MODELLED for c in classes):
            report.add(NOT_IMPORTED, entry.dn, next(NOT_MODELLED[c] for c in sorted(classes) if c in NOT_MODELLED))
        elif ",ou=pabs," in dn_lower.replace(" ", ""):
            report.add(NOT_IMPORTED, entry.dn, "address book (ou=pabs)")
        elif classes <= STRUCTURE:
            continue
        else:
            report.add(NOT_IMPORTED, entry.dn, "entry of a kind the import does not know: "
                       + ", ".join(sorted(entry.all("objectClass"))))
    return found


def _tenants(found: _Sorted, estate: ImportedEstate, report: ImportReport) -> tuple[dict[str, str], dict[str, str]]:
    """Reseller and client folders; returns ispman id -> tenant name for each."""
    resellers: dict[str, str] = {}
    clients: dict[str, str] = {}
    for entry in sorted(found.resellers, key=lambda e: e.get("ispmanResellerId") or ""):
        name = _unique(tenant_slug(entry.get("ispmanResellerName") or entry.get("uid") or "reseller"), estate)
        resellers[entry.get("ispmanResellerId") or entry.dn] = name
        estate.tenants[name] = ImportedTenant(None, _tenant_data(entry, None, report))
        report.count("resellers")
        if (entry.get("ispmanResellerMaxClients") or "-1") not in ("-1", ""):
            report.add(NOT_IMPORTED, entry.dn, "ispmanResellerMaxClients (ispctl limits domains and mailboxes, not "
                                               "clients)")
    for entry in sorted(found.clients, key=lambda e: e.get("ispmanClientId") or ""):
        parent = resellers.get(entry.get("ispmanResellerId") or "")
        if parent is None:
            report.add(NOT_IMPORTED, entry.dn, "client of a reseller the directory does not have")
            continue
        name = _unique(tenant_slug(entry.get("ispmanClientName") or entry.get("uid") or "client"), estate)
        clients[entry.get("ispmanClientId") or entry.dn] = name
        estate.tenants[name] = ImportedTenant(parent, _tenant_data(entry, entry.get("ispmanClientMaxDomains"),
                                                                   report))
        report.count("clients")
    return resellers, clients


def _unique(name: str, estate: ImportedEstate) -> str:
    candidate, n = name, 2
    while candidate in estate.tenants:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _tenant_data(entry: SourceEntry, max_domains: str | None, report: ImportReport) -> CommentedMap:
    data = CommentedMap()
    data["name"] = entry.get("cn") or entry.get("ispmanResellerName") or entry.get("ispmanClientName") or "?"
    if entry.get("mail"):
        data["contact"] = entry.get("mail")
    if (entry.get("ispmanStatus") or "active").lower() == "suspended":
        data["status"] = "suspended"
    if max_domains is not None and max_domains.strip().isdigit():
        data["limits"] = CommentedMap([("max_domains", int(max_domains))])
    if entry.get("userPassword"):
        report.add(NOT_IMPORTED, entry.dn, "control-panel login of a reseller or client (ispctl has none)")
    return data


def _owner(entry: SourceEntry, resellers: dict[str, str], clients: dict[str, str], estate: ImportedEstate,
           report: ImportReport) -> str:
    client = clients.get(entry.get("ispmanClientId") or "")
    if client is not None:
        return client
    reseller = resellers.get(entry.get("ispmanResellerId") or "")
    if reseller is not None:
        return reseller
    if UNASSIGNED not in estate.tenants:
        estate.tenants[UNASSIGNED] = ImportedTenant(None, CommentedMap([("name", "Domains without a reseller in "
                                                                                 "ISPMan")]))
    report.add(CONVERTED, entry.dn, f"domain without a reseller or client: put under tenant {UNASSIGNED}")
    return UNASSIGNED


def build_estate(entries: Iterable[SourceEntry], source: str,
                 base_dn: str | None = None) -> tuple[ImportedEstate, ImportReport]:
    """The estate and its report from every entry of an ISPMan directory."""
    report = ImportReport(source)
    estate = ImportedEstate()
    found = _sort(entries, report)
    if found.users and not any(user.get("userPassword") for user in found.users):
        # An account that may not read hashes gets entries without them: say so once, rather than
        # reporting every user as having no password.
        report.add(NOT_IMPORTED, found.users[0].dn.split(",ou=users,")[-1], "no user entry has a userPassword: "
                   "the reading account may not read password hashes; no password was imported")
    resellers, clients = _tenants(found, estate, report)
    problems: list[tuple[str, str]] = []
    zones = read_zones(found.dns, problems)
    for dn, detail in problems:
        report.add(NOT_IMPORTED, dn, detail)
    site = CommentedMap()
    if base_dn:
        site["directory"] = CommentedMap([("base_dn", base_dn)])
    dns = site_dns(zones.values())
    site["dns"] = dns
    profiles = read_radius_profiles(found.radius_profiles, report)
    users_by_domain: dict[str, list[SourceEntry]] = {}
    for user in found.users:
        users_by_domain.setdefault((user.get("ispmanDomain") or "").lower(), []).append(user)
    groups_by_domain: dict[str, list[SourceEntry]] = {}
    for group in found.groups:
        groups_by_domain.setdefault((group.get("ispmanDomain") or "").lower(), []).append(group)
    sites, ftp_logins = read_sites(found.vhosts, report)
    for entry in sorted(found.domains, key=lambda e: (e.get("ispmanDomain") or "").lower()):
        name = (entry.get("ispmanDomain") or "").lower()
        tenant = _owner(entry, resellers, clients, estate, report)
        data = _domain(entry, name, report)
        mailboxes, uses = read_mailboxes(users_by_domain.pop(name, []), name, report)
        aliases = read_groups(groups_by_domain.pop(name, []), name, mailboxes, report)
        services = _services(entry, data, uses, bool(mailboxes or aliases), name in sites)
        logins = ftp_logins.pop(name, None)
        if logins and services is not None and "web" in services and "ftp" not in services:
            services.append("ftp")
        if services is not None:
            data["services"] = services
        if mailboxes:
            data["mailboxes"] = mailboxes
        if aliases:
            data["aliases"] = aliases
        if name in zones and data.get("type", "primary") == "primary":
            own = domain_dns(zones.pop(name), dns)
            if own:
                data["dns"] = own
        if name in sites and "web" in (services or []):
            data["web"] = CommentedMap([("sites", sites.pop(name))])
            if logins:
                data["ftp"] = CommentedMap([("sites", logins)])
        estate.domains[name] = ImportedDomain(tenant, data)
        report.count("domains")
    for name, leftover in sorted(users_by_domain.items()):
        for user in leftover:
            report.add(NOT_IMPORTED, user.dn, f"user of a domain the directory does not have ({name or 'none'})")
    for zone in sorted(zones):
        report.add(NOT_IMPORTED, zones[zone].dns[0], f"DNS zone {zone} of no primary domain ({len(zones[zone].dns)} "
                                                     "record entries)")
    if profiles:
        site["radius"] = CommentedMap([("profiles", profiles)])
    if report.imported.get("sites"):
        site["web"] = CommentedMap([("https", "off")])
        site["web"].yaml_add_eol_comment("ISPMan's vhosts served HTTP only; 'auto' once DNS points at the new web "
                                         "host", "https")
    estate.site_extra = site
    return estate, report


def _domain(entry: SourceEntry, name: str, report: ImportReport) -> CommentedMap:
    data = CommentedMap([("domain", name)])
    kind = (entry.get("ispmanDomainType") or "primary").lower()
    if kind == "replica":
        data["type"] = "alias"
        data["alias_of"] = (entry.get("ispmanReplicaMaster") or "").lower()
        data.yaml_add_eol_comment("ISPMan replica domain", "type")
    elif kind == "slave":
        data["type"] = "slave"
        data["primaries"] = entry.all("ispmanDnsMasters")
    elif kind == "nodns":
        data["type"] = "nodns"
    if (entry.get("ispmanStatus") or "active").lower() == "suspended":
        data["status"] = "suspended"
    if entry.get("ispmanDomainComment"):
        data["description"] = entry.get("ispmanDomainComment")
    for attr in ("ispmanMaxAccounts", "ispmanMaxVhosts", "ispmanMaxDatabases"):
        if (entry.get(attr) or "-1") != "-1":
            report.add(NOT_IMPORTED, entry.dn, f"{attr} (a per-domain limit; ispctl's limits are per tenant)")
    if "pureftpduser" in entry.classes and kind != "replica":
        report.add(NOT_IMPORTED, entry.dn, "the domain's own FTP login (uid = the domain, home = its whole tree; "
                   f"FTPStatus {entry.get('FTPStatus') or 'unset'}): ispctl's FTP logins are a mailbox's or a site's")
    return data


def _services(entry: SourceEntry, data: CommentedMap, uses: set[str], mail: bool, web: bool) -> list[str] | None:
    if data.get("type") == "alias":
        return ["mail"]
    declared = {s.strip().lower() for v in entry.all("ispmanDomainService") for s in v.split(",")}
    services = []
    if "mail" in declared or mail:
        services.append("mail")
    if "web" in declared and web:
        services.append("web")
    if data.get("type", "primary") in ("primary", "slave"):
        services.append("dns")
    services += sorted(uses)
    return services
