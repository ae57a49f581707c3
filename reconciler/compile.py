"""Turn a valid catalog into resources with stable, readable addresses.

Addresses: ``tenant.<name>``, ``domain.<ascii name>``, ``mailbox.<address>``,
``alias.<address>``, ``maildir.<address>`` (a mailbox's home on disk). Values are
service-neutral (bytes, flags, addresses); each provider maps them to its own
representation. Effective values are compiled in: a mailbox of a suspended domain or
tenant is itself suspended, because consumers such as Dovecot and Postfix look at one
entry and cannot walk up the tree.
"""

from __future__ import annotations

from .catalog import Catalog, NTenant
from .compile_dns import compile_dns
from .resources import Resource, address_of

SENSITIVE = frozenset({"password"})


def _effective(own: str, chain: list[NTenant], *more: str) -> str:
    statuses = [own, *more, *(t.status for t in chain)]
    return "suspended" if "suspended" in statuses else "active"



def home_directory(mail_root: str, domain: str, local: str) -> str:
    return f"{mail_root.rstrip('/')}/{domain}/{local}"


def compile_catalog(catalog: Catalog) -> dict[tuple[str, str], Resource]:
    site = catalog.estate.site
    out: list[Resource] = []
    for tenant in catalog.tenants.values():
        lim = tenant.limits
        out.append(Resource(
            "tenant", tenant.name,
            {
                "kind": tenant.kind,
                "display_name": tenant.display,
                "contact": tenant.contact,
                "status": _effective(tenant.status, catalog.tenant_chain(tenant.name)),
                "max_domains": lim.max_domains,
                "max_mailboxes": lim.max_mailboxes,
                "max_aliases": lim.max_aliases,
                "quota_pool": lim.mail_quota_pool,
                "protected": True if tenant.protect else None,
            },
            parent=address_of("tenant", tenant.parent) if tenant.parent else None,
            source=tenant.origin.doc.location(()),
        ))
    for domain in catalog.domains.values():
        chain = catalog.tenant_chain(domain.tenant)
        out.append(Resource(
            "domain", domain.name,
            {
                "type": domain.type,
                "display_name": domain.display,
                "services": domain.services,
                "status": _effective(domain.status, chain),
                "default_quota": domain.default_quota,
                "catch_all": domain.catch_all,
                "alias_of": domain.alias_of,
                "description": domain.description,
                "protected": True if domain.protect else None,
            },
            parent=address_of("tenant", domain.tenant),
            depends_on=(address_of("domain", domain.alias_of),) if domain.alias_of else (),
            source=domain.origin.doc.location(("domain",)),
        ))
    for box in catalog.mailboxes.values():
        domain = catalog.domains[box.domain]
        chain = catalog.tenant_chain(domain.tenant)
        forward = set(box.forward)
        if forward and box.keep_copy:
            forward.add(box.address)  # the convention Postfix/iRedMail use for "keep a copy"
        out.append(Resource(
            "mailbox", box.address,
            {
                "address": box.address,
                "display_name": box.display,
                "password": box.password,
                "quota": box.quota,
                "status": _effective(box.status, chain, domain.status),
                "services": tuple(sorted(f for f, on in box.services.items() if on)),
                "aliases": box.aliases,
                "forward": tuple(sorted(forward)),
                "home": home_directory(site.mail.root, box.domain, box.local),
                "uid_number": site.mail.uid,
                "gid_number": site.mail.gid,
            },
            parent=address_of("domain", box.domain),
            previous=box.previous,
            sensitive=SENSITIVE,
            source=box.origin.doc.location(box.origin.path),
        ))
        # The mailbox's home on disk (the mail-store provider's). It depends on the
        # directory entry, so it is created after it, archived before the entry is deleted,
        # and renamed after the entry is; it follows the mailbox's renames.
        out.append(Resource(
            "maildir", box.address,
            {
                "path": home_directory(site.mail.root, box.domain, box.local),
                "uid": site.mail.uid,
                "gid": site.mail.gid,
            },
            depends_on=(address_of("mailbox", box.address),),
            previous=box.previous,
            source=box.origin.doc.location(box.origin.path),
        ))
    for alias in catalog.aliases.values():
        domain = catalog.domains[alias.domain]
        out.append(Resource(
            "alias", alias.address,
            {
                "targets": alias.targets,
                "status": _effective(alias.status, catalog.tenant_chain(domain.tenant), domain.status),
                "description": alias.description,
            },
            parent=address_of("domain", alias.domain),
            source=alias.origin.doc.location(alias.origin.path),
        ))
    out.extend(compile_dns(catalog))
    return {r.identity: r for r in sorted(out, key=lambda r: r.address)}
