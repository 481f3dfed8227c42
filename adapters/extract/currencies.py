"""Currency facts for extraction: shop country (TLD) and language; codes and symbols come from
core.currency, the one table pricebot has."""

from __future__ import annotations

from urllib.parse import urlsplit

from core.currency import ISO_CODES, MINOR_UNITS, symbol_choices

# Currencies that really use three decimals; anywhere else "12.345" is a digit group.
THREE_DECIMAL_CURRENCIES = frozenset(code for code, digits in MINOR_UNITS.items() if digits == 3)
# Shop country from the host's last label(s) -> the currency its prices are in.
TLD_CURRENCY: dict[str, str] = {
    "uk": "GBP",
    "de": "EUR",
    "fr": "EUR",
    "it": "EUR",
    "es": "EUR",
    "nl": "EUR",
    "be": "EUR",
    "at": "EUR",
    "ie": "EUR",
    "pt": "EUR",
    "fi": "EUR",
    "gr": "EUR",
    "lu": "EUR",
    "sk": "EUR",
    "si": "EUR",
    "ee": "EUR",
    "lv": "EUR",
    "lt": "EUR",
    "mt": "EUR",
    "cy": "EUR",
    "hr": "EUR",
    "ch": "CHF",
    "li": "CHF",
    "pl": "PLN",
    "cz": "CZK",
    "hu": "HUF",
    "ro": "RON",
    "bg": "BGN",
    "se": "SEK",
    "no": "NOK",
    "dk": "DKK",
    "is": "ISK",
    "ru": "RUB",
    "ua": "UAH",
    "by": "BYN",
    "kz": "KZT",
    "tr": "TRY",
    "il": "ILS",
    "ae": "AED",
    "sa": "SAR",
    "eg": "EGP",
    "za": "ZAR",
    "ng": "NGN",
    "ke": "KES",
    "in": "INR",
    "pk": "PKR",
    "lk": "LKR",
    "bd": "BDT",
    "jp": "JPY",
    "cn": "CNY",
    "hk": "HKD",
    "tw": "TWD",
    "kr": "KRW",
    "sg": "SGD",
    "my": "MYR",
    "th": "THB",
    "vn": "VND",
    "id": "IDR",
    "ph": "PHP",
    "au": "AUD",
    "nz": "NZD",
    "ca": "CAD",
    "mx": "MXN",
    "br": "BRL",
    "ar": "ARS",
    "cl": "CLP",
    "co": "COP",
    "pe": "PEN",
    "uy": "UYU",
    "us": "USD",
    "rs": "RSD",
    "ba": "BAM",
    "mk": "MKD",
    "al": "ALL",
    "md": "MDL",
    "ge": "GEL",
    "am": "AMD",
}

# Page language -> whether it writes "1.234,56" (True) or "1,234.56" (False).
COMMA_DECIMAL_LANGUAGES = frozenset(
    {
        "de",
        "fr",
        "es",
        "it",
        "pt",
        "nl",
        "pl",
        "cs",
        "sk",
        "sl",
        "hr",
        "sr",
        "bs",
        "ro",
        "bg",
        "ru",
        "uk",
        "be",
        "kk",
        "tr",
        "el",
        "hu",
        "fi",
        "sv",
        "nb",
        "nn",
        "no",
        "da",
        "is",
        "et",
        "lv",
        "lt",
        "ca",
        "eu",
        "gl",
        "id",
        "vi",
        "az",
        "ka",
        "hy",
        "mk",
        "sq",
    }
)
DOT_DECIMAL_LANGUAGES = frozenset(
    {"en", "ja", "zh", "ko", "he", "th", "ms", "fil", "tl", "hi", "bn", "ta", "ar", "ur", "ga"}
)


def host_of(url: str) -> str:
    """Lower-case host name of a URL without a leading www ("" when it has none)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:  # "https://[::1/x": an IPv6 address left open
        return ""
    return host[4:] if host.startswith("www.") else host


def country_of(url: str) -> str | None:
    """Two-letter country of a shop from its host (amazon.co.uk -> uk, shop.com.br -> br)."""
    host = host_of(url)
    label = host.rsplit(".", 1)[-1] if "." in host else ""
    if len(label) == 2 and label.isalpha():
        return label
    return None


def currency_of_country(url: str) -> str | None:
    """The currency a shop's country (from its TLD) prices in, when the TLD is a country."""
    country = country_of(url)
    return TLD_CURRENCY.get(country) if country else None


# Currencies written "$" at home: on a shop in their country "$" means them, not USD.
_OWN_DOLLARS = frozenset({"CAD", "AUD", "NZD", "MXN", "ARS", "CLP", "COP", "SGD"})


def resolve_symbol(symbol: str, url: str | None) -> str | None:
    """ISO code for a currency symbol or code as written on a page, using the shop's country."""
    choices = symbol_choices(symbol)
    if choices is None:
        return None
    default, by_country = choices
    if not by_country or url is None:
        return default
    country = country_of(url)
    if country and country in by_country:
        return by_country[country]
    # A "$" on a shop whose own currency is a dollar/peso elsewhere: trust the country.
    local = currency_of_country(url)
    if symbol.strip() == "$" and local in _OWN_DOLLARS:
        return local
    return default


def normalise_code(value: object) -> str | None:
    """An ISO 4217 code from a structured-data currency field ("eur", "EUR ", "€")."""
    if not isinstance(value, str):
        return None
    token = value.strip()
    if len(token) == 3 and token.upper() in ISO_CODES:
        return token.upper()
    return resolve_symbol(token, None) if token else None
