"""The FTP owner logins of web sites provisioning commands edit:
``ispctl ftp-site add shop.example.net --password-stdin --set quota=5GiB``.

One object per site host under the domain file's ``ftp.sites``. A login follows its site:
suspended with it (``ispctl site suspend``); its name is the site's host, so it is never
renamed on its own (the refusal says so).
"""

from __future__ import annotations

from ispctl.reconciler.contract import Editable

FTP_SITE = Editable(noun="ftp-site", summary="the FTP owner login of a web site (password hash, quota, bandwidth)",
                    section=("ftp", "sites"), naming="host", password="password",
                    no_rename="(its login is the site's host name and its home the site's files): it follows its "
                              "site; add a login for the new site and delete this one")
