"""Market data for holdings, built from Settings: card sources, exchange rates, fees and
the refresher that prices held items."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import SecretStr

from adapters.sources import (
    DEFAULT_SELLER_FEES,
    EcbRates,
    ScryfallSource,
    TcgdexSource,
    YgoprodeckSource,
    build_stockx_market,
)
from bot.settings import Settings
from core.alerts import AlertPolicy
from core.chat.call import Market
from core.holding_alerts import HoldingAlerts
from core.market import MarketplaceSource, MarketSource
from core.ports import Clock, UnitOfWorkFactory
from core.refreshing import MarketRefresher, RefreshConfig


def seller_fees(settings: Settings) -> dict[str, Decimal]:
    """The documented default fee of each platform, with the operator's overrides."""
    fees = {platform: fee.fraction for platform, fee in DEFAULT_SELLER_FEES.items()}
    return {**fees, **settings.fee_overrides}


def build_market(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: Clock, policy: AlertPolicy
) -> Market:
    timeout = settings.market_timeout
    sources: dict[str, MarketSource] = {
        "scryfall": ScryfallSource(settings.scryfall_api, clock=clock, timeout=timeout),
        "tcgdex": TcgdexSource(
            settings.pokemon_api, language=settings.pokemon_language, clock=clock, timeout=timeout
        ),
        "ygoprodeck": YgoprodeckSource(settings.ygoprodeck_api, clock=clock, timeout=timeout),
    }
    marketplaces: dict[str, MarketplaceSource] = {}
    stockx = build_stockx_market(
        _secret(settings.stockx_api_key),
        _secret(settings.stockx_token),
        settings.stockx_api,
        clock=clock,
        timeout=timeout,
    )
    if stockx is not None:  # only with an API key and a token
        marketplaces[stockx.platform] = stockx
    refresher = MarketRefresher(
        uow_factory,
        sources,
        clock,
        HoldingAlerts(policy),
        RefreshConfig(page_refresh=timedelta(seconds=settings.check_interval)),
        marketplaces=marketplaces,
    )
    return Market(
        sources=sources,
        refresher=refresher,
        rates=EcbRates(settings.fx_api, clock=clock, timeout=timeout),
        marketplaces=marketplaces,
        fees=seller_fees(settings),
        currency=settings.currency,
        max_holdings_per_chat=settings.max_holdings_per_chat,
    )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


async def close_market(market: Market) -> None:
    """Closes every source's HTTP client."""
    for source in market.sources.values():
        await source.aclose()
    if market.rates is not None:
        await market.rates.aclose()
    for marketplace in market.marketplaces.values():
        await marketplace.aclose()
