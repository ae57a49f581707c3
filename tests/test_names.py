"""Names: tenant slugs, local parts, IDN domains and addresses."""

from __future__ import annotations

import pytest

from ispctl.reconciler.estate.names import (
    DomainName,
    InvalidName,
    check_tenant,
    normalise_address,
    normalise_domain,
    normalise_local,
    split_address,
)


@pytest.mark.parametrize("name", ["acme", "a", "a1-b2", "x" * 63, "0day"])
def test_valid_tenant_names(name: str) -> None:
    assert check_tenant(name) == name


@pytest.mark.parametrize("name", ["", "Acme", "-acme", "acme-", "ac_me", "ac.me", "x" * 64, "bäcker", "a b"])
def test_invalid_tenant_names(name: str) -> None:
    with pytest.raises(InvalidName, match="must be 1-63 lower-case letters, digits and inner hyphens"):
        check_tenant(name)


@pytest.mark.parametrize(
    ("local", "normal"),
    [
        ("Anna", "anna"),
        ("j.hart", "j.hart"),
        ("o'brien+tag", "o'brien+tag"),
        ("a!#$%&*=?^_`{|}~-z", "a!#$%&*=?^_`{|}~-z"),
        ("x" * 64, "x" * 64),
    ],
)
def test_local_parts_are_folded_to_lower_case(local: str, normal: str) -> None:
    assert normalise_local(local) == normal


@pytest.mark.parametrize(
    ("local", "words"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("x" * 65, "longer than 64 bytes"),
        ("jürgen", "must be ASCII"),
        ("a/b", "no '/'"),
        (".anna", "no leading, trailing or double dots"),
        ("anna.", "no leading, trailing or double dots"),
        ("an..na", "no leading, trailing or double dots"),
        ("an na", "may contain letters, digits"),
        ("a@b", "may contain letters, digits"),
        ('"quoted"', "may contain letters, digits"),
    ],
)
def test_invalid_local_parts(local: str, words: str) -> None:
    with pytest.raises(InvalidName) as info:
        normalise_local(local)
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("name", "ascii", "unicode"),
    [
        ("example.net", "example.net", "example.net"),
        ("Example.NET.", "example.net", "example.net"),
        ("bäckerei-müller.example", "xn--bckerei-mller-bfb28a.example", "bäckerei-müller.example"),
        ("xn--bckerei-mller-bfb28a.example", "xn--bckerei-mller-bfb28a.example", "bäckerei-müller.example"),
        ("BÜCHER.example", "xn--bcher-kva.example", "bücher.example"),
        ("straße.example", "xn--strae-oqa.example", "straße.example"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah", "例え.テスト"),
    ],
)
def test_domains_are_normalised_to_ascii_with_unicode_kept(name: str, ascii: str, unicode: str) -> None:
    assert normalise_domain(name) == DomainName(ascii, unicode)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "the domain name is empty"),
        (".", "the domain name is empty"),
        ("localhost", "needs a dot"),
        ("under_score.example", "not a valid domain name"),
        ("-lead.example", "not a valid domain name"),
        ("a..example", "not a valid domain name"),
        (("a" * 64) + ".example", "not a valid domain name"),
        ("exa mple.net", "not a valid domain name"),
        ("192.0.2.1", "is an IP address"),
        ("10.1", "is an IP address"),
        ("example.123", "numeric label"),
        ("example.net\n", "spaces or line breaks around it"),
        (" example.net", "spaces or line breaks around it"),
        ("[192.0.2.1]", "not a valid domain name"),
    ],
)
def test_invalid_domains(name: str, words: str) -> None:
    with pytest.raises(InvalidName) as info:
        normalise_domain(name)
    assert words in str(info.value)


def test_domain_longer_than_253_characters() -> None:
    name = ".".join(["abcdefghi"] * 26)  # 259 characters in labels that are each fine
    with pytest.raises(InvalidName, match="too long"):
        normalise_domain(name)
    assert normalise_domain(name[:253].rstrip(".")).ascii == name[:253].rstrip(".")


