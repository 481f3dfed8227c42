"""Hostile pages, generated: each gets a clear answer, and the work it costs is bounded.

The bounds are counted (tags the markup model reads, amounts the JSON-LD reader checks,
parses Lexbor is asked for), never timed. The tests of the markup patterns use inputs on
which a quadratic search would run for minutes: they hang rather than fail if one returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from adapters.extract import PageExtractor, extract_observation, jsonld
from adapters.extract import page as page_module
from adapters.extract.findings import MAX_OFFERS
from adapters.extract.heuristics import _font_size
from adapters.extract.markup_check import MAX_TAGS, MAX_WORK, UNSIMULATED_TAGS, simulate
from adapters.extract.page import Page, attributes
from adapters.extract.prices import parse_price
from core.errors import AmbiguousPrice, NoPriceFound, PageTooComplex, PricebotError
from core.model import Availability
from tests.fakes.hostile_pages import html_page, offers_page, product_jsonld
from tests.fakes.hostile_pages import jsonld as _jsonld

URL = "https://kitchen.example.de/p/kettle"  # a German shop: prices in EUR
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"


# A German kettle page: the shop's language and currency matter to how prices are read.
_page = partial(html_page, lang="de", title="Küche Wasserkocher")
_product = partial(product_jsonld, name='"Wasserkocher"')
_offers = partial(offers_page, lang="de", title="Küche Wasserkocher")


def _deep_divs(count: int = 200_000) -> bytes:
    """`count` nested divs (7 bytes each: 1.4 MB for 200,000) with the price at the bottom."""
    price = (
        '<span class="price">19,99 €</span><button class="add-to-cart">In den Warenkorb</button>'
    )
    return _page(body="<div>\n " * count + price)


def _count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Replaces module.name by a wrapper that counts its calls; returns the counter."""
    calls = [0]
    original: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


# ----- markup Lexbor cannot build in linear time ------------------------------------------


def test_200000_nested_divs_are_refused_before_the_parser_sees_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _deep_divs()
    assert len(body) > 1_400_000
    parses = _count_calls(monkeypatch, page_module, "LexborHTMLParser")
    with pytest.raises(PageTooComplex):
        extract_observation(body, URL)
    assert parses == [0]
    # The markup model gave up long before the end of the page.
    model = simulate(body)
    assert not model.affordable
    assert model.tags < 20_000


def test_nested_divs_with_end_tags_are_refused_on_the_count_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = _page(body="<div>" * 200_000 + "<p>19,99 €</p>" + "</div>" * 200_000)
    assert body.count(b"<") > MAX_TAGS
    simulated = _count_calls(monkeypatch, page_module, "tree_is_affordable")
    parses = _count_calls(monkeypatch, page_module, "LexborHTMLParser")
    with pytest.raises(PageTooComplex):
        extract_observation(body, URL)
    assert simulated == [1] and parses == [0]


def test_with_a_deadline_a_page_that_could_parse_past_it_is_modelled_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 39,000 nested divs: few enough tags to parse unmodelled, but in 3 s of C code that no
    # deadline interrupts; with 2 s left the model reads the markup first and refuses it.
    body = _deep_divs(39_000)
    assert body.count(b"<") <= UNSIMULATED_TAGS
    parses = _count_calls(monkeypatch, page_module, "LexborHTMLParser")
    with pytest.raises(PageTooComplex):
        extract_observation(body, URL, budget=2.0)
    assert parses == [0]


def test_a_deep_page_still_answers_from_its_structured_data() -> None:
    body = _deep_divs().replace(b"</head>", _product('"24.99"').encode() + b"</head>")
    observation = extract_observation(body, URL)
    assert (observation.price, observation.currency) == (Decimal("24.99"), "EUR")
    assert observation.method == "jsonld"


def _amplifying(units: int) -> str:
    return "".join(f"<div><b id={n}></div>" for n in range(units)) + "x"


