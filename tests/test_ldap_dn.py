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


def check_says(text: str) -> str:
    try:
        dn.check_dn(text)
    except dn.InvalidDn as exc:
        return str(exc)
    return "ok"


@pytest.mark.parametrize("text", [
    "ou=ispctl,dc=example,dc=net", "cn=ispctl-plan,ou=services,dc=example,dc=net", "cn=a+sn=b,dc=x",
    "cn=a\\,b,dc=x", "cn=#04024869,dc=x", "cn=a \\ ,dc=x", "1.2.3=x", "ou=a\\=b", "cn=a b", "ou=ü,dc=x",
    "ou=a#b", "ou=x\\00", "ou=a\\\\,dc=b", "ou=\\ a\\ ", "ou=\\#a", "OU=Mixed-Case9,DC=x",
])
def test_check_dn_accepts_rfc4514_dns(text: str) -> None:
    assert check_says(text) == "ok"


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty dn"),
    ("not a dn", "attribute type not present"),
    ("=x", "attribute type not present"),
    ("ou=a,dc", "attribute type not present"),
    ("ou=", "no attribute value after 'ou='"),
    ("ou=a,,dc=b", "special character , must be escaped"),
    ("ou=a,dc=b,", "special character , must be escaped"),
    ("ou=a++cn=b", "special character + must be escaped"),
    ("ou=a;dc=b", "special character ; must be escaped"),
    ("ou=a<b", "special character < must be escaped"),
    ("ou=a=b", "special character = must be escaped"),
    ("dc=ex)(uid=*", "special character = must be escaped"),
    ('cn="q",dc=x', 'special character " must be escaped'),
    ("ou=a\x00b", "special character \x00 must be escaped"),
    ("cn= a,dc=x", "SPACE must be escaped as leading character of attribute value"),
    ("cn=a ,dc=x", "SPACE must be escaped as trailing character of attribute value"),
    ("cn=a\\\\ ,dc=x", "SPACE must be escaped as trailing character of attribute value"),
    ("cn=#0402486,dc=x", "'#0402486' is not '#' and pairs of hex digits"),
    ("cn=#zz,dc=x", "'#zz' is not '#' and pairs of hex digits"),
    ("ou=a\\zz", "invalid escaped character z"),
    ("ou=a\\2", "invalid escaped character 2"),
    ("cn=a\\", "invalid escaped character at the end"),
    ("-a=x", "attribute type '-a' is not a name (a letter, then letters, digits or '-') or a dotted number"),
    ("c n=a", "attribute type 'c n' is not a name (a letter, then letters, digits or '-') or a dotted number"),
    ("1.02=x", "attribute type '1.02' is not a name (a letter, then letters, digits or '-') or a dotted number"),
])
def test_check_dn_refuses_what_rfc4514_does_not_allow_saying_what(text: str, says: str) -> None:
    assert check_says(text) == says


def test_every_dn_the_project_escapes_is_accepted() -> None:
    # dn.child/escape_value make the DNs ispctl writes: check_dn must never refuse one of them.
    rng = random.Random(7)
    alphabet = "aBz09.-_@~" * 4 + '\\,+"<>;=# éİ\x00'
    for _ in range(5000):
        text = "dc=example,dc=net"
        for _ in range(rng.randint(1, 4)):
            value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
            text = dn.child(rng.choice(["o", "uid", "associatedDomain", "cn"]), value, text)
        assert check_says(text) == "ok", repr(text)
