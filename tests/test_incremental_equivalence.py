"""Acceptance of narrowed plans (estate.incremental): a cache can only ever make a run faster,
never change its result.

The example estate, with every rule across files in use (``incremental_helpers.rich_example``:
a cluster whose hosts two files fill to capacity, DKIM keys, addresses, forwards, aliases and a
catch-all into other files, a pinned web uid, RADIUS accounts, a site's FTP login), is committed
to git and warmed by a full run. Each change below starts from that warm state (files and
snapshot put back), is handed to ``load_narrowed`` as ``--changed-since HEAD`` would, and
compared with a full run of the same files (``incremental_helpers.assert_equivalent``): both
find a problem or neither; without one, the narrowed desired state is the full one (compiled
resources field by field, outlines by identity and references). Each change also says which
way it must go: the harmless ones take the fast path (a test that always falls back proves
nothing), the others fall back, for a problem or for what the snapshot cannot vouch for (a
DKIM key made or rotated outside git: the services' inputs are of another context). The changes
themselves are in ``incremental_changes``; several changes in a row are in
``test_incremental_equivalence_steps``.

The same changes are then planned by the command line (``ispctl plan --changed-since <the
warm commit> --json --detailed-exitcode``) against the example applied to a real slapd and
named, over the snapshot and the full way (no cache): exit code, JSON and stderr byte-equal.
"""

from __future__ import annotations

import pytest

from ispctl.providers.dns.dkim import create_key, start_rotation
from ispctl.providers.web.users import derived_uid
from ispctl.reconciler.estate.desired import Desired
from ispctl.reconciler.estate.incremental import Fallback
from tests.incremental_changes import (
    BAKERY,
    BAKERY_ASCII,
    BAKERY_SHOP,
    HART,
    NET,
    NW,
    SB,
    SCHOOL,
    SITE,
    Case,
    both,
    committed,
    damage,
    drop,
    example,
    falls,
    fast,
    field,
    live,
    mailbox,
    same_stat,
    shop,
    sites,
    warm,
)
from tests.incremental_helpers import HASH, SELECTOR, Warm, box, plan_both_ways

__all__ = ["example", "live", "warm"]  # the fixtures of incremental_changes, used here by name


