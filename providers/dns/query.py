"""One TSIG-signed request to the primary over TCP: an RFC 2136 update, or the zone's SOA.

Updates are rendered (and signed) once so their size is known: the provider counts the
messages and bytes it sends, and the tests and the benchmark read those counts.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

from ispctl.providers.dns.connection import DnsConnection, Unreachable
from ispctl.reconciler.contract import ProviderError

if TYPE_CHECKING:
    import dns.message
    import dns.rcode
    from dns.rdtypes.ANY.SOA import SOA

# dnspython is imported by the functions that use it, not with the module: the registry imports
# the DNS service for every command, and an estate without DNS must not pay for it (issue 11).


def exchange(conn: DnsConnection, message: dns.message.Message) -> tuple[dns.message.Message, int]:
    """``dns.query.tcp``, rendering (and signing) the message once; returns the answer and its size."""
    import dns.query

    wire = message.to_wire()
    expiration = time.time() + conn.timeout  # dnspython deadlines are wall-clock times
    with socket.create_connection((conn.host, conn.port), timeout=conn.timeout) as sock:
        sock.setblocking(False)
        dns.query.send_tcp(sock, wire, expiration)
        response, _ = dns.query.receive_tcp(sock, expiration, keyring=message.keyring,
                                            request_mac=message.mac)
    if not message.is_response(response):
        raise dns.query.BadResponse
    return response, len(wire)


def query_soa(conn: DnsConnection, zone: str) -> SOA:
    """The zone's SOA as the primary serves it now (the guard of the next update)."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    from dns.rdtypes.ANY.SOA import SOA

    query = dns.message.make_query(zone + ".", dns.rdatatype.SOA)
    query.use_tsig(conn.tsig_key)
    try:
        response = dns.query.tcp(query, conn.host, port=conn.port, timeout=conn.timeout)
    except (dns.exception.Timeout, OSError, EOFError) as exc:
        raise Unreachable(f"dns: cannot read the SOA of {zone}: {exc or type(exc).__name__}") from None
    except dns.exception.DNSException as exc:
        raise ProviderError(f"dns: cannot read the SOA of {zone}: {exc or type(exc).__name__}") from None
    for rrset in response.answer:
        found = rrset[0] if rrset.rdtype == dns.rdatatype.SOA else None
        if isinstance(found, SOA):
            return found
    raise ProviderError(f"dns: {conn.host}:{conn.port} has no SOA for {zone} "
                        f"({dns.rcode.to_text(response.rcode())})")


def zone_rcode(conn: DnsConnection, zone: str) -> dns.rcode.Rcode:
    """What the server answers for the zone's SOA: REFUSED or NOTAUTH when it has no such zone,
    SERVFAIL while a secondary has no data yet."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rdatatype

    query = dns.message.make_query(zone + ".", dns.rdatatype.SOA)
    query.use_tsig(conn.tsig_key)
    try:
        response = dns.query.tcp(query, conn.host, port=conn.port, timeout=conn.timeout)
    except (dns.exception.DNSException, OSError, EOFError) as exc:
        raise Unreachable(f"dns: cannot ask {conn.host}:{conn.port} about zone {zone}: "
                          f"{exc or type(exc).__name__}") from None
    return response.rcode()
