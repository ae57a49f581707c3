"""``ispctl import dns``: a zone file becomes YAML that compiles back to the same zone."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import dns.zone
from estate_builder import SITE, EstateBuilder, mailbox
from ruamel.yaml import YAML
from typer.testing import CliRunner, Result

from ispctl.reconciler.cli.app import app
from ispctl.reconciler.engine.resources import Resource

DNS: dict[str, Any] = {
    "ns": ["ns1.example.net.", "ns2.example.net."],
    "soa": {"mname": "ns1.example.net.", "rname": "hostmaster@example.net"},
    "mail": {"mx": ["10 mx1.example.net."], "spf": "v=spf1 mx -all", "dmarc": "v=DMARC1; p=none"},
    "web": {"a": ["192.0.2.80"]},
    "ignore": [{"name": "_acme-challenge*", "type": "TXT"}],
}
LONG = "k" * 300
ZONE = f"""\
$ORIGIN acme.example.
$TTL 1h
@        IN SOA ns1.example.net. hostmaster.example.net. 2024060101 3h 30m 1w 1h
@        IN NS  ns1.example.net.
@        IN NS  ns2.example.net.
@        IN MX  10 mx1.example.net.
@        IN TXT "v=spf1 mx -all"
@        IN CAA 0 issue "letsencrypt.org"
www      IN CNAME @
mail 300 IN A   198.51.100.25
mail     IN AAAA 2001:DB8::25
*.dev    IN A   198.51.100.20
lab      IN NS  ns1.lab
ns1.lab  IN A   198.51.100.53
_sip._tcp IN SRV 10 5 5060 sip.example.net.
long     IN TXT "{LONG[:255]}" "{LONG[255:]}"
split    IN TXT "part one" "part two"
multi    IN TXT "first"\x20
multi    IN TXT "second"
ptr      IN PTR host.example.net.
_acme-challenge IN TXT "token"
sec      IN TLSA 3 1 1 {"ab" * 32}
_ispctl-fingerprint 0 IN TXT "abcdefgh=abcdefghij"
"""
REL = "tenants/acme/acme.example.yaml"


def estate(tmp_path: Path, domain: str | None = None) -> EstateBuilder:
    builder = EstateBuilder(tmp_path, site={**SITE, "dns": DNS})
    builder.tenant("acme")
    if domain is not None:
        builder.write(REL, domain)
    return builder


def zone_file(tmp_path: Path, text: str = ZONE) -> Path:
    path = tmp_path / "acme.example.db"
    path.write_text(text, encoding="utf-8")
    return path


def run_import(builder: EstateBuilder, *args: str) -> Result:
    return CliRunner().invoke(app, ["--no-color", "import", "dns", "--dir", str(builder.root), *args])


def zone_rrsets(path: Path) -> tuple[dict[str, tuple[int, tuple[str, ...]]], str, tuple[str, ...], int]:
    """Record sets, SOA (without serial), apex NS and SOA TTL as dnspython reads the file."""
    zone = dns.zone.from_file(str(path), origin="acme.example.", relativize=True)
    origin = zone.origin
    assert origin is not None
    found = {}
    soa, ns, ttl = "", (), 0
    for name, node in zone.nodes.items():
        owner = name.to_text().lower()
        for rds in node.rdatasets:
            rdtype = dns.rdatatype.to_text(rds.rdtype)
            texts = tuple(sorted(r.to_text(origin=origin, relativize=False) for r in rds))
            if owner == "@" and rdtype == "SOA":
                r = rds[0]
                soa, ttl = (
                    f"{r.mname.derelativize(origin)} {r.rname.derelativize(origin)} "
                    f"{r.refresh} {r.retry} {r.expire} {r.minimum}",
                    rds.ttl,
                )
            elif owner == "@" and rdtype == "NS":
                ns = texts
            else:
                found[f"{owner}/{rdtype}"] = (rds.ttl, texts)
    return found, soa, ns, ttl


def compiled(builder: EstateBuilder) -> dict[str, Resource]:
    return {r.address: r for r in builder.resources().values()}


def rrsets_of(resources: dict[str, Resource], zone: str) -> dict[str, tuple[int, tuple[str, ...]]]:
    prefix = f"dns.{zone}/"
    out = {}
    for address, res in resources.items():
        if address.startswith(prefix):
            ttl, records = res.attrs["ttl"], res.attrs["records"]
            assert isinstance(ttl, int) and isinstance(records, tuple)
            out[address[len(prefix):]] = (ttl, records)
    return out


def test_import_then_compile_gives_back_the_zone_files_record_sets(tmp_path: Path) -> None:
    builder = estate(tmp_path)
    path = zone_file(tmp_path)
    done = run_import(builder, "--zone", "acme.example", "--from-file", str(path), "--out", str(builder.root / REL))
    assert done.exit_code == 0, done.output
    expected, soa, ns, ttl = zone_rrsets(path)
    for gone in ("_acme-challenge/TXT", "sec/TLSA", "_ispctl-fingerprint/TXT"):
        del expected[gone]  # owned by others, or not expressible: never imported
    resources = compiled(builder)
    assert rrsets_of(resources, "acme.example") == expected
    zone = resources["dns_zone.acme.example"].attrs
    assert (zone["soa"], zone["ns"], zone["default_ttl"]) == (soa, ns, ttl)
    assert zone["soa"] == "ns1.example.net. hostmaster.example.net. 10800 1800 604800 3600"
    assert "  not imported: _acme-challenge TXT (dns.ignore gives it to another tool)" in done.stdout
    assert "  not imported: sec TLSA (a type ispctl does not manage)" in done.stdout
    assert "_ispctl-fingerprint" not in done.stdout


def test_the_written_yaml_is_short_and_relative(tmp_path: Path) -> None:
    builder = estate(tmp_path)
    done = run_import(builder, "--zone", "acme.example", "--from-file", str(zone_file(tmp_path)),
                      "--out", str(builder.root / REL))
    assert done.exit_code == 0, done.output
    assert "Wrote the dns: section of acme.example" in done.stdout
    assert "12 record set(s) written, 2 left to derivation, 1 derived set(s) marked as none" in done.stdout
    data = YAML(typ="safe").load((builder.root / REL).read_text(encoding="utf-8"))
    assert data["domain"] == "acme.example"
    section = data["dns"]
    assert "ttl" not in section and "ns" not in section  # both as the site says
    assert section["soa"] == {"minimum": "1h"}  # the only SOA field that differs from the site's
    records = section["records"]
    assert "MX" not in records["@"]               # equal to the derived one: stays derived
    assert records["www"] == {"CNAME": "@"}
    assert records["mail"] == {"A": {"ttl": "5m", "values": ["198.51.100.25"]}, "AAAA": "2001:db8::25"}
    assert records["long"] == {"TXT": LONG}        # ispctl's own split: written as one string
    assert records["split"] == {"TXT": [["part one", "part two"]]}
    assert records["multi"] == {"TXT": ["first", "second"]}
    assert records["lab"] == {"NS": "ns1.lab"}
    assert records["_dmarc"] == {"TXT": []}        # derived, absent from the zone: kept absent
    assert "_acme-challenge" not in records and "sec" not in records


def test_an_existing_domain_file_keeps_its_comments_and_content(tmp_path: Path) -> None:
    original = textwrap.dedent("""\
        # Acme's own domain.
        domain: acme.example
        services: [mail, web, dns]   # web: derived @ and www A
        mailboxes:
          anna:
            password: "{hash}"
        dns:
          ttl: 5m            # replaced by the import
          records:
            old: {A: 192.0.2.99}
        # trailing comment
        """).replace("{hash}", mailbox()["password"])
    builder = estate(tmp_path, original)
    done = run_import(builder, "--zone", "acme.example", "--from-file", str(zone_file(tmp_path)))
    assert done.exit_code == 0, done.output
    assert "Updated the dns: section of acme.example" in done.stdout
    text = (builder.root / REL).read_text(encoding="utf-8")
    head = original.split("dns:")[0]
    assert text.startswith(head)
    assert "old:" not in text and "dns:\n  ttl: 5m" not in text and "# trailing comment" in text
    assert "    '@':\n      A: []\n" in text  # the web service derives @ A; the zone has none
    expected = zone_rrsets(zone_file(tmp_path))[0]
    got = rrsets_of(compiled(builder), "acme.example")
    assert set(got) == set(expected) - {"_acme-challenge/TXT", "sec/TLSA", "_ispctl-fingerprint/TXT"}
    second = run_import(builder, "--zone", "acme.example", "--from-file", str(zone_file(tmp_path)))
    assert second.exit_code == 0 and (builder.root / REL).read_text(encoding="utf-8") == text


def test_an_alias_domain_import_keeps_the_target_mx_derived(tmp_path: Path) -> None:
    builder = estate(tmp_path,
                     f"domain: acme.example\nmailboxes:\n  anna:\n    password: \"{mailbox()['password']}\"\n")
    builder.write("tenants/acme/acme-alias.example.yaml",
                  "domain: acme-alias.example\ntype: alias\nalias_of: acme.example\n")
    alias_zone = """\
        $TTL 3600
        @ IN SOA ns1.example.net. hostmaster.example.net. 1 10800 1800 604800 86400
        @ IN NS ns1.example.net.
        @ IN NS ns3.example.net.
        @ IN MX 10 mx1.example.net.
        @ IN TXT "v=spf1 mx -all"
        """
    path = tmp_path / "alias.db"
    path.write_text(textwrap.dedent(alias_zone))
    done = run_import(builder, "--zone", "ACME-alias.example", "--from-file", str(path))
    assert done.exit_code == 0, done.output
    section = YAML(typ="safe").load((builder.root / "tenants/acme/acme-alias.example.yaml").read_text())["dns"]
    assert section == {"ns": ["ns1.example.net.", "ns3.example.net."], "records": {"_dmarc": {"TXT": []}}}
    assert compiled(builder)["dns_zone.acme-alias.example"].attrs["ns"] == ("ns1.example.net.", "ns3.example.net.")


def test_import_refuses_domains_without_records_of_ours(tmp_path: Path) -> None:
    builder = estate(tmp_path, "domain: acme.example\ntype: nodns\nmailboxes:\n"
                               f"  anna:\n    password: \"{mailbox()['password']}\"\n")
    done = run_import(builder, "--zone", "acme.example", "--from-file", str(zone_file(tmp_path)))
    assert done.exit_code == 1
    assert "Error: acme.example is a nodns domain: ispctl keeps no records for it" in done.stderr


def test_a_new_domain_needs_out_in_a_tenant_folder(tmp_path: Path) -> None:
    builder = estate(tmp_path)
    path = str(zone_file(tmp_path))
    missing = run_import(builder, "--zone", "acme.example", "--from-file", path)
    assert missing.exit_code == 1
    assert (
        "acme.example is not in the estate yet: "
        f"say where its file goes with --out {builder.root}/tenants/<tenant>/acme.example.yaml"
    ) in missing.stderr
    outside = run_import(builder, "--zone", "acme.example", "--from-file", path, "--out", str(tmp_path / "acme.yaml"))
    assert outside.exit_code == 1 and "--out must be a .yaml file in a tenant's folder" in outside.stderr
    assert not (tmp_path / "acme.yaml").exists()


def test_a_broken_zone_file_is_reported_with_its_line(tmp_path: Path) -> None:
    builder = estate(tmp_path)
    broken = zone_file(tmp_path, ZONE.replace("mail 300 IN A   198.51.100.25", "mail 300 IN A   198.51.100.300"))
    done = run_import(builder, "--zone", "acme.example", "--from-file", str(broken), "--out", str(builder.root / REL))
    assert done.exit_code == 1
    # dnspython names the line after the bad one when that line ends with a newline.
    assert re.search(
        f"Error: {re.escape(str(broken))}: not a valid zone file for acme.example: {re.escape(str(broken))}:1[01]: ",
        done.stderr,
    )
    wrong = run_import(builder, "--zone", "other.example", "--from-file", str(zone_file(tmp_path)),
                       "--out", str(builder.root / "tenants/acme/other.example.yaml"))
    assert wrong.exit_code == 1 and "the zone has no SOA record at other.example." in wrong.stderr
    assert not (builder.root / REL).exists()


def test_import_into_an_estate_without_dns_settings_is_refused(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path)
    builder.tenant("acme")
    done = run_import(builder, "--zone", "acme.example", "--from-file", str(zone_file(tmp_path)),
                      "--out", str(builder.root / REL))
    assert done.exit_code == 1
    assert "DNS is not managed by this estate: add a dns: section (at least ns:) to ispctl.yaml first" in done.stderr
