"""DN and filter escaping (RFC 4514 / RFC 4515), parsing and subtree checks: pure functions."""

from __future__ import annotations

import random

import pytest

from ispctl.providers.ldap import dn

BASE = "ou=ispctl,dc=example,dc=net"

# Values chosen to hit every rule of RFC 4514 section 2.4 plus the characters e-mail local
# parts may legally contain.
TRICKY = [
    "plain",
    "a+b@example.net",
    "x=y@example.net",
    "#hash@example.net",
    "in#side",
    "o'brien@example.net",
    "~t!l$d%e&^`|?@example.net",
    'Müller, Hans + "Jr" \\ <x> ; = ok',
    " leading",
    "trailing ",
    "  both  ",
    " ",
    "nul\x00inside",
    "Zoë 日本語",
    "back\\slash\\",
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("a,b", "a\\,b"),
        ("a+b", "a\\+b"),
        ('say "hi"', 'say \\"hi\\"'),
        ("back\\slash", "back\\\\slash"),
        ("<tag>", "\\<tag\\>"),
        ("semi;colon", "semi\\;colon"),
        ("x=y", "x\\=y"),
        ("#first", "\\#first"),
        ("not#first", "not#first"),
        (" lead", "\\ lead"),
        ("trail ", "trail\\ "),
        ("in side", "in side"),
        (" ", "\\ "),
        ("a\x00b", "a\\00b"),
        ("", ""),
        ("Zoë", "Zoë"),
    ],
)
def test_escape_value_follows_rfc4514(value: str, expected: str) -> None:
    assert dn.escape_value(value) == expected


def test_rdn_and_child_assemble_escaped_components() -> None:
    assert dn.rdn("uid", "a+b@x.example") == "uid=a\\+b@x.example"
    assert dn.child("mail", "#x@d.example", BASE) == f"mail=\\#x@d.example,{BASE}"


@pytest.mark.parametrize("value", TRICKY)
def test_split_dn_recovers_every_escaped_value(value: str) -> None:
    built = dn.child("cn", value, dn.child("associatedDomain", "xn--mnchen-3ya.example", BASE))
    assert dn.split_dn(built) == [
        ("cn", value), ("associateddomain", "xn--mnchen-3ya.example"),
        ("ou", "ispctl"), ("dc", "example"), ("dc", "net"),
    ]


@pytest.mark.parametrize("value", TRICKY)
def test_join_rdns_is_the_inverse_of_split_rdns(value: str) -> None:
    built = f"{dn.rdn('cn', value)}+{dn.rdn('sn', value)},{BASE}"
    assert dn.join_rdns(dn.split_rdns(built)) == f"{dn.rdn('cn', value)}+{dn.rdn('sn', value)},{BASE}"


def test_split_dn_decodes_hex_escapes_as_utf8() -> None:
    # slapd returns its own "pretty" form: \2B for +, \23 for a leading #, raw UTF-8 or
    # hex pairs for non-ASCII, and the parser must read all of them.
    assert dn.split_dn("uid=a\\2Bb@x,cn=\\C3\\A4rger\\2C ok")[0] == ("uid", "a+b@x")
    assert dn.split_dn("uid=a\\2Bb@x,cn=\\C3\\A4rger\\2C ok")[1] == ("cn", "ärger, ok")
    assert dn.split_dn("uid=\\23hash@x")[0] == ("uid", "#hash@x")
    assert dn.split_dn("cn=x\\00y") == [("cn", "x\x00y")]


def test_split_dn_keeps_unescaped_equals_in_a_value_and_folds_attribute_names() -> None:
    # RFC 4514 does not require "=" inside a value to be escaped.
    assert dn.split_dn("UID=x=y@d.example, OU=Top") == [("uid", "x=y@d.example"), ("ou", "Top")]


def test_split_rdns_keeps_multi_valued_rdns_together() -> None:
    assert dn.split_rdns("cn=a+sn=b\\+c,dc=x") == [(("cn", "a"), ("sn", "b+c")), (("dc", "x"),)]
    assert dn.split_rdns("") == []


def test_normalise_folds_case_and_canonicalises_escapes() -> None:
    assert dn.normalise("OU=IspCtl,DC=Example,DC=Net") == dn.normalise(BASE)
    assert dn.normalise("uid=A\\2Bb@X") == dn.normalise("uid=a\\+b@x") == "uid=a\\+b@x"
    assert dn.normalise("cn=\\23x") == dn.normalise("cn=\\#x")


def test_normalise_keeps_a_multi_valued_rdn_distinct_from_two_levels() -> None:
    # "cn=a+sn=b" is ONE entry name; "cn=a,sn=b" is a child of "sn=b". Their keys must differ,
    # and the order of the values inside one RDN does not matter.
    assert dn.normalise("cn=a+sn=b,dc=x") != dn.normalise("cn=a,sn=b,dc=x")
    assert dn.normalise("cn=a+sn=b,dc=x") == dn.normalise("SN=B+CN=A,dc=x")


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (f"uid=a\\+b@x,associatedDomain=x,{BASE}", f"associateddomain=x,{BASE}"),
        (f"cn=a+sn=b,{BASE}", BASE),
        ("dc=net", ""),
    ],
)
def test_parent_of_drops_exactly_one_rdn(child: str, parent: str) -> None:
    assert dn.normalise(dn.parent_of(child)) == dn.normalise(parent)


