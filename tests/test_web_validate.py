"""Web rules: each has a failing input whose problem names file, line, field and reason, and
the estate reports every problem at once."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from estate_builder import SITE, EstateBuilder

from ispctl.providers.web.users import derived_uid
from tests.wiring import problems_of

REL = "tenants/acme/acme.example.yaml"
FILE = f"desired-state/{REL}"
NET = "desired-state/tenants/acme/acme.net.yaml"
OTHER = "desired-state/tenants/other/other.example.yaml"


DNS_01 = {"acme_challenge": "dns-01"}


def estate(tmp_path: Path, sites: str, web: dict[str, Any] | None = None, head: str = "services: [web]\n"
           ) -> EstateBuilder:
    """acme.example (tenant acme) with ``sites`` (YAML under web.sites, from line 5), acme.net
    (acme's too) and other.example (tenant other), both with the default site. DNS is managed
    when the web settings ask for DNS-01 certificates."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    dns = {"dns": {"ns": ["ns1.example.net."]}} if web is not None and web.get("acme_challenge") == "dns-01" else {}
    builder = EstateBuilder(tmp_path, site={**SITE, **dns, **({"web": web} if web is not None else {})})
    builder.tenant("acme")
    builder.tenant("other")
    body = textwrap.indent(textwrap.dedent(sites).strip("\n"), "    ")
    builder.write(REL, f"domain: acme.example\n{head}web:\n  sites:\n{body}\n")
    builder.write("tenants/acme/acme.net.yaml", "domain: acme.net\nservices: [web]\n")
    builder.write("tenants/other/other.example.yaml", "domain: other.example\nservices: [web]\n")
    return builder


def problems(tmp_path: Path, sites: str, web: dict[str, Any] | None = None, **more: Any) -> list[str]:
    """Every problem of the estate (none when it is valid)."""
    return [str(p) for p in problems_of(estate(tmp_path, sites, web, **more).root)]


def test_a_valid_set_of_sites_has_no_problem(tmp_path: Path) -> None:
    builder = estate(tmp_path, """
        "@": {aliases: [www, acme.net, "*.dev"], redirects: [{from: /old, to: /new}]}
        shop: {https: off, php: on, protected: {/admin: [anna]},
               logins: {anna: "$apr1$6CSJVAWc$RD9Rb36gGMhfB5FKpYYqI1"}}
        old: {redirects: [{from: "*", to: "https://acme.example/"}]}
    """, DNS_01, head="services: [web, dns]\n")
    builder.write("tenants/acme/acme.net.yaml", "domain: acme.net\nservices: [web, dns]\nweb: {sites: {www: {}}}\n")
    builder.write("tenants/other/other.example.yaml", "domain: other.example\nservices: [web, dns]\n")
    builder.catalog()


def test_a_site_outside_its_domain(tmp_path: Path) -> None:
    assert problems(tmp_path, "www.other.example: {}\nacme.example.org: {}") == [
        f"{FILE}:5:5: web.sites['www.other.example']: www.other.example is outside the domain acme.example: a site "
        "here is '@', a label such as www or shop, or a full name ending in .acme.example",
        f"{FILE}:6:5: web.sites['acme.example.org']: acme.example.org is outside the domain acme.example: a site "
        "here is '@', a label such as www or shop, or a full name ending in .acme.example",
    ]


def test_a_site_in_a_sub_domain_that_has_a_file_of_its_own(tmp_path: Path) -> None:
    builder = estate(tmp_path, "www.eu.acme.example: {}")
    builder.write("tenants/acme/eu.acme.example.yaml", "domain: eu.acme.example\nservices: [mail]\n")
    assert [str(p) for p in builder.problems()] == [
        f"{FILE}:5:5: web.sites['www.eu.acme.example']: www.eu.acme.example is in the domain eu.acme.example "
        "(desired-state/tenants/acme/eu.acme.example.yaml:1:1); declare the site in that domain's file",
    ]


def test_a_wildcard_is_no_site_name_and_bad_names_are_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, "'*': {}\n'x*': {}\nbad_name: {}") == [
        f"{FILE}:5:5: web.sites['*']: a site's own name cannot be a wildcard (*.acme.example); make it an alias of a "
        "site",
        f"{FILE}:6:5: web.sites['x*']: 'x*': '*' is only allowed as the whole leftmost label",
        f"{FILE}:7:5: web.sites.bad_name: 'bad_name.acme.example' is not a valid domain name (Codepoint U+005F at "
        "position 4 of 'bad_name' not allowed)",
    ]


