"""A step chart of a product's price history, rendered with matplotlib (Agg, no display)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from core.model import PricePoint
from core.ports import ChartRenderer


class MatplotlibChartRenderer(ChartRenderer):
    """Draws the price as a step line (a price holds until the next change), lowest marked."""

    def render(
        self, points: Sequence[PricePoint], *, title: str, currency: str, until: datetime
    ) -> bytes:
        import matplotlib

        matplotlib.use("Agg")  # no display; must precede pyplot
        from matplotlib import pyplot
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        priced = [p for p in points if p.price is not None and p.currency == currency]
        times = [p.observed_at for p in priced] + [until]
        prices = [float(p.price) for p in priced]  # plotting only: money math stays Decimal
        prices.append(prices[-1])
        figure, axes = pyplot.subplots(figsize=(8, 4), dpi=100)
        try:
            axes.step(times, prices, where="post", color="#1f77b4", linewidth=2)
            lowest = min(range(len(priced)), key=lambda i: prices[i])
            axes.scatter([times[lowest]], [prices[lowest]], color="#2ca02c", zorder=3)
            axes.set_title(title[:80])
            axes.set_ylabel(currency)
            axes.grid(alpha=0.3)
            locator = AutoDateLocator()
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            return buffer.getvalue()
        finally:
            pyplot.close(figure)
