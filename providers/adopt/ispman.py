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
from ispctl.providers.adopt.ispman_sites import read_sites
from ispctl.providers.adopt.ispman_values import (
    CARRIED_SCHEMES,
    classify_password,
    dialup_enabled,
    ftp_enabled,
    mail_quota,
)
from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, WEAK_HASHES, ImportReport
from ispctl.providers.adopt.source import SourceEntry
from ispctl.providers.adopt.writer import ImportedDomain, ImportedEstate, ImportedTenant, tenant_slug
from ispctl.reconciler.contract import format_size

UNASSIGNED = "ispman-unassigned"
MIB = 1024 * 1024
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
    profiles = _radius_profiles(found.radius_profiles, report)
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
        mailboxes, uses = _mailboxes(users_by_domain.pop(name, []), name, report)
        aliases = _groups(groups_by_domain.pop(name, []), name, mailboxes, report)
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


def _local_or_address(address: str, domain: str) -> str:
    local, _, dom = address.lower().rpartition("@")
    return local if dom == domain and local else address.lower()


def _mailboxes(users: list[SourceEntry], domain: str, report: ImportReport) -> tuple[CommentedMap, set[str]]:
    result = CommentedMap()
    uses: set[str] = set()
    seen: dict[str, str] = {}
    for user in sorted(users, key=lambda u: u.dn.lower()):
        local = (user.get("ispmanUserId") or "").lower()
        if not local:
            at = [u for u in user.all("uid") if "@" in u]
            local = at[0].rpartition("@")[0].lower() if at else ""
        if not local:
            report.add(NOT_IMPORTED, user.dn, "user without ispmanUserId or an address uid")
            continue
        if local in seen:
            report.add(NOT_IMPORTED, user.dn, f"a second user for {local}@{domain} ({seen[local]} is imported)")
            continue
        seen[local] = user.dn
        box = CommentedMap()
        if user.get("cn"):
            box["name"] = user.get("cn")
        password = classify_password(user.get("userPassword"))
        if password.kept is not None:
            box["password"] = password.kept
        elif password.weak:
            then = ("carried into the new entry by 'ispctl import ispman-passwords' after the apply"
                    if password.scheme in CARRIED_SCHEMES else "not carried (slapd and Dovecot would not read it "
                                                               "alike): rotate it ('ispctl passwd')")
            report.add(WEAK_HASHES, user.dn, f"{password.scheme}: kept out of git; {then}")
        elif password.scheme != "none":
            report.add(NOT_IMPORTED, user.dn, f"{password.scheme}: a hash not every consumer reads; set a password "
                                              "with 'ispctl passwd'")
        else:
            report.add(CONVERTED, user.dn, "no password in ISPMan (noEntry): none set")
        try:
            quota, how = mail_quota(user.get("mailQuota"))
        except ValueError as exc:
            report.add(NOT_IMPORTED, user.dn, str(exc))
            quota, how = 0, "unreadable mailQuota"
        box["quota"] = format_size(quota) if quota else 0
        box.yaml_add_eol_comment(how, "quota")
        if (user.get("ispmanStatus") or "active").lower() == "suspended":
            box["status"] = "suspended"
        services = CommentedMap()
        ftp, ftp_misread = ftp_enabled(user.get("FTPStatus"))
        if ftp_misread:
            report.add(CONVERTED, user.dn, "FTPStatus 'active' (ISPMan's default, refused by pure-ftpd): ftp off")
        if ftp:
            services["ftp"] = True
            uses.add("ftp")
        dialup, dialup_misread = dialup_enabled(user.get("dialupAccess"))
        if dialup_misread:
            report.add(CONVERTED, user.dn, f"dialupAccess '{user.get('dialupAccess')}' (FreeRADIUS let it dial in): "
                                           "dialup on")
        if dialup:
            services["dialup"] = True
            uses.add("dialup")
        if services:
            box["services"] = services
            if dialup_misread:
                box.yaml_add_eol_comment(f"dialupAccess: {user.get('dialupAccess')}, which FreeRADIUS let in",
                                         "services")
        if ftp and (user.get("FTPQuotaMBytes") or "").isdigit() and int(user.get("FTPQuotaMBytes") or 0) > 0:
            box["ftp"] = CommentedMap([("quota", format_size(int(user.get("FTPQuotaMBytes") or 0) * MIB))])
        if dialup and user.get("radiusProfileDN"):
            box["radius"] = CommentedMap([("profile", _profile_name(user.get("radiusProfileDN") or ""))])
        extra = [a for a in user.all("mailAlias") if a.lower() != f"{local}@{domain}"]
        if extra:
            box["aliases"] = sorted(_local_or_address(a, domain) for a in extra)
        forwards = user.all("mailForwardingAddress")
        if forwards:
            keep = bool(user.get("mailRoutingAddress"))
            box["forward"] = CommentedMap([("to", sorted(a.lower() for a in forwards)), ("keep_copy", keep)])
            box.yaml_add_eol_comment("mailRoutingAddress kept a copy" if keep else "no mailRoutingAddress: no copy",
                                     "forward")
        if password.kept is None and password.scheme != "none":
            box.yaml_add_eol_comment(f"no password: ISPMan's is {password.scheme} (see the import report)",
                                     next(iter(box)))
        result[local] = box
        report.count("mailboxes")
    return result, uses


