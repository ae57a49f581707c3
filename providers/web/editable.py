"""The web sites provisioning commands edit: ``ispctl site add shop.example.net --set php=on``.

One object per host under the domain file's ``web.sites``; ``status: suspended`` suspends
one. ``site rename shop.example.net store.example.net`` is a planned rename within the domain:
the key renamed with the old name first in its ``previous:`` (and the site's FTP login's key
under ``ftp.sites`` with it), so apply moves the site's folder (never archived and recreated),
replaces its vhost, PHP pool and htpasswd file and keeps its FTP login (and its password).
"""

from __future__ import annotations

from ispctl.reconciler.contract import Editable

SITE = Editable(noun="site", summary="a web site (docroot, PHP, HTTPS, redirects, protected paths)",
                section=("web", "sites"), naming="host", suspend=("status", "suspended"),
                previous="previous", follows=(("ftp", "sites"),))