CASES: dict[str, Case] = {
    # -- changes within the rules: the fast path ---------------------------------------------
    "display-name": fast(field(HART, "j.hart", "name", "Jane Hart-Cole")),
    "add-mailbox": fast(mailbox(HART, "x.new")),
    "delete-mailbox": fast(drop(HART, "it")),
    "quota": fast(field(NW, "noc", "quota", "6 GiB")),
    "rename-previous-free": fast(lambda e: e.edit(HART, lambda d: d["mailboxes"].__setitem__(
        "helpdesk", {**d["mailboxes"].pop("it"), "previous": ["it"]}))),
    "forward-into-another-file": fast(field(HART, "m.chen", "forward", {"to": ["noc@northwind.example"]})),
    "forward-through-alias-domain": fast(field(HART, "m.chen", "forward", {"to": ["anna@baeckerei-mueller.example"]})),
    "forward-outside": fast(field(NW, "support", "forward", {"to": ["desk@elsewhere.example"]})),
    "alias-into-another-file": fast(lambda e: e.edit(SCHOOL, lambda d: d["aliases"].__setitem__(
        "board", ["head", "support@northwind.example"]))),
    "extra-address-other-domain-of-tenant": fast(field(HART, "m.chen", "aliases", ["mei@hartcole.net"])),
    "new-tenant-and-domain": fast(both(
        lambda e: e.write("southbay/clinic/tenant.yaml", {"name": "Clinic"}),
        lambda e: e.write("southbay/clinic/clinic.example.yaml", {
            "domain": "clinic.example", "services": ["dns"]}))),
    "new-domain-of-a-tenant": fast(lambda e: e.write("southbay/southbay.net.yaml", {
        "domain": "southbay.net", "services": ["dns"]})),
    "delete-domain-file": fast(lambda e: e.remove(HART)),
    "move-file-in-tenant": fast(lambda e: e.move(SCHOOL, "southbay/school/riverside.yaml")),
    "move-file-to-parent-tenant": fast(lambda e: e.move(SCHOOL, "southbay/riverside-school.example.yaml")),
    "tenant-file": fast(lambda e: e.edit("northwind/lawfirm/tenant.yaml", lambda d: d.__setitem__("name", "H&C"))),
    "reseller-suspended": fast(lambda e: e.edit("northwind/tenant.yaml", lambda d: d.__setitem__(
        "status", "suspended"))),
    "tenant-limit-raised": fast(lambda e: e.edit("northwind/lawfirm/tenant.yaml", lambda d: d["limits"].__setitem__(
        "max_mailboxes", 30))),
    "web-site-added-on-roomy-host": fast(sites(SB, **{"@": {"aliases": ["www"]}, "blog": {}})),
    "web-alias-in-own-domain": fast(sites(NW, shop={"docroot": "shop/current/public", "aliases": ["store"]})),
    "dns-record-added": fast(lambda e: e.edit(NW, lambda d: d["dns"]["records"].__setitem__(
        "mail2", {"A": "198.51.100.9"}))),
    "dns-ttl": fast(lambda e: e.edit(BAKERY, lambda d: d["dns"].__setitem__("ttl", "1h"))),
    "sieve-vacation": fast(lambda e: e.edit(NW, lambda d: d["mailboxes"]["support"]["vacation"].__setitem__(
        "subject", "Back soon"))),
    "radius-account-added": fast(lambda e: e.edit(SB, lambda d: d["radius"]["accounts"].__setitem__(
        "dsl-2", {"password": HASH}))),
    "ftp-site-login-quota": fast(lambda e: e.edit(SB, lambda d: d["ftp"]["sites"]["@"].__setitem__(
        "quota", "200 MiB"))),
    "web-uid-pin-moved-to-a-free-uid": fast(lambda e: e.edit("northwind/bakery/tenant.yaml", lambda d: d.__setitem__(
        "web", {"uid": 123456790}))),
    "committed-since-the-snapshot": fast(committed(field(HART, "j.hart", "name", "Jane"))),
    "a-change-that-keeps-the-files-stat": fast(committed(same_stat(HART, b"Jane Hart", b"Jane Hurt"))),
    "same-bytes-rewritten": fast(lambda e: e.path(HART).write_bytes(e.path(HART).read_bytes())),
    "dkim-rotation-of-a-file-not-changed": falls(lambda e: start_rotation(e.kept[1], "northwind.example", 1024),
                                                 "of another context"),
    "dns-domain-over-a-record": fast(lambda e: e.write("northwind/vpn.northwind.example.yaml", {
        "domain": "vpn.northwind.example", "services": ["dns"]})),
    "dns-child-zone-of-a-web-alias": fast(lambda e: e.write("northwind/www.northwind.example.yaml", {
        "domain": "www.northwind.example", "services": ["dns"]})),
    "dns-child-zone-of-an-alias-domains-host": fast(lambda e: e.write(
        "northwind/bakery/www.baeckerei-mueller.example.yaml", {"domain": "www.baeckerei-mueller.example",
                                                                "services": ["dns"]})),
    # a new domain's DKIM key made with its file: the key store is of another context
    "dns-child-zone-with-mail": falls(lambda e: (
        create_key(e.kept[1], "mail.southbay.example", SELECTOR, 1024),
        e.write("southbay/mail.southbay.example.yaml", {"domain": "mail.southbay.example", "services": ["mail", "dns"],
                                                        "placement": {"mail_store": "mx1.example.net"}})),
        "of another context"),
    "dns-record-where-the-site-answers": fast(lambda e: e.edit(SB, lambda d: d["dns"]["records"].__setitem__(
        "www", {"A": "192.0.2.9"}))),
    # the bakery's site leaves its ASCII alias domain's names (records of that domain's zone)
    "web-aliases-leave-the-alias-domain": fast(sites(BAKERY, **{"@": {"aliases": ["www"]}})),
    "web-service-dropped-beside-an-alias-domain": fast(lambda e: e.edit(BAKERY, lambda d: (
        d.__setitem__("services", ["mail", "dns"]), d.pop("web")))),
    "dns-service-dropped-beside-an-alias-domain": fast(lambda e: e.edit(BAKERY, lambda d: (
        d.__setitem__("services", ["mail", "web"]), d.pop("dns")))),
    "web-site-dropped": fast(lambda e: e.edit(NW, lambda d: d["web"]["sites"].pop("shop"))),
    # a mailbox renamed into another domain of its tenant (previous: its old address there)
    "mailbox-moved-to-another-domain-of-the-tenant": fast(both(
        drop(NET, "desk"), mailbox(HART, "desk", previous=["desk@hartcole.net"], quota="40 GiB"))),
    "a-file-that-is-no-estate-file": fast(lambda e: e.write("northwind/README.md", "notes\n")),
    "forward-to-another-spelling": fast(field(HART, "r.cole", "forward", {"to": ["Billing@NorthWind.example"]})),
    "forward-to-a-unicode-spelling": fast(field(HART, "m.chen", "forward", {"to": ["anna@bäckerei-müller.example"]})),
    # -- a problem across files: the fallback ------------------------------------------------
    "address-of-another-files-extra-address": falls(mailbox(NET, "jane")),
    "extra-address-taken-in-another-file": falls(field(HART, "m.chen", "aliases", ["desk@hartcole.net"])),
    "domain-declared-twice": falls(lambda e: e.write("northwind/hartcole.net.yaml", {"domain": "hartcole.net"})),
    "extra-address-domain-deleted": falls(lambda e: e.remove(NET)),
    "forward-target-removed": falls(drop(NW, "billing")),
    # noc@southbay.example, an alias target of the school's, then lands in the catch-all
    "alias-target-caught-by-the-catch-all": fast(lambda e: e.edit(SB, lambda d: (
        d["mailboxes"].pop("noc"), d["aliases"].update({"postmaster": "dialup-test", "abuse": "dialup-test"})))),
    "alias-target-removed": falls(lambda e: e.edit(SB, lambda d: (
        d["mailboxes"].pop("noc"), d.pop("mail"), d["aliases"].update({"postmaster": "ftp-test", "abuse": "ftp-test"}))
    )),
    "alias-domain-of-another-reseller": falls(lambda e: e.edit(BAKERY_ASCII, lambda d: d.__setitem__(
        "alias_of", "southbay.example"))),
    "catch-all-target-removed": falls(lambda e: e.edit(SCHOOL, lambda d: (
        d["mailboxes"].pop("office"), d["aliases"]["staff"].remove("office")))),
    "alias-domain-target-deleted": falls(lambda e: e.remove(BAKERY)),
    "alias-domain-retargeted": fast(lambda e: e.edit(BAKERY_ASCII, lambda d: d.__setitem__(
        "alias_of", "hartcole.net"))),
    "previous-taken-in-file": falls(mailbox(HART, "x.new", previous=["r.cole"])),
    "previous-claimed-by-another-file": falls(mailbox(NET, "front", previous=["jane"])),
    "previous-of-another-tenant": falls(mailbox(SCHOOL, "x.new", previous=["noc@northwind.example"])),
    "tenant-mailbox-limit": falls(lambda e: e.edit(HART, lambda d: d["mailboxes"].update(
        {f"x{i}": box() for i in range(8)}))),
    "tenant-quota-pool": falls(field(HART, "j.hart", "quota", "10 GiB")),
    "reseller-quota-pool": falls(field(NW, "noc", "quota", "500 GiB")),
    "tenant-limit-lowered": falls(lambda e: e.edit("northwind/lawfirm/tenant.yaml", lambda d: d["limits"].__setitem__(
        "max_domains", 1))),
    "new-tenant-with-a-taken-domain": falls(both(
        lambda e: e.write("southbay/clinic/tenant.yaml", {"name": "Clinic"}),
        lambda e: e.write("southbay/clinic/clinic.example.yaml", {"domain": "northwind.example"}))),
    "web-host-of-another-file": falls(sites(NW, **{"@": {"aliases": ["www", "www.baeckerei-mueller.example"]}})),
    "web-alias-into-another-tenant": falls(sites(SB, **{"@": {"aliases": ["www", "shop.northwind.example"]}})),
    # a new domain of the bakery's (on the roomy web host) with a site answering for hosts the
    # bakery's other file has: an alias of its site, its derived autoconfig and mta-sts sites
    "web-host-claimed-in-the-tenant": falls(lambda e: e.write(BAKERY_SHOP, shop("www.baeckerei-mueller.example"))),
    "web-derived-autoconfig-claimed-in-the-tenant": falls(lambda e: e.write(BAKERY_SHOP, shop(
        "autoconfig.xn--bckerei-mller-bfb28a.example"))),
    "web-derived-mta-sts-claimed-in-the-tenant": falls(lambda e: e.write(BAKERY_SHOP, shop(
        "mta-sts.xn--bckerei-mller-bfb28a.example"))),
    "web-alias-in-the-alias-domains-zone": fast(lambda e: e.write(BAKERY_SHOP, shop("shop.baeckerei-mueller.example"))),
    "web-new-domain-of-the-tenant": fast(lambda e: e.write(BAKERY_SHOP, shop("www.mueller-shop.example"))),
    "web-derived-autoconfig-host-claimed": falls(sites(BAKERY, **{"@": {"aliases": [
        "www", "baeckerei-mueller.example", "www.baeckerei-mueller.example", "autoconfig.northwind.example"]}})),
    "web-derived-mta-sts-domain": falls(lambda e: e.write("southbay/mta-sts.southbay.example.yaml", {
        "domain": "mta-sts.southbay.example", "services": ["web"]})),
    "web-host-capacity": falls(sites(BAKERY, shop={})),
    "mail-store-capacity": falls(mailbox(SCHOOL, "x.new")),
    "placement-unknown-host": falls(lambda e: e.edit(SCHOOL, lambda d: d.__setitem__(
        "placement", {"mail_store": "mx9.example.net"}))),
    "web-uid-pin-taken": falls(lambda e: e.edit("southbay/tenant.yaml", lambda d: d.__setitem__(
        "web", {"uid": 123456789}))),
    "web-uid-pin-on-a-derived-uid": falls(lambda e: e.edit("southbay/tenant.yaml", lambda d: d.__setitem__(
        "web", {"uid": derived_uid("northwind", 100_000_000, 199_999_999)}))),
    "dns-domain-in-a-delegated-name": fast(lambda e: e.write("northwind/lab.northwind.example.yaml", {
        "domain": "lab.northwind.example", "services": ["dns"]})),
    "dns-domain-under-a-wildcard": fast(lambda e: e.write("northwind/x.dev.northwind.example.yaml", {
        "domain": "x.dev.northwind.example", "services": ["dns"]})),
    "dns-domain-named-as-a-web-alias": fast(lambda e: e.write("southbay/www.southbay.example.yaml", {
        "domain": "www.southbay.example", "services": ["dns"]})),
    "radius-login-of-an-address": falls(mailbox(SB, "dsl-1")),
    "radius-login-claimed-by-another-file": falls(lambda e: e.write("southbay/southbay.net.yaml", {
        "domain": "southbay.net", "services": ["mail"], "placement": {"mail_store": "mx1.example.net"},
        "mailboxes": {"desk": box(aliases=["dsl-1@southbay.example"])}})),
    "radius-login-claimed-by-another-tenant": falls(field(SCHOOL, "office", "aliases", ["dsl-1@southbay.example"])),
    "ftp-login-for-no-site": falls(lambda e: e.edit(SB, lambda d: d["ftp"]["sites"].__setitem__(
        "nope", {"password": HASH}))),
    "dns-child-zone-of-a-site": falls(lambda e: e.write("northwind/shop.northwind.example.yaml", {
        "domain": "shop.northwind.example", "services": ["dns"]})),
    "domain-declared-twice-in-ascii": falls(lambda e: e.write("northwind/bakery/x.yaml", {
        "domain": "xn--bckerei-mller-bfb28a.example"})),
    "domain-declared-twice-in-capitals": falls(lambda e: e.write("northwind/bakery/x.yaml", {
        "domain": "NorthWind.Example"})),
    "domain-file-without-tenant-file": falls(lambda e: e.write("northwind/orphans/orphan.example.yaml", {
        "domain": "orphan.example"})),
    "forward-to-a-former-address": falls(both(
        lambda e: e.edit(HART, lambda d: d["mailboxes"].__setitem__("helpdesk", {
            **d["mailboxes"].pop("it"), "previous": ["it"]})),
        field(NW, "noc", "forward", {"to": ["it@hartcole.example"]}))),
    "yaml-syntax-error": falls(lambda e: e.write(HART, "domain: [hartcole.example\n")),
    "empty-domain-file": falls(lambda e: e.write(SCHOOL, "")),
    # -- nothing wrong, but nothing the snapshot can vouch for: the fallback -----------------
    "site-settings-comment": falls(lambda e: e.write(SITE, e.path(SITE).read_text() + "# a comment\n"),
                                   "site settings"),
    "site-settings-capacity": falls(lambda e: e.edit(SITE, lambda d: d["cluster"]["hosts"][
        "mx2.example.net"].__setitem__("capacity", 20)), "site settings"),
    "site-settings-committed": falls(committed(lambda e: e.write(SITE, e.path(SITE).read_text() + "# a comment\n")),
                                     "another context"),
    "damaged-snapshot": falls(both(damage, field(HART, "j.hart", "name", "J")), "damaged"),
    "truncated-snapshot": falls(both(lambda e: e.snapshot_path.write_bytes(e.snapshot_path.read_bytes()[:40]),
                                     field(HART, "j.hart", "name", "J")), "damaged"),
    "no-snapshot": falls(both(lambda e: e.snapshot_path.unlink(), field(HART, "j.hart", "name", "J")), "no snapshot"),
    "three-files-changed": falls(both(field(HART, "j.hart", "name", "J"), field(NW, "noc", "name", "N"),
                                      field(SCHOOL, "head", "name", "H")), "files changed"),
}


