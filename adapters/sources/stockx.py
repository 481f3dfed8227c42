"""StockX: a product size's lowest ask and highest bid (API v2 market data), a MarketplaceSource."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

from adapters.sources.cache import MISSING, TtlCache
from adapters.sources.http import DEFAULT_TIMEOUT, SourceHttp
from adapters.sources.limits import RateLimit
from adapters.sources.payload import mapping, money, required_text
from core.market import MarketplaceData, MarketplaceSource, SourceError
from core.ports import Clock, SystemClock

STOCKX_API = "https://api.stockx.com/v2"
# Currencies the market-data endpoint takes (its currencyCode parameter).
STOCKX_CURRENCIES = frozenset(
    {"AUD", "CAD", "CHF", "EUR", "GBP", "HKD", "JPY", "KRW", "MXN", "NZD", "SGD", "USD"}
)
# The StockX developer pages found state no rate limit; one request a second is cautious.
DEFAULT_LIMITS: Mapping[str, RateLimit] = MappingProxyType({"api": RateLimit.per_second(1)})
# item_ref is "<productId>:<variantId>", both as the StockX catalogue gives them.
_ITEM_REF = re.compile(r"([A-Za-z0-9-]{1,64}):([A-Za-z0-9-]{1,64})")


class StockXMarket(MarketplaceSource):
    """GET /catalog/products/{productId}/variants/{variantId}/market-data: the lowest ask and
    highest bid of one size. That endpoint has no last sale, sales count or volatility, and
    no other documented v2 endpoint was found to give them, so they stay None;
    sellFasterAmount and earnMoreAmount (StockX's suggested asks) are not market prices and
    are not kept. What StockX keeps of a sale is the operator's setting, applied by /sell."""

    platform = "stockx"

    def __init__(
        self,
        api_key: str,
        token: str,
        base_url: str = STOCKX_API,
        *,
        clock: Clock | None = None,
        refresh: timedelta = timedelta(days=1),
        timeout: float = DEFAULT_TIMEOUT,
        limits: Mapping[str, RateLimit] = DEFAULT_LIMITS,
    ) -> None:
        if not api_key.strip() or not token.strip():
            raise ValueError("StockX needs an API key and an OAuth access token")
        self.refresh = refresh
        self._clock = clock or SystemClock()
        self._http = SourceHttp(
            "stockx",
            base_url,
            limits={**DEFAULT_LIMITS, **limits},
            timeout=timeout,
            headers={"x-api-key": api_key.strip(), "Authorization": f"Bearer {token.strip()}"},
        )
        self._markets: TtlCache[tuple[str, str], MarketplaceData | None] = TtlCache(
            refresh, self._clock
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def market(self, item_ref: str, currency: str) -> MarketplaceData | None:
        """The size's market in `currency` (one StockX takes, else ValueError), or None when
        StockX does not know the product or size (404, or its 400 "variant not in product")."""
        if currency not in STOCKX_CURRENCIES:
            raise ValueError(f"StockX gives market data in {sorted(STOCKX_CURRENCIES)}")
        parsed = _ITEM_REF.fullmatch(item_ref)
        if parsed is None:
            return None
        cached = self._markets.get((item_ref, currency))
        if cached is not MISSING:
            return cached
        product, variant = parsed.groups()
        reply = await self._http.request(
            "GET",
            f"catalog/products/{product}/variants/{variant}/market-data",
            bucket="api",
            params={"currencyCode": currency},
            expect=(200, 400, 404),
        )
        data = None if reply.status != 200 else self._read(item_ref, reply.json())
        self._markets.put((item_ref, currency), data)
        return data

    def _read(self, item_ref: str, body: object) -> MarketplaceData:
        body = mapping(body, "stockx")
        currency = required_text(body, "currencyCode", "stockx")
        if currency not in STOCKX_CURRENCIES:
            raise SourceError("stockx", "malformed")
        return MarketplaceData(
            platform=self.platform,
            item_ref=item_ref,
            lowest_ask=money(body.get("lowestAskAmount"), currency),
            highest_bid=money(body.get("highestBidAmount"), currency),
            last_sale=None,
            sales_30d=None,
            volatility=None,
            as_of=self._clock.now(),
        )


def build_stockx_market(
    api_key: str | None,
    token: str | None,
    base_url: str = STOCKX_API,
    *,
    clock: Clock | None = None,
    refresh: timedelta = timedelta(days=1),
    timeout: float = DEFAULT_TIMEOUT,
) -> StockXMarket | None:
    """The StockX source, or None when no API key or token is configured: StockX answers
    nothing without both, so pricebot then simply has no StockX (check for None)."""
    if not api_key or not api_key.strip() or not token or not token.strip():
        return None
    return StockXMarket(api_key, token, base_url, clock=clock, refresh=refresh, timeout=timeout)