def test_split_and_normalise_address() -> None:
    local, domain = split_address("Anna@Bücher.Example")
    assert (local, domain) == ("anna", DomainName("xn--bcher-kva.example", "bücher.example"))
    assert normalise_address("Anna@Bücher.Example") == "anna@xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("anna", "is not an e-mail address"),
        ("a@b@c.example", "is not an e-mail address"),
        ("@acme.example", "is empty"),
        ("anna@", "the domain name is empty"),
        ("an/na@acme.example", "no '/'"),
        ("anna@localhost", "needs a dot"),
        ("anna@192.0.2.1", "is an IP address"),
        ("anna@[192.0.2.1]", "not a valid domain name"),
        ("a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".example", "longer than 254 bytes"),
    ],
)
def test_invalid_addresses_name_the_faulty_half(address: str, words: str) -> None:
    with pytest.raises(InvalidName) as info:
        normalise_address(address)
    assert words in str(info.value)


def test_the_longest_address_rfc_5321_allows_is_accepted() -> None:
    domain = ".".join(["b" * 61] * 3) + ".example"  # 193 bytes
    local = "a" * (254 - 1 - len(domain))
    assert len(normalise_address(f"{local}@{domain}")) == 254
    with pytest.raises(InvalidName, match="longer than 254 bytes"):
        normalise_address(f"{local}x@{domain}")


@pytest.mark.parametrize("name", ["Bücher.Example", "example.net.", "münchen.de", "bad..name", "x_y.example", "1.2.3.4",
                                  " padded.example"])
def test_a_repeated_domain_name_gets_the_same_answer_as_the_first_time(name: str) -> None:
    """Normalised names are remembered (an estate repeats each domain in every address): the
    answer, or the refusal and its message, must not depend on whether it was seen before."""
    from ispctl.reconciler.estate import names

    def answer() -> DomainName | str:
        try:
            return normalise_domain(name)
        except InvalidName as exc:
            return f"refused: {exc}"

    names._normalised.cache_clear()
    first = answer()
    assert names._normalised.cache_info().misses == 1
    again = answer()
    assert names._normalised.cache_info().hits == 1
    assert again == first
    names._normalised.cache_clear()
    assert answer() == first


def _through_idna(name: str) -> DomainName | str:
    """``normalise_domain``'s answer with every name sent through the IDNA library."""
    from ispctl.reconciler.estate import names

    original = names._plain
    names._plain = lambda raw: False  # type: ignore[assignment]
    try:
        return names._normalise_domain(name)
    except InvalidName as exc:
        return f"refused: {exc}"
    finally:
        names._plain = original


def _directly(name: str) -> DomainName | str:
    from ispctl.reconciler.estate import names

    try:
        return names._normalise_domain(name)
    except InvalidName as exc:
        return f"refused: {exc}"


_EDGES = ["a.b", "example.net", "example.net.", "ab--cd.example", "xn--bcher-kva.example", "xn--bbk.example",
          "xn---bbk.example", "xn--.example", "-a.example", "a-.example", "a--b.example", "abc--d.example",
          "Example.COM", "a_b.example", "1.2", "1.2.3.4", "a.b.c.d.e", "bad..name", ".example", "example..",
          "x" * 63 + ".example", "x" * 64 + ".example", ".".join(["abcdefghi"] * 25) + ".ab",
          ".".join(["abcdefghi"] * 25) + ".abc", ".".join(["abcdefghi"] * 26), "a.b-", "0.example",
          "example.123", "ex ample.net", "münchen.de", "bücher.example"]


@pytest.mark.parametrize("name", _EDGES)
def test_a_name_that_skips_the_idna_library_gets_the_answer_the_library_gives(name: str) -> None:
    """Plain lower-case ASCII names are taken as their own IDNA forms without calling the
    library (``names._plain``); that must change no answer and no message."""
    assert _directly(name) == _through_idna(name)


def test_generated_plain_looking_names_agree_with_the_idna_library() -> None:
    import itertools

    from ispctl.reconciler.estate import names

    seen_plain = 0
    for length in range(1, 7):
        for chars in itertools.product("a1-.", repeat=length):
            name = "".join(chars) + ".example"
            seen_plain += names._plain(name[:-1] if name.endswith(".") else name)
            assert _directly(name) == _through_idna(name), name
    assert seen_plain > 100  # the fast way was taken often enough to mean something
