"""Currency facts for extraction: symbols to ISO 4217 codes, shop country (TLD) and language."""

from __future__ import annotations

from urllib.parse import urlsplit

from price_parser._currencies import CURRENCIES as _PRICE_PARSER_CURRENCIES

# Every ISO 4217 code price-parser knows (about 200), plus a few it lacks.
ISO_CODES: frozenset[str] = frozenset(_PRICE_PARSER_CURRENCIES) | {"KZT", "BYN", "VES"}

# Currencies that really use three decimals; anywhere else "12.345" is a digit group.
THREE_DECIMAL_CURRENCIES = frozenset({"KWD", "BHD", "OMR", "JOD", "TND", "IQD", "LYD"})
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
# Symbols that name exactly one currency ("R$", "zł", "CHF"...).
UNAMBIGUOUS_SYMBOLS: dict[str, str] = {
    "US$": "USD",
    "U$S": "USD",
    "USD": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "CAD": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "NT$": "TWD",
    "R$": "BRL",
    "MX$": "MXN",
    "€": "EUR",
    "£": "GBP",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "руб": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "₴": "UAH",
    "₸": "KZT",
    "₫": "VND",
    "฿": "THB",
    "₱": "PHP",
    "₦": "NGN",
    "zł": "PLN",
    "Kč": "CZK",
    "Ft": "HUF",
    "lei": "RON",
    "лв": "BGN",
    "CHF": "CHF",
    "Fr.": "CHF",
    "Rs.": "INR",
    "Rs": "INR",
    "RM": "MYR",
    "Rp": "IDR",
    "円": "JPY",
    "EUR": "EUR",
    "GBP": "GBP",
    "€.": "EUR",
    "TL": "TRY",
    "тг": "KZT",
    "kn": "HRK",
    "din": "RSD",
    "KD": "KWD",
    "BD": "BHD",
    'ש"ח': "ILS",
}
# Symbols shared by several currencies: the shop's country decides, else the default.
AMBIGUOUS_SYMBOLS: dict[str, tuple[str, dict[str, str]]] = {
    "$": (
        "USD",
        {
            "ca": "CAD",
            "au": "AUD",
            "nz": "NZD",
            "mx": "MXN",
            "ar": "ARS",
            "cl": "CLP",
            "co": "COP",
            "sg": "SGD",
            "hk": "HKD",
            "tw": "TWD",
            "uy": "UYU",
            "br": "BRL",
        },
    ),
    "¥": ("JPY", {"cn": "CNY"}),
    "￥": ("JPY", {"cn": "CNY"}),
    "kr": ("SEK", {"no": "NOK", "dk": "DKK", "is": "ISK", "se": "SEK"}),
    "kr.": ("DKK", {"no": "NOK", "se": "SEK", "is": "ISK", "dk": "DKK"}),
    "R": ("ZAR", {}),
    "元": ("CNY", {"tw": "TWD", "hk": "HKD", "mo": "MOP"}),
    "₨": ("PKR", {"in": "INR", "lk": "LKR", "np": "NPR"}),
}


def host_of(url: str) -> str:
    """Lower-case host name of a URL without a leading www."""
    host = (urlsplit(url).hostname or "").lower()
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


def resolve_symbol(symbol: str, url: str | None) -> str | None:
    """ISO code for a currency symbol or code as written on a page, using the shop's country."""
    token = symbol.strip()
    upper = token.upper()
    if len(upper) == 3 and upper.isalpha() and upper in ISO_CODES:
        return upper
    if token in UNAMBIGUOUS_SYMBOLS:
        return UNAMBIGUOUS_SYMBOLS[token]
    for form in (token, token.lower()):
        if form in AMBIGUOUS_SYMBOLS:
            default, by_country = AMBIGUOUS_SYMBOLS[form]
            country = country_of(url) if url else None
            if country and country in by_country:
                return by_country[country]
            # A "$" on a shop whose own currency is a dollar/peso elsewhere: trust the country.
            local = currency_of_country(url) if url else None
            if form == "$" and local in {"CAD", "AUD", "NZD", "MXN", "ARS", "CLP", "COP", "SGD"}:
                return local
            return default
    return None


def normalise_code(value: object) -> str | None:
    """An ISO 4217 code from a structured-data currency field ("eur", "EUR ", "€")."""
    if not isinstance(value, str):
        return None
    token = value.strip()
    if len(token) == 3 and token.upper() in ISO_CODES:
        return token.upper()
    return resolve_symbol(token, None) if token else None
