"""TSIG-signed zone transfers (AXFR): how the DNS provider reads, and an import source.

One transfer returns a whole zone in a few TCP messages (1,000 names in ~0.05 s), so reading
never costs a request per record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ispctl.providers.dns.connection import DnsConnection, Unreachable
from ispctl.reconciler.contract import ProviderError

if TYPE_CHECKING:
    import dns.zone

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).


class ZoneNotServed(ProviderError):
    """The server is not authoritative for the zone (NOTAUTH): it does not exist there."""


def transfer(conn: DnsConnection, zone: str) -> dns.zone.Zone:
    """The whole zone as the primary serves it, names relative to the zone's origin."""
    import dns.exception
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.xfr
    import dns.zone

    origin = dns.name.from_text(zone)
    result = dns.zone.Zone(origin)
    query = dns.message.make_query(origin, "AXFR")
    query.use_tsig(conn.tsig_key)
    where = f"{conn.host}:{conn.port}"
    try:
        dns.query.inbound_xfr(conn.host, result, query, port=conn.port, timeout=conn.timeout,
                              lifetime=conn.timeout * 4)
    except dns.xfr.TransferError as exc:
        if exc.rcode == dns.rcode.NOTAUTH:
            raise ZoneNotServed(f"dns: {where} does not serve zone {zone}") from None
        hint = (f"does the server allow transfers to key {conn.tsig_name}?" if exc.rcode == dns.rcode.REFUSED
                else "the server has the zone but cannot serve it (not loaded yet, or a broken zone file?)")
        raise ProviderError(f"dns: zone transfer of {zone} from {where} refused "
                            f"({dns.rcode.to_text(exc.rcode)}); {hint}") from None
    except (dns.exception.Timeout, OSError, EOFError) as exc:
        raise Unreachable(f"dns: zone transfer of {zone} from {where} failed: {exc or type(exc).__name__}") from None
    except dns.exception.DNSException as exc:
        raise ProviderError(f"dns: zone transfer of {zone} from {where} failed: "
                            f"{exc or type(exc).__name__}") from None
    return result


def axfr_source(zone: str, env: Mapping[str, str] | None = None) -> dns.zone.Zone:
    """A live zone for ``ispctl import``, read with the provider's connection settings."""
    return transfer(DnsConnection.from_env(env), zone.rstrip(".").lower())