def test_one_host_claimed_twice_in_one_file_names_both_places(tmp_path: Path) -> None:
    assert problems(tmp_path, "'@': {aliases: [www]}\nwww.acme.example: {}\nWWW: {}") == [
        f"{FILE}:6:5: web.sites['www.acme.example']: www.acme.example is already claimed by the site at "
        f"{FILE}:5:21; a host name belongs to one site",
        f"{FILE}:7:5: web.sites.WWW: www.acme.example is already claimed by the site at {FILE}:5:21; a host name "
        "belongs to one site",
    ]


def test_one_host_claimed_in_two_files_names_both_places(tmp_path: Path) -> None:
    builder = estate(tmp_path, "'@': {aliases: [www.acme.net]}")
    builder.write("tenants/acme/acme.net.yaml", "domain: acme.net\nservices: [web]\nweb:\n  sites:\n    www: {}\n")
    # acme.example's site is checked first (domains in name order), so acme.net's is the second claim
    assert [str(p) for p in builder.problems()] == [
        f"{NET}:5:5: web.sites.www: www.acme.net is already claimed by the site at {FILE}:5:21; a host name belongs "
        "to one site",
    ]


def test_aliases_stay_in_the_tenants_domains(tmp_path: Path) -> None:
    assert problems(tmp_path, "'@': {aliases: [www.other.example, shop.nowhere.example, '@', www, www]}") == [
        f"{FILE}:5:21: web.sites['@'].aliases[0]: www.other.example is in the domain other.example of tenant other, "
        "not acme",
        f"{FILE}:5:40: web.sites['@'].aliases[1]: shop.nowhere.example is in no domain of this estate; an alias is a "
        "name in one of the tenant's domains (add the domain, type nodns if its DNS is elsewhere)",
        f"{FILE}:5:62: web.sites['@'].aliases[2]: acme.example is the site's own name",
        f"{FILE}:5:72: web.sites['@'].aliases[4]: www.acme.example is already claimed by the site at {FILE}:5:67; a "
        "host name belongs to one site",
    ]


def test_a_whole_host_redirect_to_itself_is_a_loop(tmp_path: Path) -> None:
    assert problems(tmp_path, "'@': {aliases: [www], redirects: [{from: '*', to: 'https://www.acme.example/'}]}") == [
        f"{FILE}:5:39: web.sites['@'].redirects[0]: redirect loop: * on acme.example redirects to "
        "https://www.acme.example/, which this same redirect matches again (HTTPS redirection is what https: auto "
        "or custom does)",
    ]