@pytest.mark.parametrize(
    ("construction", "build"),
    [
        ("nested elements", lambda: "<div>" * 45_000),
        ("nested, then closed", lambda: "<div>" * 25_000 + "</div>" * 25_000),
        ("end tags that stop at a block", lambda: "<span><div></span>" * 15_000),
        ("formatting closed across a block", lambda: "<b><div></b>" * 15_000),
        ("list items out of reach", lambda: "<li><ul></li>" * 15_000),
        ("quotes and < in attributes", lambda: '<div title="<" x=a"b>' * 45_000),
        ("formatting elements that pile up", lambda: "".join(f"<b id={n}>" for n in range(45_000))),
        ("re-opened formatting elements", lambda: _amplifying(15_000)),
    ],
)
def test_the_markup_model_refuses_what_lexbor_builds_in_quadratic_time(
    construction: str, build: Callable[[], str]
) -> None:
    markup = build()
    assert markup.count("<") > UNSIMULATED_TAGS, construction
    model = simulate(markup)
    assert not model.affordable, construction


@pytest.mark.parametrize(
    "markup",
    [
        "<ul>" + "<li>item" * 30_000 + "</ul>",
        "<table>" + "<tr><td>1<td>2" * 15_000 + "</table>",
        "<p>one" * 30_000,
        "<div><p>text</div>" * 15_000,
        "<select>" + "<option>size" * 45_000 + "</select>",
        "<div><b>bold</b><i>x</i></div>" * 10_000,
        "<script>" + "var s = '<div>';" * 45_000 + "</script>",
    ],
)
def test_the_markup_model_lets_big_ordinary_markup_through(markup: str) -> None:
    model = simulate(markup)
    assert model.affordable
    assert model.work < MAX_WORK // 100


def test_saved_pages_are_far_below_the_markup_models_limits() -> None:
    for path in sorted(FIXTURES.glob("*.html")):
        model = simulate(path.read_bytes())
        assert model.affordable and model.work < MAX_WORK // 100, path.name


# ----- JSON-LD: many offers, deep nesting ---------------------------------------------------


@pytest.mark.parametrize("count", [8_000, 100_000])
def test_many_offers_at_different_prices_are_ambiguous_after_a_bounded_read(
    monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    body = _offers([f"{10 + n / 100:.2f}" for n in range(count)])
    checked = _count_calls(monkeypatch, jsonld, "checked_amount")
    with pytest.raises(AmbiguousPrice) as caught:
        extract_observation(body, URL)
    amounts = [amount for amount, _ in caught.value.candidates]
    assert amounts[:3] == [Decimal("10.00"), Decimal("10.01"), Decimal("10.02")]
    assert len(amounts) <= 20
    assert checked[0] <= 2 * MAX_OFFERS  # read no further than a product needs


def test_many_offers_at_one_price_give_that_price(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _offers(["10.00"] * 100_000)
    checked = _count_calls(monkeypatch, jsonld, "checked_amount")
    observation = extract_observation(body, URL)
    assert (observation.price, observation.currency) == (Decimal("10.00"), "EUR")
    assert checked[0] <= 2 * MAX_OFFERS


@pytest.mark.parametrize(
    "deep", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000]
)
def test_json_ld_nested_100000_deep_is_skipped_and_the_rest_of_the_page_read(deep: str) -> None:
    meta = (
        '<meta property="product:price:amount" content="12.00">'
        '<meta property="product:price:currency" content="EUR">'
    )
    observation = extract_observation(_page(_jsonld(deep) + meta), URL)
    assert (observation.price, observation.currency) == (Decimal("12.00"), "EUR")
    # The next script of the page is read too.
    body = _page(_jsonld(deep) + _product('"24.99"'))
    assert extract_observation(body, URL).price == Decimal("24.99")


def test_deep_json_in_a_shops_own_scripts_is_skipped() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    walmart = _page(body=f'<script id="__NEXT_DATA__">{{"props": {deep}}}</script>')
    with pytest.raises(NoPriceFound):
        extract_observation(walmart, "https://www.walmart.com/ip/1")
    shopify = _page(
        '<script src="https://cdn.shopify.com/t.js"></script>' + _product('"24.99"'),
        f'<script>var product = {{"variants":{deep}}};</script>',
    )
    observation = extract_observation(shopify, "https://shop.example.de/products/kettle")
    assert observation.price == Decimal("24.99")


# ----- amounts that are no price -------------------------------------------------------------

NO_PRICES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "1e-30",
    "1" + "0" * 30,
    "9" * 5_000,
    '"1e400"',
    '"1e-30"',
    '"NaN"',
    '"Infinity"',
    "12.345",
    "0",
    "-5",
    '"-5"',
    '"0,001"',
]


