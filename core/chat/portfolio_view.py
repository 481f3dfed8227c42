"""The portfolio as text: one line per holding, totals per currency, a grand total."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.money import Money
from core.portfolio import Totals, Valued
from core.text import clean_text

LINE_TITLE = 70


def holding_line(line: Valued, now: datetime) -> str:
    """'#3 2 × Black Lotus (LEA #232) · $12,000.00 each (scryfall/tcgplayer, 5 h ago) = ...'"""
    holding, item = line.holding, line.item
    title = clean_text(item.label, LINE_TITLE) or item.name
    condition = f" [{holding.condition}]" if holding.condition else ""
    text = f"#{holding.id} {holding.quantity} × {title}{condition}"
    if line.price is None:
        return text + "\nno market price yet"
    price = line.price
    age = _age(now - price.observed_at)
    where = price.source if price.source == price.market else f"{price.source}/{price.market}"
    text += f"\n{price.price.format()} each ({where}, {age})"
    if line.stale:
        text += " ⚠ stale: the source has not answered since"
    if line.value is not None:
        text += f" = {line.value.format()}"
    if line.cost is not None:
        text += f"; cost {line.cost.format()}"
    if line.profit is not None:
        sign = "+" if line.profit.amount > 0 else ""
        percent = f" ({sign}{line.profit_percent}%)" if line.profit_percent is not None else ""
        text += f"; {sign}{line.profit.format()}{percent}"
    return text


def totals_block(totals: Totals, currency: str) -> str:
    lines = []
    for code in sorted(set(totals.value) | set(totals.cost)):
        value = Money(totals.value[code], code) if code in totals.value else None
        cost = Money(totals.cost[code], code) if code in totals.cost else None
        parts = [f"value {value.format()}" if value else "value -"]
        if cost is not None:
            parts.append(f"cost {cost.format()}")
        lines.append(f"In {code}: " + ", ".join(parts))
    if totals.grand_value is not None and totals.rates is not None:
        grand = f"Total in {currency}: {totals.grand_value.format()}"
        if totals.grand_cost is not None:
            change = totals.grand_value.amount - totals.grand_cost.amount
            sign = "+" if change > 0 else ""
            grand += (
                f", cost {totals.grand_cost.format()}, {sign}{Money(change, currency).format()}"
            )
        rates = totals.rates
        grand += f" (at {rates.source or 'reference'} rates of {rates.day.isoformat()})"
        if totals.unconverted:
            grand += f"; not converted: {', '.join(totals.unconverted)}"
        lines.append(grand)
    elif len(totals.value) > 1:
        lines.append(f"No grand total in {currency}: exchange rates are not available now.")
    return "\n".join(lines)


def portfolio_blocks(
    shown: Sequence[Valued],
    total_count: int,
    totals: Totals,
    currency: str,
    now: datetime,
    page: int,
    pages: int,
) -> tuple[str, ...]:
    header = f"Holdings in this chat ({total_count})" + (
        f", page {page} of {pages}" if pages > 1 else ""
    )
    return (
        header + ":",
        *(holding_line(line, now) for line in shown),
        totals_block(totals, currency),
    )


def _age(elapsed: timedelta) -> str:
    seconds = max(elapsed.total_seconds(), 0)
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"
