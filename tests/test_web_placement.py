"""Web sites placed on the cluster's web hosts: which run keeps what, the host in the directory, the plan.

Compiled from small estates (no daemon): the central run keeps one ``webhost`` per site, a web
host's run its own sites (each naming its host), another host's run nothing, no cluster: as
before. Against a real slapd: the central apply stores each site's host on its domain entry
(``ispctlWebHost``, loaded from the web service's schema file), the next plan is empty, and a
placement changed in git is one planned ``webhost`` update per site naming both hosts.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, cast

from estate_builder import EstateBuilder
from ldap_helpers import changes_by_address, run_cli, search

from ispctl.providers.ldap.sandbox.slapd import SlapdInstance
from ispctl.providers.web.hosts import WebHosts
from ispctl.providers.web.placement import SCHEMA, HostRun
from ispctl.providers.web.provider import WebProvider
from ispctl.providers.web.render import Layout
from ispctl.reconciler.engine.resources import Resource
from tests.wiring import resources_of

BASE = "directory:\n  base_dn: ou=ispctl,dc=example,dc=net\nproviders: [ldap, web]\n"
CLUSTER = BASE + textwrap.dedent("""\
    cluster:
      hosts:
        w1.example.net: {roles: [web], capacity: 100}
        w2.example.net: {roles: [web], capacity: 100}
        mx1.example.net: {roles: [mail_store]}
    """)
SITES = {"sites": {"@": {}, "shop": {}}}


def _estate(tmp_path: Path, site: str = CLUSTER, tenant: dict[str, Any] | None = None,
            acme: dict[str, Any] | None = None) -> EstateBuilder:
    builder = EstateBuilder(tmp_path, site=site)
    builder.tenant("acme", **(tenant or {}))
    builder.tenant("acme/bakery")
    builder.domain("acme", "acme.example", {"services": ["web"], "web": SITES, **(acme or {})})
    builder.domain("acme/bakery", "bakery.example", {"services": ["web"]})
    builder.domain("acme/bakery", "cafe.example", {"services": ["web"]})
    return builder


def _web(builder: EstateBuilder) -> dict[tuple[str, str], Resource]:
    return {k: r for k, r in resources_of(builder.root).items() if r.kind in ("site", "webhost")}


def test_no_web_host_in_the_cluster_keeps_every_site_as_before(tmp_path: Path) -> None:
    found = _web(_estate(tmp_path, site=BASE))
    assert sorted(k for k, _ in found) == ["site"] * 4
    assert all("host" not in r.attrs for r in found.values())


def test_every_site_has_a_host_and_a_webhost_record(tmp_path: Path) -> None:
    builder = _estate(tmp_path, tenant={"placement": {"web": "w2.example.net"}},
                      acme={"placement": {"web": "w1.example.net"}})
    found = _web(builder)
    assert {key: r.attrs["host"] for (kind, key), r in found.items() if kind == "webhost"} == {
        "acme.example": "w1.example.net",           # the domain's placement
        "shop.acme.example": "w1.example.net",
        "bakery.example": "w2.example.net",         # a client follows its reseller
        "cafe.example": "w2.example.net",
    }
    for (kind, key), site in found.items():
        if kind == "site":
            # Shown when the site is made on its host, never compared there (the run keeps only its own).
            assert site.attrs["host"] == found[("webhost", key)].attrs["host"] and "host" in site.create_only
    shop = found[("webhost", "shop.acme.example")]
    # What a move copies rides along, owned by the site (never compared on the host's record);
    # a pinned host is compared (a change is a move).
    assert shop.attrs["home"] and str(shop.attrs["docroot"]).endswith("/shop.acme.example/htdocs")
    assert shop.create_only == {"home", "docroot"} and shop.depends_on == ("domain.acme.example",)


def test_a_default_host_is_the_directory_s_once_written(tmp_path: Path) -> None:
    found = _web(_estate(tmp_path))
    assert all("host" in r.create_only for (kind, _), r in found.items() if kind == "webhost")


def test_which_run_keeps_what(tmp_path: Path) -> None:
    found = _web(_estate(tmp_path, tenant={"placement": {"web": "w2.example.net"}},
                         acme={"placement": {"web": "w1.example.net"}}))
    lay = Layout(sites_dir="s", pools_dir="p", web_root="/srv/www", archive_dir="a", certs_dir="c",
                 challenge_dir="ch", run_dir="r")
    central = WebProvider(lay, hosts=cast(WebHosts, object()))
    assert {key for (kind, key), r in found.items() if central.reconciles(r)} == {
        key for kind, key in found if kind == "webhost"}
    reads: list[int] = []

    def directory() -> dict[str, str]:
        reads.append(1)
        # The directory still has acme.example on w2 (its move has not switched yet); shop is
        # not written yet: git's host counts.
        return {"acme.example": "w2.example.net"}

    w1 = WebProvider(lay, host_run=HostRun("w1.example.net", directory))
    assert {key for (kind, key), r in found.items() if w1.reconciles(r)} == {"shop.acme.example"}
    w2 = WebProvider(lay, host_run=HostRun("w2.example.net", directory))
    kept = {(kind, key) for (kind, key), r in found.items() if w2.reconciles(r)}
    assert kept == {("site", "acme.example"), ("site", "bakery.example"), ("site", "cafe.example")}
    assert len(reads) == 2  # one directory read per run
    single = WebProvider(lay)
    assert all(single.reconciles(r) for (kind, _), r in found.items() if kind == "site")


def test_a_domain_s_sites_land_together_by_default(tmp_path: Path) -> None:
    builder = _estate(tmp_path)
    hosts = {key: r.attrs["host"] for (_, key), r in _web(builder).items()}
    assert hosts["acme.example"] == hosts["shop.acme.example"]
    assert set(hosts.values()) <= {"w1.example.net", "w2.example.net"}


def test_placement_mistakes_name_file_and_line(tmp_path: Path) -> None:
    builder = _estate(tmp_path, acme={"placement": {"web": "mx1.example.net"}},
                      tenant={"placement": {"web": "w9.example.net"}})
    messages = sorted((p.location.file, p.message) for p in builder.problems())
    assert (builder.display("tenants/acme/acme.example.yaml"),
            "mx1.example.net does not have the web role (cluster.hosts.mx1.example.net.roles)") in messages
    assert (builder.display("tenants/acme/tenant.yaml"),
            "'w9.example.net' is not a host of cluster.hosts in ispctl.yaml") in messages
    (tmp_path / "lone").mkdir()
    lone = EstateBuilder(tmp_path / "lone", site=BASE)
    lone.tenant("acme", placement={"web": "w1.example.net"})
    [problem] = lone.problems()
    assert problem.message == "cluster.hosts in ispctl.yaml has no host with the web role"


def _central(slapd: SlapdInstance, estate: Path, *args: str) -> str:
    result = run_cli(slapd, *args, "-d", str(estate), ISPCTL_PROVIDERS="ldap,web",
                     ISPCTL_MOVE_JOURNAL=str(estate.parent / "moves"))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_directory_holds_each_site_s_host_and_a_placement_change_is_a_planned_move(
        slapd: SlapdInstance, tmp_path: Path) -> None:
    assert SCHEMA.name in {Path(p).name for p in slapd.schemas}  # the service's schema, loaded by the fixture
    builder = _estate(tmp_path, acme={"placement": {"web": "w1.example.net"}})
    _central(slapd, builder.root, "apply", "--auto-approve")
    stored = {entry["associateddomain"][0]: sorted(entry.get("ispctlwebhost", []))
              for entry in search(slapd, "(objectClass=ispctlDomain)", "associatedDomain", "ispctlWebHost").values()}
    assert stored["acme.example"] == ["acme.example w1.example.net", "shop.acme.example w1.example.net"]
    assert len(stored["bakery.example"]) == 1 and len(stored["cafe.example"]) == 1
    assert "No changes." in _central(slapd, builder.root, "plan")

    builder.domain("acme", "acme.example", {"services": ["web"], "web": SITES,
                                            "placement": {"web": "w2.example.net"}})
    changes = changes_by_address(json.loads(_central(slapd, builder.root, "plan", "--json")))
    assert sorted(changes) == ["webhost.acme.example", "webhost.shop.acme.example"]
    for change in changes.values():
        assert change["action"] == "update" and change["attributes"] == [
            {"name": "host", "before": "w1.example.net", "after": "w2.example.net", "sensitive": False}], change
    text = _central(slapd, builder.root, "plan")
    assert "copies the site's files from w1.example.net to w2.example.net with rsync" in text
    narrowed = changes_by_address(json.loads(_central(slapd, builder.root, "plan", "--json", "--tenant", "acme")))
    assert narrowed == changes

    # A site removed: its value goes, the domain's other site keeps its own.
    builder.domain("acme", "acme.example", {"services": ["web"], "web": {"sites": {"@": {}}},
                                            "placement": {"web": "w1.example.net"}})
    _central(slapd, builder.root, "apply", "--auto-approve")
    [entry] = search(slapd, "(associatedDomain=acme.example)", "ispctlWebHost", "objectClass").values()
    assert entry["ispctlwebhost"] == ["acme.example w1.example.net"] and "ispctlWebHosted" in entry["objectclass"]
    assert "No changes." in _central(slapd, builder.root, "plan")


def test_a_directory_without_the_web_schema_is_told_which_file_to_load(tmp_path: Path) -> None:
    instance = SlapdInstance(tmp_path / "slapd", schemas=tuple(
        p for p in SlapdInstance.default_schemas if Path(p).name != SCHEMA.name))
    instance.start()
    try:
        builder = _estate(tmp_path)
        result = run_cli(instance, "apply", "--auto-approve", "-d", str(builder.root), ISPCTL_PROVIDERS="ldap,web",
                         ISPCTL_MOVE_JOURNAL=str(tmp_path / "moves"))
        assert result.exit_code == 1
        assert f"the directory lacks the web service's schema: ldapadd -Y EXTERNAL -H ldapi:/// -f {SCHEMA}" in (
            result.output.replace("\n", " ").replace("  ", " ")), result.output
    finally:
        instance.stop()
