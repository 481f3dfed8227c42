"""Alert messages: turn an AlertEvent or a page status change into a platform-neutral Reply."""

from __future__ import annotations

from core.alerts import AlertEvent, EventKind
from core.model import Availability, Product, Watch
from core.money import Money, percent_change
from core.reply import Button, Reply

# Long shop titles (marketplaces pad them with keywords) would bury the headline in a
# notification preview; the full title is one tap away on the shop page.
_HEADLINE_TITLE_MAX = 120

_HEADLINES = {
    EventKind.TARGET: "Target price reached",
    EventKind.DROP: "Price drop",
    EventKind.RESTOCK: "Back in stock",
}

# Why a page broke, in words, by core.errors reason code (the check cycle stores the code).
_STATUS_REASONS = {
    "fetch": "fetching it keeps failing",
    "extraction": "I can no longer read its price",
    "invalid_url": "the address is not valid",
    "private_address": "it points to a private network address",
    "not_found": "the shop says it does not exist any more (404/410)",
    "blocked": "the shop blocks my requests (403 or a captcha page)",
    "timeout": "the shop takes too long to answer",
    "unreachable": "the shop's server cannot be reached",
    "too_large": "the page is too large to read",
    "not_a_product_page": "it is not a web page any more",
    "too_many_redirects": "it redirects too many times",
    "transient": "the shop keeps answering with errors",
    "no_price": "I can no longer find a price on it",
    "sold_out": "it is sold out and shows no price",
    "ambiguous_price": "it shows several different prices and I cannot tell which is right",
    "too_complex": "the page is too complex to read in time",
    "unreadable": "its text cannot be decoded",
    "storage": "its readings cannot be saved",
}


def reason_text(reason: str | None) -> str:
    """Why a page cannot be read, in words, from its reason code (or an older sentence)."""
    reason = (reason or "").strip()
    return _STATUS_REASONS.get(reason) or reason.rstrip(".") or "of an unknown problem"


def render_alert(
    event: AlertEvent, *, watch: Watch, product: Product, low_30d: Money | None
) -> Reply:
    """The alert message: headline, price change, why it fired, 30-day low, link, buttons."""
    blocks = [f"{_headline(event)}: {_short_title(product)}", _price_line(event)]
    rule_line = f"Your rule: {watch.rule.describe()}."
    # A restock's reason only repeats the price line, so it is left out.
    is_restock = event.kind is EventKind.RESTOCK
    blocks.append(rule_line if is_restock else f"Why: {event.reason}.\n{rule_line}")
    low_line = _low_line(event.new, low_30d)
    if low_line:
        blocks.append(low_line)
    if event.kind is not EventKind.RESTOCK and product.availability is Availability.OUT_OF_STOCK:
        blocks.append("Note: the page says it is out of stock.")
    blocks.append(product.url)
    return Reply(
        tuple(blocks),
        _alert_buttons(watch, product),
        link=product.url,
        thumbnail=product.image,
    )


def render_status_change(product: Product, *, broken: bool, reason: str) -> Reply:
    """Tells a watcher that a page can no longer be read (and why), or can be read again."""
    title = _short_title(product)
    if broken:
        blocks = [
            f"Cannot read this page any more: {title}",
            f"{_broken_because(reason)} No price alerts come from it until it works again; "
            "I keep checking and will tell you when it does.",
            product.url,
        ]
    else:
        current = product.money
        price = f" The price is now {current.format()}." if current is not None else ""
        blocks = [
            f"Page readable again: {title}",
            f"This page can be read again, so price alerts for it resume.{price}",
            product.url,
        ]
    return Reply.say(*blocks, buttons=(Button("Open", url=product.url),))


def _broken_because(reason: str) -> str:
    code = reason.strip()
    if not code:
        return "This page can no longer be read."
    if code not in _STATUS_REASONS and (code[0].isupper() or ". " in code):
        # Already a sentence of its own (an error message we have no words for).
        ending = "" if code.endswith((".", "!", "?")) else "."
        return f"This page can no longer be read. {code}{ending}"
    return f"This page can no longer be read because {reason_text(code)}."


def _headline(event: AlertEvent) -> str:
    if event.kind is EventKind.DEVIATION:
        if event.old is not None and event.new is not None and event.new.amount > event.old.amount:
            return "Price above its 30-day average"
        return "Price below its 30-day average"
    return _HEADLINES[event.kind]


def _short_title(product: Product) -> str:
    # Whitespace runs (newlines in scraped titles) are folded so the headline stays one line;
    # nothing is escaped here, that is each adapter's job.
    title = " ".join((product.title or "").split()) or product.url
    if len(title) > _HEADLINE_TITLE_MAX:
        return title[: _HEADLINE_TITLE_MAX - 1].rstrip() + "…"
    return title


def _price_line(event: AlertEvent) -> str:
    new, old = event.new, event.old
    if event.kind is EventKind.RESTOCK:
        if new is None:
            return "It is back in stock (price not shown)."
        if old is None or old.amount == new.amount:
            return f"It is back in stock at {new.format()}."
        return f"It is back in stock: {_change(old, new)}"
    if new is None:
        return "The price is not shown."
    if old is None:
        return f"Now {new.format()}"
    if event.kind is EventKind.DEVIATION:
        return f"{new.format()} vs 30-day average {old.format()} ({_signed_percent(old, new)})"
    return _change(old, new)


def _change(old: Money, new: Money) -> str:
    return f"{old.format()} → {new.format()} ({_signed_percent(old, new)})"


def _signed_percent(old: Money, new: Money) -> str:
    change = percent_change(old.amount, new.amount)
    sign = "+" if change > 0 else ""  # a negative Decimal already prints its minus sign
    return f"{sign}{change}%"


def _low_line(new: Money | None, low_30d: Money | None) -> str | None:
    if low_30d is None:
        return None
    if new is not None and new.currency == low_30d.currency:
        # The caller's low may or may not include this point; say which way it compares.
        if new.amount == low_30d.amount:
            return f"Lowest in 30 days: {low_30d.format()} (this price)"
        if new.amount < low_30d.amount:
            return f"Lowest in 30 days until now: {low_30d.format()} (this price is lower)"
    return f"Lowest in 30 days: {low_30d.format()}"


def _alert_buttons(watch: Watch, product: Product) -> tuple[Button, ...]:
    return (
        Button("Open", url=product.url),
        Button("Chart", action=f"history {watch.id}"),
        Button("Snooze 24 h", action=f"snooze {watch.id}"),
        Button("Stop tracking", action=f"untrack {watch.id}"),
    )
