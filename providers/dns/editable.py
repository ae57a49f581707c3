"""The DNS records provisioning commands edit: ``ispctl record add www.example.net --set A=192.0.2.1``.

One object per owner name under the domain file's ``dns.records`` (its record types as
fields). A record carries no data, so its rename is its delete and its add in one commit;
records cannot be suspended (suspend the domain).
"""

from __future__ import annotations

from ispctl.reconciler.contract import Editable

RECORD = Editable(noun="record",
                  summary="the DNS records of one name (A, AAAA, CNAME, MX, TXT, SRV, CAA, NS as fields)",
                  section=("dns", "records"), naming="host", rename=True, empty={})
