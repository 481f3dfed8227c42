"""ISO 4217 currencies: minor units and symbols, one table for parsing, checking and display."""

from __future__ import annotations

# Digits after the decimal point of each active ISO 4217 code (plus HRK, which Croatian
# pages still show). Funds codes and metals without a minor unit are left out: nobody
# sells a kettle in XAU.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()),
        0,
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
    **dict.fromkeys(
        (
            "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD "
            "BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD "
            "EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS "
            "INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT "
            "MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR "
            "PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP "
            "SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER "
            "ZAR ZMW ZWG ZWL"
        ).split(),
        2,
    ),
}
ISO_CODES: frozenset[str] = frozenset(MINOR_UNITS)

# How pricebot writes an amount's currency; codes not listed are written as the code.
DISPLAY_SYMBOLS: dict[str, str] = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "KRW": "₩",
    "PLN": "zł",
    "CHF": "CHF ",
    "SEK": "kr",
    "NOK": "kr",
    "DKK": "kr",
    "RUB": "₽",
    "TRY": "₺",
    "BRL": "R$",
    "CAD": "CA$",
    "AUD": "A$",
}
# Symbols written after the amount ("12,99 zł").
SUFFIX_SYMBOLS = frozenset({"kr", "zł"})

# Symbols that name exactly one currency, as pages and people write them.
UNAMBIGUOUS_SYMBOLS: dict[str, str] = {
    "US$": "USD",
    "U$S": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "NT$": "TWD",
    "R$": "BRL",
    "MX$": "MXN",
    "€": "EUR",
    "€.": "EUR",
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
    "Fr.": "CHF",
    "Rs.": "INR",
    "Rs": "INR",
    "RM": "MYR",
    "Rp": "IDR",
    "円": "JPY",
    "TL": "TRY",
    "тг": "KZT",
    "kn": "HRK",
    "din": "RSD",
    "KD": "KWD",
    "BD": "BHD",
    'ש"ח': "ILS",
}
# Symbols shared by several currencies: the default, and the currency by shop country.
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


def minor_digits(currency: str) -> int:
    """Digits after the decimal point of a currency's smallest unit (2 when unknown)."""
    return MINOR_UNITS.get(currency.upper(), 2)


def is_currency(code: str) -> bool:
    """Whether `code` is an ISO 4217 code pricebot knows (exactly three capitals)."""
    return code in ISO_CODES


def symbol_choices(symbol: str) -> tuple[str, dict[str, str]] | None:
    """The currency a symbol or code stands for by default, and the shop countries where it
    stands for another ({} when it is never ambiguous); None when it is no currency."""
    token = symbol.strip()
    if len(token) == 3 and token.upper() in ISO_CODES:
        return token.upper(), {}
    if token in UNAMBIGUOUS_SYMBOLS:
        return UNAMBIGUOUS_SYMBOLS[token], {}
    for form in (token, token.lower()):
        if form in AMBIGUOUS_SYMBOLS:
            return AMBIGUOUS_SYMBOLS[form]
    return None


def symbol_candidates(symbol: str) -> tuple[str, ...]:
    """Every currency a symbol or code may stand for, the most likely first; () if none."""
    choices = symbol_choices(symbol)
    if choices is None:
        return ()
    default, by_country = choices
    return tuple(dict.fromkeys((default, *by_country.values())))