@pytest.mark.parametrize("price", NO_PRICES)
def test_an_amount_that_is_no_price_is_no_offer(price: str) -> None:
    with pytest.raises(NoPriceFound):
        extract_observation(_page(_product(price)), URL)


@pytest.mark.parametrize("price", NO_PRICES)
def test_the_next_source_answers_when_structured_data_holds_no_price(price: str) -> None:
    meta = '<meta property="og:price:amount" content="19.99">'
    observation = extract_observation(_page(_product(price) + meta), URL)
    assert (observation.price, observation.currency) == (Decimal("19.99"), "EUR")
    assert observation.method == "opengraph"


def test_a_price_that_went_through_a_float_is_the_price_it_meant() -> None:
    observation = extract_observation(_page(_product("29.990000000000002")), URL)
    assert observation.price == Decimal("29.99")
    assert str(observation.price) == "29.99"


def test_three_decimals_are_a_price_in_a_currency_that_has_them() -> None:
    observation = extract_observation(_page(_product("12.345", currency="KWD")), URL)
    assert (observation.price, observation.currency) == (Decimal("12.345"), "KWD")


@pytest.mark.parametrize(
    "text", ["1e400 €", "€1e-30", "1E5 €", "12.99e3 €", "1e+2 €", "1_000 €", "-5 €", "− 12,99 €"]
)
def test_number_text_that_is_no_price_reads_as_none(text: str) -> None:
    assert parse_price(text) is None
    # Nor does it when a page shows it where a price would be.
    body = _page(body=f'<h1>Wasserkocher</h1><span class="price">{text}</span>')
    with pytest.raises(NoPriceFound):
        extract_observation(body, URL)


@pytest.mark.parametrize("value", ["NaN", "1e400", "Infinity", "0"])
def test_microdata_and_meta_amounts_pass_the_same_test(value: str) -> None:
    microdata = (
        '<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Kessel</h1>'
        f'<span itemprop="price" content="{value}">x</span>'
        '<meta itemprop="priceCurrency" content="EUR"></div>'
    )
    with pytest.raises(NoPriceFound):
        extract_observation(_page(body=microdata), URL)
    meta = f'<meta property="product:price:amount" content="{value}">'
    with pytest.raises(NoPriceFound):
        extract_observation(_page(meta), URL)


# ----- odd bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "charset",
    [
        "punycode",
        "rot13",
        "zlib_codec",
        "base64",
        "idna",
        "uu",
        "hex",
        "bz2",
        "quopri",
        "utf-7",
        "undefined",
        "unicode_escape",
        "utf-16",
        "utf-32",
        "x-no-such-charset",
    ],
)
def test_a_charset_that_is_no_page_encoding_is_read_as_utf8(charset: str) -> None:
    body = _page(_product('"24.99"', name='"Küchen-Wasserkocher"'), charset=charset)
    assert Page(body, URL).encoding == "utf-8"
    observation = extract_observation(body, URL)
    assert (observation.price, observation.currency) == (Decimal("24.99"), "EUR")
    assert observation.title == "Küchen-Wasserkocher"


@pytest.mark.parametrize(
    ("charset", "codec"),
    [("windows-1251", "cp1251"), ("Shift_JIS", "shift_jis"), ("latin1", "cp1252")],
)
def test_real_page_charsets_are_still_read(charset: str, codec: str) -> None:
    assert Page(_page(charset=charset), URL).encoding == codec


def test_lone_surrogates_nul_and_control_characters_leave_the_title() -> None:
    name = '"Kettle \\ud800 deluxe\\u0000 \\u0085model\\t2"'
    observation = extract_observation(_page(_product('"24.99"', name=name)), URL)
    assert observation.title == "Kettle \ufffd deluxe model 2"
    assert observation.title.encode("utf-8")


def test_image_and_canonical_addresses_are_clean_or_absent() -> None:
    product = (
        '{"@type": "Product", "name": "Kessel", "image": " https://img.example/k\\n1.jpg\\u0000 ",'
        ' "url": "https://kitchen.example.de/p/\\ud800k", "offers": {"price": "9.99"}}'
    )
    observation = extract_observation(_page(_jsonld(product)), URL)
    assert observation.image == "https://img.example/k1.jpg"
    assert observation.canonical_url == "https://kitchen.example.de/p/\ufffdk"
    long_image = product.replace(
        "https://img.example/k\\n1.jpg", "data:image/png;base64," + "A" * 5000
    )
    assert extract_observation(_page(_jsonld(long_image)), URL).image is None


