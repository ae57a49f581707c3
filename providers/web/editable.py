"""The web sites provisioning commands edit: ``ispctl site add shop.example.net --set php=on``.

One object per host under the domain file's ``web.sites``; ``status: suspended`` suspends
one. A site's files live under its host's name, so a rename is refused (it would not be a
planned move of its document root).
"""

from __future__ import annotations

from ispctl.reconciler.contract import Editable

SITE = Editable(noun="site", summary="a web site (docroot, PHP, HTTPS, redirects, protected paths)",
                section=("web", "sites"), naming="host", suspend=("status", "suspended"))