@pytest.mark.parametrize(
    ("candidate", "inside"),
    [
        (BASE, True),
        ("OU=ISPCTL,DC=EXAMPLE,DC=NET", True),
        (f"o=acme,{BASE}", True),
        (f"uid=x,associatedDomain=d,o=acme,{BASE}", True),
        ("ou=people,dc=example,dc=net", False),
        ("dc=example,dc=net", False),
        ("ou=xispctl,dc=example,dc=net", False),
        ("ou=ispctl,dc=example,dc=network", False),
        # An escaped comma is part of a value, not a separator: this entry sits directly
        # under dc=example,dc=net, outside the managed base, whatever its text ends with.
        ("cn=evil\\,ou=ispctl,dc=example,dc=net", False),
        # Likewise a multi-valued RDN is one level, not a child of ou=ispctl.
        ("cn=evil+ou=ispctl,dc=example,dc=net", False),
    ],
)
def test_is_within_compares_whole_rdns(candidate: str, inside: bool) -> None:
    assert dn.is_within(candidate, BASE) is inside


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain@x", "plain@x"),
        ("a*b", "a\\2ab"),
        ("(x)", "\\28x\\29"),
        ("back\\slash", "back\\5cslash"),
        ("nul\x00", "nul\\00"),
        ("Zoë", "Zoë"),
    ],
)
def test_escape_filter_follows_rfc4515(value: str, expected: str) -> None:
    assert dn.escape_filter(value) == expected


@pytest.mark.parametrize("text", [
    "cn=a+sn=b,o=x, dc=y", "uid=a@b.example,associatedDomain=b.example,o=t,ou=ispctl,dc=example,dc=net",
    "o=Bäckerei,dc=x", "cn= spaced ,dc=x", "",
])
def test_the_unescaped_fast_path_agrees_with_the_general_parser(text: str) -> None:
    # "\\2C" is an escaped comma the general parser must handle; appending it to a copy of
    # the DN forces that parser, whose answer for the common prefix must be the same.
    fast = dn.split_rdns(text)
    slow = dn.split_rdns(text + ",o=\\2C") if text else []
    assert fast == slow[:-1]
    assert slow[-1:] == ([(("o", ","),)] if text else [])


def general_read_key(text: str) -> tuple[str, str, dn.RdnPairs]:
    rdns = dn.split_rdns(text + ",o=\\2C")[:-1] if text else []  # the escape forces the general parser
    keys = dn.keys_of(rdns)
    return ",".join(keys), ",".join(keys[1:]), rdns[0] if rdns else ()


@pytest.mark.parametrize("text", [
    f"uid=a@b.example,associatedDomain=b.example,o=t,{BASE}", f"O=Acme,{BASE.upper()}", "o=x", "o=a-b.c_d@e~f",
    "uid=a\\2Bb@x,dc=y", "cn=a+sn=b,dc=x", "o=Zoë,dc=x", "o=a=b,dc=x", "o=#a,dc=x", "o=a b,dc=x", "o= a,dc=x",
    "o=a ,dc=x", "o=a;b,dc=x", "o=<a>,dc=x", "2.5.4.10=a,dc=x", "",
])
def test_read_key_is_the_comparison_keys_of_a_dn_and_its_parent(text: str) -> None:
    assert dn.read_key(text) == general_read_key(text)
    if text:
        assert dn.read_key(text)[:2] == (dn.normalise(text), dn.normalise(dn.parent_of(text)))


def test_read_key_agrees_with_the_general_parser_on_random_dns() -> None:
    # Mostly plain values (the folded fast path), some with characters that must be escaped,
    # some with non-ASCII: every one a well-formed DN.
    rng = random.Random(11)
    alphabet = "aBz09.-_@~" * 6 + '\\,+"<>;=# éİ'
    for _ in range(3000):
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 4))]
        text = ",".join(f"{rng.choice(['o', 'uid', 'associatedDomain', 'DC'])}={dn.escape_value(v)}" for v in values)
        assert dn.read_key(text) == general_read_key(text), text


def ldap3_says(text: str) -> str:
    """What ldap3's ``parse_dn`` (which the settings used before ``check_dn``) says of ``text``."""
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    try:
        parse_dn(text)
    except LDAPInvalidDnError as exc:
        return str(exc)
    return "ok"


def check_says(text: str) -> str:
    try:
        dn.check_dn(text)
    except dn.InvalidDn as exc:
        return str(exc)
    return "ok"


@pytest.mark.parametrize("text", [
    "ou=ispctl,dc=example,dc=net", "cn=ispctl-plan,ou=services,dc=example,dc=net", "not a dn", "", "ou=", "=x",
    "ou=a,,dc=b", "ou=a+cn=b,dc=x", "cn=a\\,b,dc=x", "cn=#04024869,dc=x", "cn=#0402486,dc=x", "ou=a;dc=b",
    "cn= a ,dc=x", "cn=a \\ ,dc=x", "cn=a\\", 'cn="q",dc=x', "1.2.3=x", "-a=x", "ou=a,dc=b,", "ou=a=b", "cn=a b",
    "ou=ü,dc=x", "ou=a\\zz", "ou=a\\2", "c n=a", "ou=a,dc", "ou=a<b", "ou=a#b", "#ou=a", "ou=x\\00", " ou=a",
    "ou=a\x00b", "<GUID=x", "ou=a\\\\,dc=b", "ou=a\\\\\\,dc=b", "\\,ou=a", "ou=a++cn=b", "ou=a,+cn=b",
])
def test_check_dn_accepts_and_refuses_what_ldap3_did_in_its_words(text: str) -> None:
    assert check_says(text) == ldap3_says(text)


def test_check_dn_agrees_with_ldap3_on_random_text() -> None:
    # Pieces of DNs run together at random: separators, escapes, hex, spaces, types and values.
    rng = random.Random(7)
    pieces = list('ab=,+\\ #"0;<>1f.-') + ["ou=", "dc=x", "\\2c", "\\", ",", "cn=a", "\x00", "é"]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert check_says(text) == ldap3_says(text), repr(text)
