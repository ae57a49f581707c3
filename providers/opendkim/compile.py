"""The signing choice as desired state: one ``signing.<domain>`` per domain whose zone
publishes a DKIM key of ours.

Its ``selector`` is the newest selector whose TXT record the zone publishes (during a rotation
the new one, once ``ispctl dkim rotate`` made it), its ``key_file`` the private key's path in
the key store (``dns.dkim.key_dir``, or ``ISPCTL_DKIM_DIR`` on this machine); never the key.

It ``depends_on`` that TXT record (``dns.<domain>/<selector>._domainkey/TXT``): when the record is
created in the same plan, the engine applies the switch only after the DNS update carrying it
was committed, and skips it if that failed; the provider checks the record is served before
writing (``provider``). The rotation is thus three planned changes, in order: the new TXT
created, signing switched to it, and after ``ispctl dkim retire`` the old TXT deleted -- after
the switch, since the live signing entry depends on the record it uses.
"""

from __future__ import annotations

from ispctl.providers.dns.dkim import key_dir, private_path, selector_order
from ispctl.providers.dns.settings import DNS
from ispctl.providers.dns.validate import check_zones
from ispctl.providers.opendkim.tables import KIND, signing_attrs, txt_address
from ispctl.reconciler.contract import Catalog, Compiled, Facts, Resource

SUFFIX = "._domainkey"


def compile_signing(catalog: Catalog) -> Compiled:
    site = catalog.estate.site
    # Nothing to do (and no zone built twice) for an estate that publishes no DKIM keys.
    if not site.has_section(DNS) or site.section(DNS).dkim is None:
        return Compiled()
    settings = site.section(DNS).dkim
    assert settings is not None
    store = key_dir(settings.key_dir)
    out = Compiled()  # problems are the DNS service's to report (it builds the same zones)
    for name, zone in sorted(check_zones(catalog)[0].zones.items()):
        published = {owner[:-len(SUFFIX)]: rrset for (owner, rdtype), rrset in zone.rrsets.items()
                     if rdtype == "TXT" and rrset.derived and owner.endswith(SUFFIX)}
        if not published:
            continue
        newest = max(published, key=selector_order)
        out.resources.append(Resource(
            KIND, name, signing_attrs(newest, str(private_path(store, name, newest))),
            depends_on=(txt_address(name, newest),),
            source=published[newest].source,
        ))
    return out


def signing_facts(catalog: Catalog, compiled: Compiled) -> dict[str, Facts]:
    """No facts: a domain's signing entry follows the DKIM TXT records its own zone derives, and
    those depend on its own file only (type, services, an explicit record at the selector's
    name), ``ispctl.yaml`` and the key store, by the domain's name. No two domains share a
    selector's record or a key file (both are named by the domain), and no rule here compares
    domains; what the zones read of other files is the DNS service's facts."""
    return {}
