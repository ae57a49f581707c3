"""The access accounts provisioning commands edit:
``ispctl access add dsl-0042@example.net --password-stdin --set profile=dsl --set framed_ip=10.1.0.42``.

One object per login under the domain file's ``radius.accounts``; ``status: suspended``
suspends one (FreeRADIUS then rejects it). A rename is refused: the login is what the
customer's router sends, and credentials its user set live only on the directory entry.
"""

from __future__ import annotations

from ispctl.reconciler.contract import Editable

ACCESS = Editable(noun="access", summary="a dial-up/DSL/VPN access account (login <name>@<domain>)",
                  section=("radius", "accounts"), naming="login", suspend=("status", "suspended"), password="password")