def test_an_address_urllib_cannot_split_is_read_without_a_host() -> None:
    observation = extract_observation(_page(_product('"24.99"')), "https://[::1/kettle")
    assert (observation.price, observation.currency) == (Decimal("24.99"), "EUR")


# ----- the time budget -------------------------------------------------------------------------


def test_a_tiny_budget_on_a_big_page_is_page_too_complex() -> None:
    body = _offers([f"{10 + n / 100:.2f}" for n in range(8_000)])
    with pytest.raises(PageTooComplex):
        extract_observation(body, URL, budget=0.0)
    with pytest.raises(PageTooComplex):
        PageExtractor(budget_seconds=1e-9).extract(body, URL)
    # The same page without a deadline is read to its end.
    with pytest.raises(AmbiguousPrice):
        PageExtractor().extract(body, URL)


def test_extractions_in_other_threads_keep_their_own_deadlines() -> None:
    big = _offers([f"{10 + n / 100:.2f}" for n in range(8_000)])
    small = _page(_product('"24.99"'))
    start = threading.Barrier(8)

    def tiny_budget() -> str:
        start.wait()
        try:
            extract_observation(big, URL, budget=0.0)
        except PricebotError as error:
            return type(error).__name__
        return "answered"

    def no_budget() -> str:
        start.wait()
        return str(extract_observation(small, URL).price)

    with ThreadPoolExecutor(8) as pool:
        tiny = [pool.submit(tiny_budget) for _ in range(4)]
        unlimited = [pool.submit(no_budget) for _ in range(4)]
        assert [future.result() for future in tiny] == ["PageTooComplex"] * 4
        assert [future.result() for future in unlimited] == ["24.99"] * 4


def test_sold_out_without_a_price_is_an_observation_not_an_error() -> None:
    body = (FIXTURES / "amazon_co_uk_out_of_stock.html").read_bytes()
    observation = PageExtractor(budget_seconds=10).extract(body, "https://www.amazon.co.uk/dp/B1")
    assert (observation.price, observation.currency) == (None, None)
    assert observation.availability is Availability.OUT_OF_STOCK


# ----- markup patterns read a page once ----------------------------------------------------------


def test_a_tag_of_200000_name_characters_is_read_once() -> None:
    assert attributes("<meta " + "a" * 200_000 + ">") == {}
    assert attributes('<meta content="' + "x" * 200_000) == {}


def test_unclosed_titles_and_scripts_are_read_once() -> None:
    titles = Page(b"<html><head>" + b"<title>x" * 100_000 + b"</head>", URL)
    assert titles.head_title is None
    scripts = b'<script type="application/ld+json">{}' * 100_000
    assert Page(scripts, URL).jsonld_sources == []
    tags = Page(b"<html><head>" + b"<meta content=x " * 100_000, URL)
    assert tags.meta == {}


def test_unclosed_comments_in_json_ld_are_read_once() -> None:
    assert jsonld.load_blocks(["/* " * 100_000 + "x"]) == []
    closed = jsonld.load_blocks(['/* a */ {"b": 1, /* c */ "d": [2,],}'])
    assert closed == [{"b": Decimal(1), "d": [Decimal(2)]}]


def test_a_long_inline_font_declaration_is_read_once() -> None:
    assert _font_size("font:" + "1" * 200_000) is None
    assert _font_size("font-weight: bold; font: italic 27.5px serif") == 27.5


# ----- the user's selector --------------------------------------------------------------------


@pytest.mark.parametrize(
    "selector", ["div " * 16 + "span", "div:has(span.price)", ".price" + " > span" * 10, "p" * 300]
)
def test_a_selector_lexbor_would_match_in_exponential_time_is_not_run(selector: str) -> None:
    body = _page(_product('"24.99"'), '<div><span class="price">19,99 €</span></div>' * 2_000)
    assert not PageExtractor().selector_is_valid(selector)
    observation = extract_observation(body, URL, selector)
    assert (observation.price, observation.method) == (Decimal("24.99"), "jsonld")
