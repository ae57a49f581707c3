"""The web sites provisioning commands edit: ``ispctl site add shop.example.net --set php=on``.

One object per host under the domain file's ``web.sites``; ``status: suspended`` suspends
one. A rename is refused with how to do it: the site's files, vhost, PHP pool, certificate,
host placement and FTP login all go by its host name, and the provider has no planned rename
of them yet (a changed key would archive the files and create an empty site).
"""

from __future__ import annotations

from ispctl.reconciler.contract import Editable

SITE = Editable(noun="site", summary="a web site (docroot, PHP, HTTPS, redirects, protected paths)",
                section=("web", "sites"), naming="host", suspend=("status", "suspended"),
                no_rename="(its files <home>/<host>/htdocs, vhost, PHP pool, certificate and FTP login go by its host "
                          "name; a changed name would archive the files and serve an empty site): add the new site, "
                          "copy the files into its docroot, point the old one at it with a redirect or delete it "
                          "(its files are archived)")
