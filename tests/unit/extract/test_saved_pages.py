"""Every saved fixture page in tests/fixtures/pages gives the answer its expected.json row names."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.extract import PageExtractor, extract_observation
from core.errors import AmbiguousPrice, NoPriceFound
from core.model import Availability, Observation

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"
EXPECTED: dict[str, dict] = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))


def _extract(name: str, selector: str | None = None) -> Observation:
    row = EXPECTED[name]
    return extract_observation((PAGES / name).read_bytes(), row["url"], selector)


def test_there_are_enough_fixtures_and_each_has_an_expectation() -> None:
    html_files = {path.name for path in PAGES.glob("*.html")}
    assert len(html_files) >= 30
    assert html_files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(n for n, row in EXPECTED.items() if "error" not in row))
def test_page_gives_expected_observation(name: str) -> None:
    row = EXPECTED[name]
    observation = _extract(name)
    assert observation.price == Decimal(row["price"])
    assert isinstance(observation.price, Decimal)
    assert observation.currency == row["currency"]
    assert observation.method == row["method"]
    if "availability" in row:
        assert observation.availability == Availability(row["availability"])
    if "title" in row:
        assert observation.title == row["title"]
    assert 0 < observation.confidence <= 1


NO_PRICE = sorted(n for n, row in EXPECTED.items() if row.get("error") == "no_price")


@pytest.mark.parametrize("name", [n for n in NO_PRICE if "availability" not in EXPECTED[n]])
def test_page_without_a_price_raises_no_price_found(name: str) -> None:
    with pytest.raises(NoPriceFound):
        _extract(name)


@pytest.mark.parametrize("name", [n for n in NO_PRICE if "availability" in EXPECTED[n]])
def test_page_with_a_stock_state_but_no_price_is_an_observation_without_price(name: str) -> None:
    # Sold-out pages keep what they told (restock alerts need it): data, not an error.
    row = EXPECTED[name]
    observation = _extract(name)
    assert observation.price is None and observation.currency is None
    assert observation.availability == Availability(row["availability"])
    assert observation.method == row["method"]
    if "title" in row:
        assert observation.title == row["title"]


def test_several_variant_prices_raise_ambiguous_price_with_the_candidates() -> None:
    row = EXPECTED["jsonld_variants_ambiguous.html"]
    with pytest.raises(AmbiguousPrice) as caught:
        _extract("jsonld_variants_ambiguous.html")
    amounts = sorted(amount for amount, _ in caught.value.candidates)
    assert amounts == [Decimal(value) for value in row["candidates"]]
    assert {currency for _, currency in caught.value.candidates} == {"USD"}
    assert "$19.00" in caught.value.user_message


def test_the_variant_named_in_the_link_settles_the_price() -> None:
    observation = _extract("jsonld_variant_by_sku.html")
    assert observation.price == Decimal("19.50")
    other = extract_observation(
        (PAGES / "jsonld_variant_by_sku.html").read_bytes(),
        "https://papeterie.example.ch/de/filzstift-fibralo-medium?sku=1049085",
    )
    assert other.price == Decimal("34.90")
    assert other.availability is Availability.OUT_OF_STOCK


def test_a_users_selector_wins_over_structured_data_when_it_matches() -> None:
    observation = _extract("selector_member_price.html", ".member-price")
    assert (observation.price, observation.currency) == (Decimal("27.20"), "GBP")
    assert observation.method == "selector"
    # Availability still comes from the structured data.
    assert observation.availability is Availability.IN_STOCK


def test_a_selector_that_matches_nothing_falls_back_to_the_normal_chain() -> None:
    observation = _extract("selector_member_price.html", "#no-such-element")
    assert observation.price == Decimal("32.00")
    assert observation.method == "jsonld"


def test_an_invalid_selector_is_ignored_rather_than_crashing() -> None:
    observation = _extract("selector_member_price.html", "div[[[")
    assert observation.method == "jsonld"


def test_hostile_title_is_returned_as_plain_text_not_interpreted() -> None:
    observation = _extract("hostile_title.html")
    assert observation.title == "<b>Deal</b> & <script>"
    # The literal characters survive: rendering must escape them, we never strip or run them.
    assert "&amp;" not in observation.title


def test_captcha_page_is_never_out_of_stock() -> None:
    with pytest.raises(NoPriceFound):
        _extract("captcha_robot_check.html")


def test_page_extractor_port_calls_the_engine() -> None:
    row = EXPECTED["jsonld_graph.html"]
    body = (PAGES / "jsonld_graph.html").read_bytes()
    assert PageExtractor().extract(body, row["url"]) == extract_observation(body, row["url"])


def test_price_from_the_shops_country_when_the_page_names_no_currency() -> None:
    body = b"""<html lang="sv"><head><title>Termos</title>
    <meta property="product:price:amount" content="249"></head><body></body></html>"""
    observation = extract_observation(body, "https://hemmaute.example.se/termos")
    assert (observation.price, observation.currency) == (Decimal("249"), "SEK")


def test_undecodable_and_empty_pages_raise_no_price_found() -> None:
    with pytest.raises(NoPriceFound):
        extract_observation(b"", "https://shop.example.com/x")
    with pytest.raises(NoPriceFound):
        extract_observation(b"\xff\xfe\x00garbage\x00\x81", "https://shop.example.com/x")


def test_names_escaped_inside_json_ld_are_decoded_once_and_stay_plain_text() -> None:
    body = b"""<html><head><script type="application/ld+json">{"@type": "Product",
    "name": "Selfie Stick - Black &amp; Silver &lt;script&gt;",
    "offers": {"price": "9.99", "priceCurrency": "EUR"}}</script></head></html>"""
    observation = extract_observation(body, "https://www.currys.ie/p/1")
    assert observation.title == "Selfie Stick - Black & Silver <script>"


def test_json_ld_numbers_stay_exact_decimals() -> None:
    body = b"""<html><head><script type="application/ld+json">{"@type": "Product",
    "name": "Pen", "offers": {"price": 0.1, "priceCurrency": "USD"}}</script></head></html>"""
    observation = extract_observation(body, "https://pens.example.com/p")
    assert observation.price == Decimal("0.1")


def test_shopify_variant_in_the_link_names_its_own_price_and_stock() -> None:
    body = (PAGES / "shopify_variant_in_url.html").read_bytes()
    small = extract_observation(
        body, "https://northfield.example.com/products/merino-crew-sock?variant=39112233445566"
    )
    assert (small.price, small.availability) == (Decimal("18.00"), Availability.IN_STOCK)