def _groups(groups: list[SourceEntry], domain: str, taken: Iterable[str], report: ImportReport) -> CommentedMap:
    """Mail groups as aliases; an address a mailbox or an earlier group has is reported, never merged."""
    result = CommentedMap()
    owners = {local: "a mailbox" for local in taken}
    for group in sorted(groups, key=lambda g: g.dn.lower()):
        address = (group.get("mailLocalAddress") or f"{group.get('cn')}@{domain}").lower()
        targets = [_local_or_address(t, domain) for t in group.all("mailForwardingAddress")]
        if not targets:
            report.add(NOT_IMPORTED, group.dn, "mail group without members (mailForwardingAddress)")
            continue
        local = _local_or_address(address, domain)
        main_ok = True
        for name in [address] + [a.lower() for a in group.all("mailAlias")]:
            key = _local_or_address(name, domain)
            why = (f"is not in {domain}" if "@" in key else f"is already {owners[key]}'s" if key in owners
                   else None if main_ok else "names a group address that was not imported")
            if why is not None:
                report.add(NOT_IMPORTED, group.dn, f"group address {name} {why}")
                main_ok = main_ok and key != local
                continue
            owners[key] = group.dn
            result[key] = sorted(targets) if key == local else local
        if main_ok:
            report.count("mail groups")
    return result


def _profile_name(dn: str) -> str:
    first = dn.split(",", 1)[0]
    return tenant_slug(first.partition("=")[2]) if "=" in first else "default"


def _radius_profiles(entries: list[SourceEntry], report: ImportReport) -> CommentedMap:
    """ISPMan's ``ou=radiusprofiles`` as the site's RADIUS profiles (FreeRADIUS reply items)."""
    result = CommentedMap()
    for entry in sorted(entries, key=lambda e: e.dn.lower()):
        profile = CommentedMap()
        for attr, key in (("radiusIdleTimeout", "idle_timeout"), ("radiusSessionTimeout", "session_timeout")):
            if (entry.get(attr) or "").isdigit():
                profile[key] = f"{entry.get(attr)}s"
        if (entry.get("radiusSimultaneousUse") or "").isdigit():
            profile["simultaneous_use"] = int(entry.get("radiusSimultaneousUse") or 1)
        reply = [f"{name} := {entry.get(attr)}" for attr, name in (
            ("radiusServiceType", "Service-Type"), ("radiusFramedProtocol", "Framed-Protocol"),
            ("radiusFramedMTU", "Framed-MTU")) if entry.get(attr)]
        if reply:
            profile["reply"] = reply
        result[_profile_name(entry.dn)] = profile
    return result
