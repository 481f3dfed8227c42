"""Stock state: schema.org values, then the buy button and out-of-stock phrases per language."""

from __future__ import annotations

import pytest

from adapters.extract import availability as stock
from adapters.extract import extract_observation
from core.model import Availability

OUT_OF_STOCK = {
    "en": "Sorry, this item is currently out of stock",
    "de": "Dieser Artikel ist leider ausverkauft",
    "fr": "Produit en rupture de stock",
    "es": "Producto agotado",
    "it": "Articolo esaurito",
    "pt": "Produto esgotado",
    "pl": "Produkt niedostępny",
    "nl": "Dit product is uitverkocht",
    "ja": "申し訳ありません。在庫切れです",
}
IN_STOCK_BUTTONS = {
    "en": "Add to basket",
    "de": "In den Warenkorb",
    "fr": "Ajouter au panier",
    "es": "Añadir al carrito",
    "it": "Aggiungi al carrello",
    "pt": "Adicionar ao carrinho",
    "pl": "Dodaj do koszyka",
    "nl": "In winkelwagen",
    "ja": "カートに入れる",
}


def _page(language: str, body: str, structured: str = "") -> bytes:
    return f"""<!doctype html><html lang="{language}"><head><meta charset="utf-8">
    <title>Produkt</title>
    <meta property="product:price:amount" content="19.99">
    <meta property="product:price:currency" content="EUR">{structured}
    </head><body><h1>Produkt</h1><div class="product-info">{body}</div></body></html>""".encode()


@pytest.mark.parametrize("language", sorted(OUT_OF_STOCK))
def test_out_of_stock_phrase_in_each_language(language: str) -> None:
    body = f'<p class="stock-status">{OUT_OF_STOCK[language]}</p>'
    observation = extract_observation(_page(language, body), "https://shop.example.com/p/1")
    assert observation.availability is Availability.OUT_OF_STOCK


@pytest.mark.parametrize("language", sorted(IN_STOCK_BUTTONS))
def test_buy_button_in_each_language_means_in_stock(language: str) -> None:
    body = f'<button type="submit" class="btn">{IN_STOCK_BUTTONS[language]}</button>'
    observation = extract_observation(_page(language, body), "https://shop.example.com/p/1")
    assert observation.availability is Availability.IN_STOCK


def test_disabled_add_to_cart_button_means_out_of_stock() -> None:
    body = '<button class="add-to-cart" disabled>Add to cart</button>'
    observation = extract_observation(_page("en", body), "https://shop.example.com/p/1")
    assert observation.availability is Availability.OUT_OF_STOCK


def test_structured_data_wins_over_page_phrases() -> None:
    structured = '<meta property="product:availability" content="in stock">'
    body = '<p class="stock-status">Out of stock in your local store</p>'
    observation = extract_observation(_page("en", body, structured), "https://shop.example.com/p/1")
    assert observation.availability is Availability.IN_STOCK


def test_phrases_in_other_products_regions_do_not_count() -> None:
    body = (
        '<button class="add-to-cart">Add to cart</button>'
        '<div class="related-products"><span class="stock">Sold out</span></div>'
    )
    observation = extract_observation(_page("en", body), "https://shop.example.com/p/1")
    assert observation.availability is Availability.IN_STOCK


def test_nothing_said_means_unknown() -> None:
    observation = extract_observation(_page("en", "<p>A fine product.</p>"), "https://x.example/p")
    assert observation.availability is Availability.UNKNOWN


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("http://schema.org/InStock", Availability.IN_STOCK),
        ("https://schema.org/OutOfStock", Availability.OUT_OF_STOCK),
        ("schema:SoldOut", Availability.OUT_OF_STOCK),
        ("InStock", Availability.IN_STOCK),
        ("in stock", Availability.IN_STOCK),
        ("out of stock", Availability.OUT_OF_STOCK),
        ("https://schema.org/PreOrder", Availability.IN_STOCK),
        ("https://schema.org/BackOrder", Availability.IN_STOCK),
        ("https://schema.org/Discontinued", Availability.OUT_OF_STOCK),
        ("https://schema.org/LimitedAvailability", Availability.IN_STOCK),
        ("", Availability.UNKNOWN),
        (None, Availability.UNKNOWN),
        ("maybe", Availability.UNKNOWN),
    ],
)
def test_schema_org_values(value: str | None, state: Availability) -> None:
    assert stock.from_value(value) is state


def test_captcha_text_is_recognised() -> None:
    assert stock.looks_blocked("Robot Check")
    assert stock.looks_blocked("Please verify you are human")
    assert not stock.looks_blocked("Oak Side Table")