def test_a_path_redirected_into_itself_is_a_loop_and_elsewhere_is_not(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        "@":
          redirects:
            - {from: /docs, to: /docs/index.html}
            - {from: /old, to: /new}
            - {from: /a/, to: /a}
            - {from: /shop, to: "http://acme.example/shop/"}
    """) == [
        f"{FILE}:7:11: web.sites['@'].redirects[0]: redirect loop: /docs on acme.example redirects to "
        "/docs/index.html, which this same redirect matches again",
        f"{FILE}:9:11: web.sites['@'].redirects[2]: redirect loop: /a/ on acme.example redirects to /a, which this "
        "same redirect matches again",
        f"{FILE}:10:11: web.sites['@'].redirects[3]: redirect loop: /shop on acme.example redirects to "
        "http://acme.example/shop/, which this same redirect matches again",
    ]


def test_a_loop_among_sites_is_reported_once_naming_every_redirect(tmp_path: Path) -> None:
    # lead-in -> a -> b -> acme.net (its default site answers www.acme.net), which redirects nowhere
    assert problems(tmp_path, """
        a: {redirects: [{from: '*', to: 'https://b.acme.example/'}]}
        b: {redirects: [{from: /x, to: /y}, {from: '*', to: 'https://www.acme.net/'}]}
        lead-in: {redirects: [{from: '*', to: 'http://a.acme.example/'}]}
    """) == []
    # ... and once acme.net sends everything back to a, the loop is a -> b -> acme.net -> a; lead-in
    # only leads into it and is not reported
    builder = estate(tmp_path / "loop", """
        a: {redirects: [{from: '*', to: 'https://b.acme.example/'}]}
        b: {redirects: [{from: /x, to: /y}, {from: '*', to: 'https://www.acme.net/'}]}
        lead-in: {redirects: [{from: '*', to: 'http://a.acme.example/'}]}
    """)
    builder.write("tenants/acme/acme.net.yaml", "domain: acme.net\nservices: [web]\nweb:\n  sites:\n"
                                                "    '@': {aliases: [www], redirects: [{from: /, to: 'https://a.acme.example'}]}\n")
    assert [str(p) for p in builder.problems()] == [
        f"{FILE}:5:21: web.sites.a.redirects[0]: redirect loop: * on a.acme.example -> b.acme.example ({FILE}:6:41) "
        f"-> acme.net ({NET}:5:39) -> back here",
    ]


def test_path_redirects_between_sites_loop_only_when_the_paths_meet(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        a: {redirects: [{from: /go, to: 'https://b.acme.example/back'}]}
        b: {redirects: [{from: /back, to: 'https://a.acme.example/elsewhere'}, {from: /x, to: 'https://a.acme.example/go'}]}
    """) == []  # b/x -> a/go -> b/back -> a/elsewhere: no redirect there, the chain ends
    assert problems(tmp_path / "2", """
        a: {redirects: [{from: /go, to: 'https://b.acme.example/back'}]}
        b: {redirects: [{from: /back, to: 'https://a.acme.example/go'}]}
    """) == [
        f"{FILE}:5:21: web.sites.a.redirects[0]: redirect loop: /go on a.acme.example -> b.acme.example "
        f"({FILE}:6:21) -> back here",
    ]


def test_two_redirects_from_one_path(tmp_path: Path) -> None:
    assert problems(tmp_path, "'@': {redirects: [{from: /a, to: /b}, {from: /a/, to: /c}]}") == [
        f"{FILE}:5:44: web.sites['@'].redirects[1].from: /a/ is redirected already by redirect 0",
    ]


def test_hsts_needs_https_and_wildcards_need_dns_01(tmp_path: Path) -> None:
    assert problems(tmp_path, "'@': {https: off, hsts: 1w}\nwww: {aliases: ['*']}") == [
        f"{FILE}:5:23: web.sites['@'].hsts: HSTS needs HTTPS: this site's https is off",
        f"{FILE}:6:21: web.sites.www.aliases[0]: a certificate for *.acme.example needs DNS-01 (a CA validates "
        "wildcards over DNS only): set web.acme_challenge: dns-01 in ispctl.yaml, or https off or custom for this "
        "site",
    ]
    builder = estate(tmp_path / "2", "www: {aliases: ['*']}", DNS_01, head="services: [web, dns]\n")
    builder.write("tenants/acme/acme.net.yaml", "domain: acme.net\nservices: [web]\n"
                                                "web: {sites: {www: {https: off}}}\n")
    builder.write("tenants/other/other.example.yaml", "domain: other.example\nservices: [web, dns]\n")
    builder.catalog()
    assert problems(tmp_path / "3", "www: {aliases: ['*'], https: off}") == []


