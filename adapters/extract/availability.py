"""Stock state: schema.org values, buy buttons and out-of-stock phrases in many languages."""

from __future__ import annotations

import re
from decimal import Decimal

from core.model import Availability

_SCHEMA_IN_STOCK = {
    "instock",
    "instoreonly",
    "onlineonly",
    "limitedavailability",
    "preorder",
    "presale",
    "backorder",
    "available",
    "in stock",
    "in_stock",
    "yes",
    "true",
    "1",
}
_SCHEMA_OUT_OF_STOCK = {
    "outofstock",
    "soldout",
    "discontinued",
    "out of stock",
    "out_of_stock",
    "oos",
    "unavailable",
    "notavailable",
    "no",
    "false",
    "0",
}


def from_value(value: object) -> Availability:
    """Reads a structured-data availability ("http://schema.org/InStock", "in stock"...)."""
    if isinstance(value, list):
        # One level only: a list inside the list is no availability (and nesting is how a
        # hostile page makes a recursive reader run out of stack).
        states = {_from_scalar(item) for item in value[:16]} - {Availability.UNKNOWN}
        return states.pop() if len(states) == 1 else Availability.UNKNOWN
    return _from_scalar(value)


def _from_scalar(value: object) -> Availability:
    # JSON-LD numbers are Decimals (1 and 0 for yes and no).
    if not isinstance(value, str | bool | int | Decimal):
        return Availability.UNKNOWN
    token = str(value).strip().lower().rstrip("/")
    token = token.rsplit("/", 1)[-1].rsplit(":", 1)[-1].strip()
    if token in _SCHEMA_IN_STOCK:
        return Availability.IN_STOCK
    if token in _SCHEMA_OUT_OF_STOCK:
        return Availability.OUT_OF_STOCK
    return Availability.UNKNOWN


# Phrases a shop shows when the product cannot be bought now. Kept specific ("out of stock",
# not "out") so that a product description does not trip them.
OUT_OF_STOCK_PHRASES = [
    # English
    "out of stock",
    "sold out",
    "currently unavailable",
    "no longer available",
    "temporarily unavailable",
    "not available for purchase",
    "unavailable online",
    "not in stock",
    "notify me when available",
    "email me when available",
    "notify me when back in stock",
    "this item is no longer available",
    # German
    "nicht verfügbar",
    "nicht lieferbar",
    "ausverkauft",
    "nicht auf lager",
    "derzeit nicht verfügbar",
    "momentan nicht verfügbar",
    "zurzeit nicht lieferbar",
    "leider vergriffen",
    "nicht mehr verfügbar",
    # French
    "rupture de stock",
    "épuisé",
    "actuellement indisponible",
    "indisponible",
    "en rupture",
    "plus disponible",
    "non disponible",
    # Spanish
    "agotado",
    "sin stock",
    "no disponible",
    "fuera de stock",
    "sin existencias",
    # Italian
    "esaurito",
    "non disponibile",
    "attualmente non disponibile",
    "non più disponibile",
    # Portuguese
    "esgotado",
    "indisponível",
    "sem estoque",
    "fora de estoque",
    "sem stock",
    "produto indisponível",
    # Polish
    "brak w magazynie",
    "niedostępny",
    "produkt niedostępny",
    "wyprzedany",
    "brak towaru",
    # Dutch
    "uitverkocht",
    "niet op voorraad",
    "niet leverbaar",
    "tijdelijk niet beschikbaar",
    "niet beschikbaar",
    # Japanese
    "在庫切れ",
    "品切れ",
    "売り切れ",
    "販売終了",
    "在庫なし",
    "入荷待ち",
    # Swedish, Danish, Norwegian, Finnish, Czech, Russian (the other scripts people send)
    "slutsåld",
    "tillfälligt slut",
    "udsolgt",
    "utsolgt",
    "loppuunmyyty",
    "vyprodáno",
    "нет в наличии",
    "распродано",
]

IN_STOCK_PHRASES = [
    "in stock",
    "add to cart",
    "add to basket",
    "add to bag",
    "buy now",
    "add to trolley",
    "auf lager",
    "in den warenkorb",
    "sofort lieferbar",
    "jetzt kaufen",
    "en stock",
    "ajouter au panier",
    "acheter",
    "en existencia",
    "añadir al carrito",
    "agregar al carrito",
    "comprar",
    "añadir a la cesta",
    "disponibile",
    "aggiungi al carrello",
    "acquista",
    "em estoque",
    "adicionar ao carrinho",
    "comprar agora",
    "adicionar ao cesto",
    "dodaj do koszyka",
    "w magazynie",
    "kup teraz",
    "op voorraad",
    "in winkelwagen",
    "in de winkelwagen",
    "bestellen",
    "在庫あり",
    "カートに入れる",
    "今すぐ購入",
    "i lager",
    "lägg i varukorg",
    "læg i kurv",
    "legg i handlekurv",
    "lisää ostoskoriin",
    "do košíku",
    "в корзину",
    "купить",
]

_OUT_RE = re.compile("|".join(re.escape(p) for p in sorted(OUT_OF_STOCK_PHRASES, key=len)[::-1]))
_IN_RE = re.compile("|".join(re.escape(p) for p in sorted(IN_STOCK_PHRASES, key=len)[::-1]))

# A captcha or bot wall is the fetcher's Blocked; it must never read as "out of stock".
CAPTCHA_MARKERS = (
    "captcha",
    "are you a robot",
    "not a robot",
    "robot check",
    "access denied",
    "verify you are human",
    "unusual traffic",
    "cf-challenge",
    "px-captcha",
)


def looks_blocked(text: str) -> bool:
    lowered = text[:20_000].lower()
    return any(marker in lowered for marker in CAPTCHA_MARKERS)


def out_of_stock_phrase(text: str) -> str | None:
    match = _OUT_RE.search(text.lower())
    return match.group(0) if match else None


def in_stock_phrase(text: str) -> str | None:
    match = _IN_RE.search(text.lower())
    return match.group(0) if match else None


def from_text(text: str) -> Availability:
    """Stock state of a short text (a stock label or a button): out-of-stock phrases first."""
    if out_of_stock_phrase(text):
        return Availability.OUT_OF_STOCK
    if in_stock_phrase(text):
        return Availability.IN_STOCK
    return Availability.UNKNOWN
