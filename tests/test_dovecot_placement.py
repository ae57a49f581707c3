"""Dovecot in a cluster: the rendered files proxy what another host stores; Dovecot itself parses them.

The move itself (real Dovecots, slapd, kills) is test_dovecot_move's; placement rules are
test_estate_placement's. Here: without mail_store hosts the files are exactly as before, with
them passdb returns mailHost as the proxy host (proxy_maybe) and LMTP proxies, and
``doveconf`` accepts the result.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ispctl.providers.dovecot.render import LDAP_CONF_FILE, SETTINGS_FILE, render
from ispctl.providers.ldap.connection import LdapSettings
from ispctl.providers.ldap.settings import DirectorySettings
from ispctl.providers.mailstore.settings import MailSettings
from ispctl.reconciler.estate.cluster import ClusterHost, ClusterSettings
from ispctl.reconciler.estate.model import SiteFile
from tests.wiring import FILES

LDAP = LdapSettings("ldap://127.0.0.1:389", "cn=dovecot,ou=services,dc=example,dc=net", "pw")


def _site(cluster: ClusterSettings | None = None) -> SiteFile:
    more = {"cluster": cluster} if cluster is not None else {}
    return FILES.site(directory=DirectorySettings(base_dn="ou=ispctl,dc=example,dc=net"),
                      mail=MailSettings(root="/var/vmail"), **more)


CLUSTERED = ClusterSettings(hosts={"mx1.example.net": ClusterHost(roles=["mail_store", "imap"]),
                                   "mx2.example.net": ClusterHost(roles=["mail_store", "imap"]),
                                   "ns2.example.net": ClusterHost(roles=["dns_secondary"])})


def test_without_mail_store_hosts_nothing_changes() -> None:
    plain = render(_site(), LDAP, "/etc/dovecot/dovecot-ldap.conf.ext")
    dns_only = render(_site(ClusterSettings(hosts={"ns2.example.net": ClusterHost(roles=["dns_secondary"])})),
                      LDAP, "/etc/dovecot/dovecot-ldap.conf.ext")
    assert plain == dns_only
    assert "proxy" not in plain[LDAP_CONF_FILE] and "lmtp_proxy" not in plain[SETTINGS_FILE]


def test_a_cluster_proxies_logins_and_deliveries_to_the_mailbox_host() -> None:
    files = render(_site(CLUSTERED), LDAP, "/etc/dovecot/dovecot-ldap.conf.ext")
    lines = files[LDAP_CONF_FILE].splitlines()
    assert "pass_attrs = uid=user, userPassword=password, mailHost=host, =proxy_maybe=y" in lines
    assert "lmtp_proxy = yes" in files[SETTINGS_FILE].splitlines()
    plain = render(_site(), LDAP, "/etc/dovecot/dovecot-ldap.conf.ext")
    # Only those lines (and their comments) differ.
    added = set(files[SETTINGS_FILE].splitlines()) - set(plain[SETTINGS_FILE].splitlines())
    assert {line for line in added if not line.startswith("#")} == {"lmtp_proxy = yes"}


def test_doveconf_accepts_the_cluster_files(tmp_path: Path) -> None:
    doveconf = shutil.which("doveconf") or shutil.which("doveconf", path="/usr/sbin:/usr/bin")
    if doveconf is None:
        pytest.fail("doveconf not found: install dovecot-core (.ci/setup does)")
    files = render(_site(CLUSTERED), LDAP, str(tmp_path / LDAP_CONF_FILE))
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    main = tmp_path / "dovecot.conf"
    main.write_text(f"base_dir = {tmp_path}/run\nprotocols = imap\nssl = no\n"
                    f"!include {tmp_path / SETTINGS_FILE}\n", encoding="utf-8")
    done = subprocess.run([doveconf, "-c", str(main), "-n"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert "lmtp_proxy = yes" in done.stdout
