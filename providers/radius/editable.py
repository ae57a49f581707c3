"""The access accounts provisioning commands edit:
``ispctl access add dsl-0042@example.net --password-stdin --set profile=dsl --set framed_ip=10.1.0.42``.

One object per login under the domain file's ``radius.accounts``; ``status: suspended``
suspends one (FreeRADIUS then rejects it). ``access rename dsl-0042@example.net
dsl-0099@example.net`` is a planned rename within the domain: the key renamed with the old
name first in its ``previous:``, so apply renames the directory entry (a modrdn) and keeps the
password its user set (credentials live only on the entry once the user owns them).
"""

from __future__ import annotations

from ispctl.reconciler.contract import Editable

ACCESS = Editable(noun="access", summary="a dial-up/DSL/VPN access account (login <name>@<domain>)",
                  section=("radius", "accounts"), naming="login", suspend=("status", "suspended"), password="password",
                  previous="previous")
