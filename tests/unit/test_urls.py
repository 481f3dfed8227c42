"""canonical_url and looks_like_url: one key per product page, and what counts as a link."""

from __future__ import annotations

import pytest

from core.errors import InvalidUrl
from core.urls import canonical_url, looks_like_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # scheme and host lower-cased, default ports and fragment dropped, "/" for no path
        ("HTTPS://Shop.Example.COM", "https://shop.example.com/"),
        ("http://shop.example:80/p", "http://shop.example/p"),
        ("https://shop.example:443/p#reviews", "https://shop.example/p"),
        ("https://shop.example:8443/p", "https://shop.example:8443/p"),
        ("http://shop.example:443/p", "http://shop.example:443/p"),
        ("https://shop.example./p", "https://shop.example/p"),
        ("  https://shop.example/p  ", "https://shop.example/p"),
        # the path keeps its case; escapes are normalised, raw non-ASCII is escaped
        ("https://shop.example/Item/ABC", "https://shop.example/Item/ABC"),
        ("https://shop.example/caf%c3%a9", "https://shop.example/caf%C3%A9"),
        ("https://shop.example/café", "https://shop.example/caf%C3%A9"),
        # IP literals
        ("http://[2001:DB8::0001]:8080/p", "http://[2001:db8::1]:8080/p"),
        ("http://192.0.2.10/p", "http://192.0.2.10/p"),
    ],
)
def test_normalises_scheme_host_port_and_fragment(given: str, expected: str) -> None:
    assert canonical_url(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "https://shop.example/p?utm_source=news&utm_medium=email&utm_campaign=x",
            "https://shop.example/p",
        ),
        (
            "https://shop.example/p?id=42&gclid=abc&fbclid=def&msclkid=1&dclid=2",
            "https://shop.example/p?id=42",
        ),
        (
            "https://shop.example/p?mc_cid=1&mc_eid=2&ref=home&ref_=nav&tag=aff-20&igshid=x",
            "https://shop.example/p",
        ),
        (
            "https://shop.example/p?_ga=2.1&spm=a2g0o&yclid=9&sku=123",
            "https://shop.example/p?sku=123",
        ),
        ("https://shop.example/p?UTM_Source=x&Variant=7", "https://shop.example/p?Variant=7"),
        # variant selectors stay, in their order, with their spelling
        (
            "https://shop.example/p?variant=3&childSku=AB-1&pid=9&utm_term=x&color=red",
            "https://shop.example/p?variant=3&childSku=AB-1&pid=9&color=red",
        ),
        ("https://shop.example/p?q=a+b&id=%2F1", "https://shop.example/p?q=a+b&id=%2F1"),
        # empty pairs and a query left empty disappear
        ("https://shop.example/p?&&utm_source=x&", "https://shop.example/p"),
        ("https://shop.example/p?", "https://shop.example/p"),
        ("https://shop.example/p?flag", "https://shop.example/p?flag"),
    ],
)
def test_strips_tracking_parameters_only(given: str, expected: str) -> None:
    assert canonical_url(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://www.amazon.com/dp/B08N5WRWNW", "https://www.amazon.com/dp/B08N5WRWNW"),
        (
            "https://www.amazon.de/Some-Product-Name/dp/B08N5WRWNW/ref=sr_1_3?keywords=x&qid=1",
            "https://www.amazon.de/dp/B08N5WRWNW",
        ),
        (
            "https://amazon.co.uk/gp/product/B08N5WRWNW/ref=ppx_yo_dt_b_asin_title?psc=1",
            "https://www.amazon.co.uk/dp/B08N5WRWNW",
        ),
        ("http://smile.amazon.com/dp/b08n5wrwnw?th=1", "https://www.amazon.com/dp/B08N5WRWNW"),
        ("https://www.amazon.co.jp/gp/aw/d/B08N5WRWNW", "https://www.amazon.co.jp/dp/B08N5WRWNW"),
        (
            "https://www.amazon.com.au/dp/product/0306406152/",
            "https://www.amazon.com.au/dp/0306406152",
        ),
        (
            "https://WWW.AMAZON.FR/dp/B08N5WRWNW#customerReviews",
            "https://www.amazon.fr/dp/B08N5WRWNW",
        ),
    ],
)
def test_collapses_amazon_product_links(given: str, expected: str) -> None:
    assert canonical_url(given) == expected


def test_amazon_pages_that_are_not_products_keep_their_path() -> None:
    assert (
        canonical_url("https://www.amazon.com/s?k=kettle&ref=nb_sb_noss")
        == "https://www.amazon.com/s?k=kettle"
    )


def test_lookalike_amazon_hosts_are_not_collapsed() -> None:
    given = "https://amazon.com.evil.example/dp/B08N5WRWNW"
    assert canonical_url(given) == given


def test_same_page_from_different_shares_gives_one_key() -> None:
    shares = [
        "https://Shop.Example/p/kettle?id=7&utm_source=tg",
        "https://shop.example:443/p/kettle?id=7&fbclid=abc#top",
        "https://shop.example/p/kettle?gclid=1&id=7",
    ]
    assert {canonical_url(url) for url in shares} == {"https://shop.example/p/kettle?id=7"}


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "shop.example/p",  # no scheme
        "//shop.example/p",
        "ftp://shop.example/p",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "mailto:shop@example.com",
        "http://",
        "http:///p",  # no host
        "https://shop example.com/p",  # space in host
        "https://shop.example/a b",  # space in path
        "https://shop.example/p\nhttps://other.example/",  # two links, or a broken paste
        "https://shop.example/\tp",  # whitespace is trimmed at the ends, never inside
        "https://shop.example/p\u200b",  # zero-width space
        "https://user:secret@shop.example/p",  # credentials
        "https://shop.example@evil.example/p",  # disguised host
        "https://shop.example:99999/p",
        "https://shop.example:abc/p",
        "https://shop.example:0/p",
        "https://[::1/p",
        "https://[not-an-ip]/p",
        "https://shop..example/p",
        "https://-shop.example/p",
        "https://shop_exa$mple.com/p",
        "https://" + "a" * 300 + ".example/p",
        "https://shop.example/" + "p" * 5000,  # absurd length
    ],
)
def test_rejects_malformed_links(given: str) -> None:
    with pytest.raises(InvalidUrl):
        canonical_url(given)


def test_rejects_non_strings() -> None:
    with pytest.raises(InvalidUrl):
        canonical_url(None)  # type: ignore[arg-type]


def test_a_lone_surrogate_is_no_url() -> None:
    with pytest.raises(InvalidUrl):
        canonical_url("https://shop.example/\ud800")


def test_canonical_form_is_stable() -> None:
    once = canonical_url("https://Shop.Example/caf%c3%a9/p?id=1&utm_source=x&q=é#frag")
    assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://shop.example/p/kettle?id=7", True),
        ("  http://shop.example/p  ", True),
        ("HTTPS://SHOP.EXAMPLE/P", True),
        ("https://[2001:db8::1]/p", True),
        ("look at https://shop.example/p", False),
        ("https://shop.example/p nice", False),
        ("shop.example/p", True),  # people paste links without the scheme
        ("www.shop.example", True),
        ("19.99", False),
        ("hello.", False),
        ("http://localhost/p", False),  # no dot: not a shop's public address
        ("/track https://shop.example/p", False),
        ("ftp://shop.example/p", False),
        ("https://user:pw@shop.example/p", False),
        ("", False),
    ],
)
def test_looks_like_url(text: str, expected: bool) -> None:
    assert looks_like_url(text) is expected
