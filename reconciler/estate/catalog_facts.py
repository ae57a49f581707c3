"""The estate's own facts (``estate.facts``): what each tenant and domain file says that the
rules across files of ``estate.validate``, ``estate.delivery``, ``estate.limits`` and
``estate.tenant_rename`` read of it.

Per rule, the name or need that keeps both ends in one narrowed run:

* a domain declared twice: ``domain:<ascii>`` (named by its file);
* an address claimed twice (mailbox, alias, extra address), or a ``previous:`` address in use
  or claimed twice: ``address:<a>`` (named);
* a ``previous:`` address of another tenant's domain: ``domain:<its domain>`` (named, so a
  change of either file loads the other);
* forwarding, alias and catch-all targets (deliverable, delivery loops and open relays):
  ``address:<t>`` and ``domain:<t's domain>`` needed, through an alias domain also the
  address and domain it stands for, so the whole chain is loaded transitively;
* ``alias_of`` and extra addresses' domains (exists, same reseller or tenant, takes
  addresses): ``domain:<d>`` needed;
* limits and quota pools: ``usage:<own tenant>:domains|mailboxes|aliases|quota`` totals,
  added up each tenant's chain with ``Catalog.outside`` (``estate.limits``);
* tenants (names, renames, limits, chains): ``tenant:<name>``; every tenant file is loaded in
  every run anyway.

Facts are taken from what each file wrote (normalised; a name that does not normalise is left
out, its file has a problem then), not from the resolved catalog, so a narrowed run whose
subset is still too small (a rule refuses a reference into a file not loaded) learns from the
same facts which files to add. Totals are the resolved counts ``check_limits`` counts, which
only matter for a valid run's snapshot; they are counted where ``check_limits`` counts them (a
mailbox or alias the catalog holds from this file, a domain of the catalog).
"""

from __future__ import annotations

from ispctl.reconciler.estate.catalog import Catalog, NDomain
from ispctl.reconciler.estate.facts import Facts, FactsBuilder, FileFacts
from ispctl.reconciler.estate.names import InvalidName, normalise_domain

_USAGE = ("domains", "mailboxes", "aliases", "quota")


def usage_key(tenant: str, what: str) -> str:
    """The total a domain file adds to its own tenant's usage (``what`` in domains,
    mailboxes, aliases, quota); ``check_limits`` adds it up the tenant's chain."""
    return f"usage:{tenant}:{what}"


def address_name(address: str) -> str:
    return f"address:{address}"


def domain_name(domain: str) -> str:
    return f"domain:{domain}"


def tenant_name(tenant: str) -> str:
    return f"tenant:{tenant}"


def _address(text: str, domain: str) -> str | None:
    """A reference as ``validate`` resolves it (a bare local part is in ``domain``): for a valid
    one exactly ``normalise_address``'s result (a valid local part is its own lower case), for
    an invalid one (refused by validation anyway) a name no valid file can have. Without the
    local part's full check: this runs for every address of the estate."""
    local, at, dom = text.rpartition("@")
    if not at:
        return f"{text.lower()}@{domain}"
    found = _domain(dom)
    return None if found is None else f"{local.lower()}@{found}"


def _domain(text: str) -> str | None:
    try:
        return normalise_domain(text).ascii
    except InvalidName:
        return None


class _Gather:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.out = FactsBuilder()
        self.of = self.out.of

    def target(self, into: FileFacts, text: str, domain: str) -> None:
        """A delivery target: its address and domain, and through an alias domain the address
        and domain mail to it lands on (``DeliveryGraph.resolve``)."""
        address = _address(text, domain)
        if address is None:
            return
        local, dom = address.split("@", 1)
        into.used.update((address_name(address), domain_name(dom)))
        target = self.catalog.domains.get(dom)
        if target is not None and target.spec.type == "alias" and target.spec.alias_of:
            aliased = _domain(target.spec.alias_of)
            if aliased is not None:
                into.used.update((address_name(f"{local}@{aliased}"), domain_name(aliased)))

    def domain(self, domain: NDomain) -> None:
        into = self.of(domain.origin.doc.file)
        spec, name = domain.spec, domain.name
        into.declared.add(domain_name(name))
        if spec.alias_of:
            aliased = _domain(spec.alias_of)
            if aliased is not None:
                into.used.add(domain_name(aliased))
        if spec.mail.catch_all:
            self.target(into, spec.mail.catch_all, name)
        tenant, catalog = domain.tenant, self.catalog
        for local, box in spec.mailboxes.items():
            own = _address(local, name)
            if own is None:
                continue
            into.declared.add(address_name(own))
            for extra in box.aliases:
                address = _address(extra, name)
                if address is not None:
                    into.declared.add(address_name(address))
                    into.used.add(domain_name(address.split("@", 1)[1]))
            for old in box.previous:
                address = _address(old, name)
                if address is not None:
                    # A claim on a name, not a declaration: it must not hide a need of the
                    # same domain (a forward into it) from ``facts``.
                    into.named.update((address_name(address), domain_name(address.split("@", 1)[1])))
            if box.forward is not None:
                for target in box.forward.to:
                    self.target(into, target, name)
            found = catalog.mailboxes.get(own)
            if found is not None and found.origin.doc is domain.origin.doc:  # what check_limits counts
                self.count(into, tenant, "mailboxes", 1)
                self.count(into, tenant, "aliases", len(found.aliases))
                self.count(into, tenant, "quota", found.quota)
        for local, alias in spec.aliases.items():
            own = _address(local, name)
            if own is None:
                continue
            into.declared.add(address_name(own))
            for target in alias.to:
                self.target(into, target, name)
            counted = catalog.aliases.get(own)
            if counted is not None and counted.origin.doc is domain.origin.doc:
                self.count(into, tenant, "aliases", 1)
        self.count(into, tenant, "domains", 1)

    @staticmethod
    def count(into: FileFacts, tenant: str, what: str, value: int) -> None:
        if value:
            into.count(usage_key(tenant, what), value)


def catalog_facts(catalog: Catalog) -> dict[str, Facts]:
    """The estate's own facts of every tenant and domain file of ``catalog`` (module docstring)."""
    gather = _Gather(catalog)
    for tenant in catalog.tenants.values():
        gather.of(tenant.origin.doc.file).declared.add(tenant_name(tenant.name))
    for domain in catalog.domains.values():
        gather.domain(domain)
    return gather.out.build()


__all__ = ["address_name", "catalog_facts", "domain_name", "tenant_name", "usage_key"]
