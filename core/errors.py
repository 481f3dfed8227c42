"""Typed errors: each carries a short message a chat user can read and act on."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core.money import Money


class PricebotError(Exception):
    """Base class; `user_message` is safe to show in a chat, `reason` is a short code that
    logs, reports and stored page statuses carry (core.alert_text puts it in words)."""

    reason = "internal"
    user_message = "Something went wrong. Please try again later."

    def __init__(self, user_message: str | None = None) -> None:
        if user_message is not None:
            self.user_message = user_message
        super().__init__(self.user_message)


class UsageError(PricebotError):
    """The user typed a command the wrong way; the message shows the right form."""


class NotFoundForUser(PricebotError):
    """An id the user sent is not one of theirs (or does not exist: we never say which)."""


class LimitReached(PricebotError):
    """A per-user limit (watches, alerts a day) is reached."""


class PermissionDenied(PricebotError):
    """The user may not run this command here."""


# ----- fetching -------------------------------------------------------------------------


class FetchError(PricebotError):
    """The page could not be fetched; subclasses say why."""

    reason = "fetch"


class InvalidUrl(FetchError):
    reason = "invalid_url"
    user_message = (
        "That is not a web address I can open. Send a full link like https://shop.example/item."
    )


class PrivateAddress(FetchError):
    reason = "private_address"
    user_message = (
        "That link points to a private or local network address, which I do not open. "
        "Send a public shop link."
    )


class NotFound(FetchError):
    reason = "not_found"
    user_message = (
        "The shop says this page does not exist (404/410). Check the link, or track the "
        "product's current page."
    )


class Blocked(FetchError):
    reason = "blocked"
    user_message = (
        "The shop blocked the request (403 or a captcha page). Try again later or send "
        "another shop's link."
    )


class Timeout(FetchError):
    reason = "timeout"
    user_message = "The shop took too long to answer. Try again in a few minutes."


class Unreachable(FetchError):
    reason = "unreachable"
    user_message = (
        "I could not connect to that shop: its server refused the connection or its name "
        "does not exist. Check the link, or try again later."
    )


class TooLarge(FetchError):
    reason = "too_large"
    user_message = "The page is too large to read. Send a direct product page link."


class NotAProductPage(FetchError):
    reason = "not_a_product_page"
    user_message = (
        "That link is not a web page I can read (wrong content type). Send a product page link."
    )


class TransientFetchError(FetchError):
    reason = "transient"
    user_message = "The shop had a temporary error. Try again in a few minutes."


class RetryLater(TransientFetchError):
    """The shop asked us to come back later (429, or 503 with Retry-After) for longer than
    we wait inline; `retry_after` is the seconds it asked for, when it said."""

    user_message = "The shop asked me to slow down. I will try again later."

    def __init__(self, retry_after: float | None = None, user_message: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(user_message)


class TooManyRedirects(FetchError):
    reason = "too_many_redirects"
    user_message = "That link redirects too many times. Send the product page's own address."


# ----- extraction -----------------------------------------------------------------------


class ExtractionError(PricebotError):
    reason = "extraction"


class NoPriceFound(ExtractionError):
    reason = "no_price"
    user_message = (
        "I could not find a price on that page. Send the product's own page (not a search or "
        "category page), or add a CSS selector for the price."
    )


class SoldOutNoPrice(NoPriceFound):
    """The page says the product is sold out and shows no price: fine for a restock watch,
    not for a price rule."""

    reason = "sold_out"
    user_message = (
        "That product is sold out and its page shows no price. Send /track <link> stock to "
        "hear when it is back."
    )


class PageTooComplex(ExtractionError):
    """Reading the page took longer than its time budget (a hostile or broken page)."""

    reason = "too_complex"
    user_message = (
        "That page is too complex for me to read in time. Send the product's own page, or "
        "set a CSS selector for the price with /selector."
    )


class UnreadablePage(ExtractionError):
    """The page's bytes could not be read as text or markup (a broken character set...)."""

    reason = "unreadable"
    user_message = (
        "I could not read that page's text (its character set or markup is broken). Send "
        "another shop's link, or try again later."
    )


class AmbiguousPrice(ExtractionError):
    reason = "ambiguous_price"

    def __init__(self, candidates: Sequence[tuple[Decimal, str]]) -> None:
        self.candidates = list(candidates)
        super().__init__(
            f"That page shows several different prices ({price_list(self.candidates[:6])}) and "
            "I cannot tell which one is the product's. Send the link of one exact variant, or "
            "set a CSS selector for the price with /selector."
        )


def price_list(prices: Sequence[tuple[Decimal, str]]) -> str:
    """'€169.00, €1,200.00 and €540.00': amounts in their currency when it is known."""
    shown = []
    for amount, currency in prices:
        try:
            shown.append(Money(amount, currency).format() if currency else f"{amount:,}")
        except (TypeError, ValueError):
            shown.append(str(amount))
    if len(shown) < 2:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


# ----- delivery -------------------------------------------------------------------------


class DeliveryError(PricebotError):
    """A notifier could not deliver a message."""


class ChatGone(DeliveryError):
    """The chat no longer exists or has blocked the bot: stop sending to it."""


class RateLimited(DeliveryError):
    """The platform asked us to wait `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limited for {retry_after}s")


class TransientDeliveryError(DeliveryError):
    """A temporary failure: retry with backoff."""
