"""/history: a watch's price chart with the period's lowest, highest and average."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.chat import params
from core.chat.call import Call
from core.chat.common import watch_in_chat, watch_param
from core.chat.registry import CommandFamily, Param
from core.money import Money
from core.reply import Button, Reply
from core.text import clean_text

commands = CommandFamily("history")

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@commands.command(
    params=(
        watch_param(),
        Param(
            "period",
            "How far back: 7d, 30d, 90d, 1y or all",
            params.period,
            required=False,
            default=30,
            choices=params.PERIOD_CHOICES,
        ),
    ),
    actions=("chart",),
)
async def history(call: Call, watch: int, period: int | None) -> Reply:
    """Price history of a watch: a chart, the lowest, highest and average, the lowest ever.

    /history <watch> [7d|30d|90d|1y|all], 30 days by default.
    """
    now = call.services.clock.now()
    start = now - timedelta(days=period) if period else None
    async with call.uow() as uow:
        found = await watch_in_chat(uow, call, watch)
        product = await uow.products.get(found.product_id)
        assert product is not None
        stats = await uow.price_points.stats(product.id or 0, start)
        ever = await uow.price_points.stats(product.id or 0, None)
        points = await uow.price_points.since(product.id or 0, start or EPOCH)
    shown = f"last {period} days" if period else "all time"
    currency = product.currency or ""
    if stats.points == 0 or not currency:
        return Reply.say(f"No prices recorded for #{watch} in the {shown} yet.")

    def fmt(value: Decimal | None) -> str:
        return Money(value, currency).format() if value is not None else "-"

    title = clean_text(product.title, 200) or product.url
    charts = call.services.charts
    chart = charts.render(points, title=title, currency=currency, until=now) if charts else None
    return Reply(
        (
            f"#{watch} {title} ({shown}):",
            f"lowest {fmt(stats.low)}, highest {fmt(stats.high)}, average {fmt(stats.average)}\n"
            f"lowest ever {fmt(ever.low)}; {stats.points} prices recorded",
        ),
        buttons=(Button("Open", url=product.url),),
        image_png=chart,
    )