@pytest.mark.parametrize("name", CASES)
def test_a_change_gives_the_full_runs_result(example: Warm, name: str) -> None:
    case = CASES[name]
    case.change(example)
    found = example.compare()
    if case.fast:
        assert isinstance(found, Desired), found
        assert found.partial is not None and found.partial.outlined
    else:
        assert isinstance(found, Fallback), f"{name} took the fast path"
        assert case.reason in found.reason, found.reason
        assert (example.last is None) == (case.reason == "problem")  # a problem: the full run's too


# -- the plan: ispctl plan --changed-since over the snapshot, against the full way --------------

# Changes whose desired state the snapshot gives, but whose plan needs what is only outlined
# (Incomplete): planned again the full way, slower, never different.
PLANNED_THE_FULL_WAY = {
    # a deleted domain's plan reads its tenant's other domain's records
    "delete-domain-file": "dns.hartcole.net/@/MX is only outlined",
    # a file in a tenant's folder that is no estate file: the plan takes the whole tenant
    "a-file-that-is-no-estate-file": "is only outlined",
}


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.fast or case.reason == "problem"])
def test_a_changes_plan_over_the_snapshot_is_the_full_ones(
        example: Warm, live: dict[str, str], name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The same change planned by the command line over the warm snapshot and the full way:
    the same exit code, JSON and stderr, byte for byte."""
    CASES[name].change(example)
    fast = plan_both_ways(example, live, capsys)
    case = CASES[name]
    if not case.fast:
        assert fast.code == 1 and not fast.fast  # the problem, worded by the full way
    elif name in PLANNED_THE_FULL_WAY:
        assert not fast.fast and fast.reason is not None and PLANNED_THE_FULL_WAY[name] in fast.reason, fast.reason
    else:
        assert fast.fast, fast.reason
