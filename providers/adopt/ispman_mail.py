"""ISPMan's users, mail groups and RADIUS profiles as mailboxes, aliases and profiles.

A user (``ispmanDomainUser``) is a mailbox: ``ispmanUserId`` its local part, ``cn`` its name,
``mailQuota`` (KiB) its quota, ``mailAlias`` its extra addresses, ``mailForwardingAddress`` its
forward, kept as a copy when the user has a ``mailRoutingAddress`` (ISPMan's virtual_alias_maps
returned both), ``FTPStatus``/``dialupAccess`` its services as pure-ftpd and FreeRADIUS read
them. A mail group is an alias list, its ``mailAlias`` values aliases of it. An address held
twice is reported, never merged.
"""

from __future__ import annotations

from collections.abc import Iterable

from ruamel.yaml.comments import CommentedMap

from ispctl.providers.adopt.ispman_values import (
    CARRIED_SCHEMES,
    classify_password,
    dialup_enabled,
    ftp_enabled,
    mail_quota,
)
from ispctl.providers.adopt.report import CONVERTED, NOT_IMPORTED, WEAK_HASHES, ImportReport
from ispctl.providers.adopt.source import SourceEntry
from ispctl.providers.adopt.writer import tenant_slug
from ispctl.reconciler.contract import format_size

MIB = 1024 * 1024


def _local_or_address(address: str, domain: str) -> str:
    local, _, dom = address.lower().rpartition("@")
    return local if dom == domain and local else address.lower()


def read_mailboxes(users: list[SourceEntry], domain: str, report: ImportReport) -> tuple[CommentedMap, set[str]]:
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


def read_groups(groups: list[SourceEntry], domain: str, taken: Iterable[str], report: ImportReport) -> CommentedMap:
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


def read_radius_profiles(entries: list[SourceEntry], report: ImportReport) -> CommentedMap:
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
