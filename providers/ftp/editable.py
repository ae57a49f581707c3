"""The FTP owner logins of web sites provisioning commands edit:
``ispctl ftp-site add shop.example.net --password-stdin --set quota=5GiB``.

One object per site host under the domain file's ``ftp.sites``. A login follows its site:
suspended with it (``ispctl site suspend``), never renamed on its own.
"""

from __future__ import annotations

from ispctl.reconciler.contract import Editable

FTP_SITE = Editable(noun="ftp-site", summary="the FTP owner login of a web site (password hash, quota, bandwidth)",
                    section=("ftp", "sites"), naming="host", password="password")
