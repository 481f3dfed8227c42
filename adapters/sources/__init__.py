"""Market data sources for pricebot: card price APIs, a resale marketplace and exchange rates.

Each source owns one HTTP client (close it with `aclose()`), keeps to the source's published
rate limit with a pace shared by every user of that source in the process, keeps answers for a
day, and fails only with core.market.SourceError (or SourceRateLimited)."""

from adapters.sources.ecb import ECB_DAILY_URL, EcbRates
from adapters.sources.fees import DEFAULT_SELLER_FEES, SellerFee
from adapters.sources.scryfall import SCRYFALL_API, ScryfallSource
from adapters.sources.stockx import STOCKX_API, StockXMarket, build_stockx_market
from adapters.sources.tcgdex import TCGDEX_API, TcgdexSource
from adapters.sources.ygoprodeck import YGOPRODECK_API, YgoprodeckSource

__all__ = [
    "DEFAULT_SELLER_FEES",
    "ECB_DAILY_URL",
    "SCRYFALL_API",
    "STOCKX_API",
    "TCGDEX_API",
    "YGOPRODECK_API",
    "EcbRates",
    "ScryfallSource",
    "SellerFee",
    "StockXMarket",
    "TcgdexSource",
    "YgoprodeckSource",
    "build_stockx_market",
]
