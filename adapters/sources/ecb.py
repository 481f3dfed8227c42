"""The ECB's daily euro foreign exchange reference rates behind ExchangeRates, read once a day."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType

from adapters.sources.cache import MISSING, TtlCache
from adapters.sources.http import DEFAULT_TIMEOUT, SourceHttp
from adapters.sources.limits import RateLimit
from core.market import ExchangeRates, RateTable, SourceError
from core.ports import Clock, SystemClock

ECB_DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
# A static file published once a working day (around 16:00 CET): there is nothing to gain
# from asking often.
DEFAULT_LIMITS: Mapping[str, RateLimit] = MappingProxyType({"file": RateLimit.per_second(1)})
_CODE = re.compile(r"[A-Z]{3}")
_RATE = re.compile(r"\d{1,12}(?:\.\d{1,12})?")


class EcbRates(ExchangeRates):
    """Reference rates of the latest published day: 1 EUR = rates[code] units of code."""

    name = "ecb"

    def __init__(
        self,
        url: str = ECB_DAILY_URL,
        *,
        clock: Clock | None = None,
        refresh: timedelta = timedelta(days=1),
        timeout: float = DEFAULT_TIMEOUT,
        limits: Mapping[str, RateLimit] = DEFAULT_LIMITS,
    ) -> None:
        self.refresh = refresh
        self._http = SourceHttp(
            self.name,
            url,
            limits={**DEFAULT_LIMITS, **limits},
            timeout=timeout,
            headers={"Accept": "application/xml, text/xml;q=0.9"},
        )
        self._tables: TtlCache[str, RateTable] = TtlCache(refresh, clock or SystemClock())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def latest(self) -> RateTable:
        cached = self._tables.get("latest")
        if cached is not MISSING:
            return cached
        reply = await self._http.request("GET", "", bucket="file")
        table = parse_daily_rates(reply.body)
        self._tables.put("latest", table)
        return table


def parse_daily_rates(body: bytes, source: str = "ecb") -> RateTable:
    """The RateTable of an eurofxref-daily.xml file: the Cube with a `time` and its Cubes of
    `currency` and `rate`. Anything missing or unreadable is SourceError("malformed")."""
    # The ECB never sends a DTD; refusing one keeps entity expansion out of the parser.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SourceError(source, "malformed")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise SourceError(source, "malformed") from None
    cubes = (el for el in root.iter() if _local(el.tag) == "Cube" and "time" in el.attrib)
    day_cube = next(cubes, None)
    if day_cube is None:
        raise SourceError(source, "malformed")
    try:
        day = date.fromisoformat(day_cube.attrib["time"])
    except ValueError:
        raise SourceError(source, "malformed") from None
    rates: dict[str, Decimal] = {}
    for cube in day_cube:
        if _local(cube.tag) != "Cube":
            continue
        code, rate = cube.attrib.get("currency", ""), cube.attrib.get("rate", "")
        if not _CODE.fullmatch(code) or not _RATE.fullmatch(rate) or Decimal(rate) <= 0:
            raise SourceError(source, "malformed")
        rates[code] = Decimal(rate)
    if not rates:
        raise SourceError(source, "malformed")
    return RateTable(base="EUR", day=day, rates=rates, source=source)


def _local(tag: str) -> str:
    """An element's name without its namespace ("{http://www.ecb.int/...}Cube" -> "Cube")."""
    return tag.rsplit("}", 1)[-1]