def test_protected_paths_name_defined_logins(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        "@":
          protected: {/admin: [anna, bob], /empty: []}
          logins: {anna: "$apr1$6CSJVAWc$RD9Rb36gGMhfB5FKpYYqI1"}
    """) == [
        f"{FILE}:6:34: web.sites['@'].protected['/admin'][1]: no login 'bob' in this site's logins (defined: anna)",
        f"{FILE}:6:40: web.sites['@'].protected['/empty']: lists no login: name at least one from this site's logins",
    ]


def test_model_problems_come_with_file_and_line_and_never_echo_a_password(tmp_path: Path) -> None:
    found = problems(tmp_path, """
        "@":
          docroot: ../../etc
          redirects: [{from: /a, to: /b, code: 404}]
          logins: {anna: "correct-horse"}
    """)
    assert found == [
        f"{FILE}:6:7: web.sites['@'].docroot: '../../etc' leaves the tenant's web home ('..'); a docroot stays "
        "inside it",
        f"{FILE}:7:38: web.sites['@'].redirects[0].code: must be 301, 302, 307 or 308",
        f"{FILE}:8:16: web.sites['@'].logins.anna: is not a password hash (plaintext or a damaged hash; the value is "
        "not shown); store bcrypt ($2y$...), SHA-512 crypt ($6$...) or Apache MD5 ($apr1$...), e.g. from "
        "'htpasswd -nB <name>'",
    ]
    assert not any("correct-horse" in p for p in found)


def test_a_web_section_needs_the_web_service(tmp_path: Path) -> None:
    assert problems(tmp_path, "www: {}", head="services: [mail]\n") == [
        f"{FILE}:3:1: web: this domain does not enable the web service (add 'web' to services)",
    ]


def collide(low: int, high: int) -> tuple[int, int]:
    """Two uids of the range: acme's derived one and another."""
    mine = derived_uid("acme", low, high)
    return mine, next(u for u in range(low, high + 1) if u != mine)


def test_two_tenants_on_one_uid_are_named_both(tmp_path: Path) -> None:
    web = {"uid_min": 5000, "uid_max": 5000}  # one uid for everyone: every pair collides
    assert problems(tmp_path, "www: {}", web) == [
        "desired-state/tenants/other/tenant.yaml:1:1: name: tenant other's web uid 5000 (derived from its name) is "
        "also tenant acme's (desired-state/tenants/acme/tenant.yaml:1:1); pin another with web: {uid: N} in one of "
        "the two tenant files",
    ]


def test_a_pinned_uid_resolves_a_collision_and_must_be_in_the_range(tmp_path: Path) -> None:
    acme, free = collide(7000, 7001)
    builder = estate(tmp_path, "www: {}", {"uid_min": 7000, "uid_max": 7001})
    builder.tenant("other", f"name: Other\nweb: {{uid: {acme}}}\n")
    assert [str(p) for p in builder.problems()] == [
        f"desired-state/tenants/other/tenant.yaml:2:7: web.uid: tenant other's web uid {acme} (pinned) is also tenant "
        "acme's (desired-state/tenants/acme/tenant.yaml:1:1); pin another with web: {uid: N} in one of the two tenant "
        "files",
    ]
    builder.tenant("other", f"name: Other\nweb: {{uid: {free}}}\n")
    builder.catalog()
    builder.tenant("other", "name: Other\nweb: {uid: 9000}\n")
    assert [str(p) for p in builder.problems()] == [
        "desired-state/tenants/other/tenant.yaml:2:7: web.uid: 9000 is outside web.uid_min..web.uid_max "
        "(7000..7001)",
    ]


def test_an_empty_uid_range(tmp_path: Path) -> None:
    assert problems(tmp_path, "www: {}", {"uid_min": 6000, "uid_max": 5000}) == [
        "desired-state/ispctl.yaml:4:3: web.uid_min: web.uid_min (6000) is above web.uid_max (5000)",
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    builder = estate(tmp_path, """
        www.other.example: {}
        "@": {aliases: [www.other.example], https: off, hsts: 1d, redirects: [{from: '*', to: /}]}
        shop: {protected: {/a: [nobody]}, docroot: /abs}
    """, {"uid_min": 6000, "uid_max": 5000})
    builder.write("tenants/acme/acme.net.yaml", "domain: acme.net\nservices: [mail]\nweb: {}\n")
    paths = [p.path for p in builder.problems()]
    assert paths == [
        "web.uid_min", "web.sites['www.other.example']", "web.sites['@'].aliases[0]", "web.sites['@'].hsts",
        "web.sites['@'].redirects[0]", "web.sites.shop.protected['/a'][0]", "web.sites.shop.docroot", "web",
    ]


def test_wrong_shapes_are_reported_where_they_are_written(tmp_path: Path) -> None:
    assert problems(tmp_path, """
        "@": just a string
        shop: {redirects: {from: /a, to: /b}, status: paused, colour: blue}
        blog: {https: {cert_file: /etc/ssl/a.pem, key_file: /etc/ssl/a.key, chain: /c}, protected: [/a]}
    """) == [
        f"{FILE}:5:5: web.sites['@']: expected a mapping of settings (key: value) here",
        f"{FILE}:6:12: web.sites.shop.redirects: expected a list here",
        f"{FILE}:6:43: web.sites.shop.status: must be 'active' or 'suspended'",
        f"{FILE}:6:59: web.sites.shop.colour: unknown field 'colour'; allowed here: aliases, docroot, hsts, https, "
        "logins, php, previous, protected, quota, redirects, status",
        f"{FILE}:7:73: web.sites.blog.https.chain: unknown field 'chain'; allowed here: cert_file, key_file, mode",
        f"{FILE}:7:85: web.sites.blog.protected: expected a mapping (key: value) here",
    ]


def test_the_archive_is_never_where_a_tenant_home_could_be(tmp_path: Path) -> None:
    assert problems(tmp_path, "www: {}", {"web_root": "/srv/www", "archive_dir": "/srv/www/archive"}) == [
        "desired-state/ispctl.yaml:5:3: web.archive_dir: /srv/www/archive is where a tenant's web home would be: the "
        "archive must be outside web.web_root (/srv/www) or a directory there whose name starts with '.'",
    ]
    assert problems(tmp_path / "2", "www: {}", {"web_root": "/srv/www", "archive_dir": "/srv/www/.old"}) == []
    assert problems(tmp_path / "3", "www: {}", {"web_root": "/srv/www", "archive_dir": "/srv/archive"}) == []


def test_dns_01_needs_the_names_zones_on_ispctls_dns(tmp_path: Path) -> None:
    builder = estate(tmp_path, "www: {aliases: [www.acme.net]}", DNS_01, head="services: [web, dns]\ntype: nodns\n")
    builder.write("tenants/acme/acme.net.yaml", "domain: acme.net\nservices: [mail]\n")
    builder.write("tenants/other/other.example.yaml", "domain: other.example\nservices: [web, dns]\n")
    assert [str(p) for p in builder.problems()] == [
        f"{FILE}:6:5: web.sites.www: a certificate for www.acme.example needs a DNS-01 record in the zone "
        "acme.example, which ispctl does not serve (its DNS is nodns): set https off or custom for this site, or "
        "web.acme_challenge: http-01",
        f"{FILE}:6:21: web.sites.www.aliases[0]: a certificate for www.acme.net needs a DNS-01 record in the zone "
        "acme.net, which ispctl does not serve (it has no dns service): set https off or custom for this site, or "
        "web.acme_challenge: http-01",
    ]
    builder.write(REL, "domain: acme.example\ntype: nodns\nservices: [web]\nweb: {sites: {www: {https: off}}}\n")
    builder.catalog()


def test_dns_01_needs_dns_managed_at_all(tmp_path: Path) -> None:
    builder = EstateBuilder(tmp_path, site={**SITE, "web": DNS_01})
    builder.tenant("acme")
    builder.write(REL, "domain: acme.example\nservices: [web, dns]\n")
    assert [str(p) for p in builder.problems()] == [
        f"{FILE}:1:1: domain: a certificate for acme.example needs a DNS-01 record in the zone acme.example, which "
        "ispctl does not serve (ispctl.yaml has no dns: section): set https off or custom for this site, or "
        "web.acme_challenge: http-01",
        f"{FILE}:1:1: domain: a certificate for www.acme.example needs a DNS-01 record in the zone acme.example, "
        "which ispctl does not serve (ispctl.yaml has no dns: section): set https off or custom for this site, or "
        "web.acme_challenge: http-01",
    ]
