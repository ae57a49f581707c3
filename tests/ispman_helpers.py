"""The ISPMan fixture for the import tests: its files, a slapd running it, one import of it."""

from __future__ import annotations

import json
from pathlib import Path

from ldap_helpers import run_cli

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance

DATA = Path(__file__).parent / "data" / "ispman"
FIXTURE = DATA / "estate.ldif"
GOLDEN = DATA / "golden"
ISPMAN_SCHEMAS = ("/etc/ldap/schema/misc.ldif", *(str(DATA / f"{n}.ldif")
                                                   for n in ("pureftpd", "dnszone", "radius-ldapv3", "ispman")))
ISPMAN_SUFFIX = "dc=example,dc=com"
ISPMAN_BASE = f"o=ispman,{ISPMAN_SUFFIX}"
TARGET_BASE = "ou=ispctl,dc=example,dc=net"  # the conftest slapd's managed base


def ispman_directory(workdir: Path) -> SlapdInstance:
    """A slapd as ISPMan ran it (its schemas, its tree); the caller stops it."""
    instance = SlapdInstance(workdir, suffix=ISPMAN_SUFFIX, managed_base=ISPMAN_SUFFIX,
                             root_dn=f"cn=admin,{ISPMAN_SUFFIX}", schemas=ISPMAN_SCHEMAS)
    instance.start()
    try:
        added = instance.ldapadd(FIXTURE.read_text(encoding="utf-8"))
        assert added.returncode == 0, added.stderr
    except BaseException:
        instance.stop()
        raise
    return instance


def import_ldif(target: Path, *extra: str) -> dict[str, object]:
    result = run_cli(None, "import", "ispman", "--ldif", str(FIXTURE), "--base-dn", TARGET_BASE, "--json",
                     "-d", str(target), *extra)
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


