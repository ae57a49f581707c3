"""The mapping of ``ispctl import ldap``: defaults, a site that deviates, bad files at file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from ispctl.providers.adopt.homes import HomeSettings
from ispctl.providers.adopt.iredmail import ImportFailed, convert
from ispctl.providers.adopt.mapping import Mapping, default_mapping_yaml, load_mapping
from ispctl.providers.adopt.report import ImportReport
from ispctl.providers.adopt.source import read_ldif
from ispctl.reconciler.contract import ConfigError

# A hand-grown Postfix-LDAP tree: its own attribute names, "enabled"/"locked", quotas in KiB,
# flags for IMAP and POP3 only, and homes already where ispctl keeps them.
HANDGROWN = """\
dn: vd=shop.example,o=mail,dc=example,dc=com
objectClass: virtualDomain
vd: shop.example
state: enabled

dn: mailAddress=anna@shop.example,vd=shop.example,o=mail,dc=example,dc=com
objectClass: mailAccount
mailAddress: anna@shop.example
displayName: Anna
quotaKiB: 2097152
state: locked
service: imap
mailHome: /srv/mail/shop.example/anna

dn: mailAddress=ben@shop.example,vd=shop.example,o=mail,dc=example,dc=com
objectClass: mailAccount
mailAddress: ben@shop.example
quotaKiB: 1024
state: enabled
service: imap
service: pop3
mailHome: /srv/mail/shop.example/ben
"""

HANDGROWN_MAPPING = """\
tenant: shop-isp
tenant_name: Shop ISP
status: {enabled: active, locked: suspended}
services: {imap: [imap], pop3: [pop3], smtp: []}
domains: {object_class: virtualDomain, name: vd, status: state}
mailboxes:
  object_class: mailAccount
  address: mailAddress
  name: displayName
  quota: quotaKiB
  quota_unit: KiB
  status: state
  services: service
  mail_service: null
  home: mailHome
"""


def test_a_site_that_deviates_writes_only_what_differs(tmp_path: Path) -> None:
    (tmp_path / "map.yaml").write_text(HANDGROWN_MAPPING)
    (tmp_path / "tree.ldif").write_text(HANDGROWN)
    mapping = load_mapping(tmp_path / "map.yaml")
    assert mapping.aliases == Mapping().aliases  # what the file leaves out stays iRedMail's
    report = ImportReport("tree.ldif")
    estate = convert(read_ldif(tmp_path / "tree.ldif"), mapping, report, HomeSettings(uid=5000, gid=5000),
                     "ou=ispctl,dc=example,dc=com")
    assert list(estate.tenants) == ["shop-isp"]
    boxes = estate.domains["shop.example"].data["mailboxes"]
    assert boxes["anna"] == {"name": "Anna", "quota": "2 GiB", "status": "suspended",
                             "services": {"pop3": False, "smtp": False},
                             "maildir": {"adopt": "/srv/mail/shop.example/anna"}}
    assert boxes["ben"] == {"quota": "1 MiB", "services": {"smtp": False},
                            "maildir": {"adopt": "/srv/mail/shop.example/ben"}}
    assert dict(estate.site_extra["mail"]) == {"root": "/srv/mail", "uid": 5000, "gid": 5000}
    assert report.imported["maildirs adopted in place"] == 2


def test_values_the_mapping_does_not_know_stop_the_import_all_at_once(tmp_path: Path) -> None:
    (tmp_path / "tree.ldif").write_text(HANDGROWN.replace("state: locked", "state: frozen")
                                        .replace("quotaKiB: 1024", "quotaKiB: lots"))
    (tmp_path / "map.yaml").write_text(HANDGROWN_MAPPING)
    with pytest.raises(ImportFailed) as caught:
        convert(read_ldif(tmp_path / "tree.ldif"), load_mapping(tmp_path / "map.yaml"), ImportReport("x"),
                HomeSettings(), "ou=ispctl,dc=example,dc=com")
    ldif = tmp_path / "tree.ldif"
    assert str(caught.value) == (
        "2 value(s) cannot be imported:\n"
        f"  {ldif}:6: mailAddress=anna@shop.example,vd=shop.example,o=mail,dc=example,dc=com: state: 'frozen' is not "
        "a status of the mapping (enabled, locked); add it to status: in the mapping file\n"
        f"  {ldif}:15: mailAddress=ben@shop.example,vd=shop.example,o=mail,dc=example,dc=com: quotaKiB: 'lots' is not "
        "a whole number (KiB)")


def test_a_bad_mapping_file_names_each_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("tenant: x\nstatus:\n  active: enabled\nmailboxes:\n  quota_unit: bytes\n  colour: red\n")
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    assert str(caught.value) == (
        "3 problem(s) in the mapping:\n"
        f"  {path}:3: status.active: Input should be 'active' or 'suspended'\n"
        f"  {path}:5: mailboxes.quota_unit: Input should be 'B', 'KiB', 'MiB', 'GiB', 'kB', 'MB' or 'GB'\n"
        f"  {path}:6: mailboxes.colour: Extra inputs are not permitted")
    path.write_text("tenant: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}:2: not valid YAML"):
        load_mapping(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_mapping(path)


def test_the_printed_default_reads_back_as_the_default() -> None:
    text = default_mapping_yaml()
    assert text.startswith("# ispctl import ldap: the directory's convention (defaults: iRedMail)")
    assert Mapping.model_validate(YAML(typ="safe").load(text)) == Mapping()
    assert load_mapping(None) == Mapping()
