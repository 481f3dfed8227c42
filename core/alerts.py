"""Alert rules: for a watch and a new price point, decide whether to alert; update the watch."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.model import DEVIATION_RULES, Availability, PricePoint, RuleKind, Watch
from core.money import Money, minor_unit, percent_change


class EventKind(enum.StrEnum):
    TARGET = "target"
    DROP = "drop"
    RESTOCK = "restock"
    DEVIATION = "deviation"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Anti-spam and sensitivity settings shared by every watch."""

    cooldown: timedelta = timedelta(hours=6)  # per watch
    daily_cap: int = 20  # alerts per user per day
    min_change_percent: Decimal = Decimal("1")  # "any drop" ignores smaller changes
    refire_drop_percent: Decimal = Decimal("5")  # a further drop this big fires again


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something worth telling the watch's owner about."""

    kind: EventKind
    old: Money | None  # the price compared against (previous price / baseline / average)
    new: Money | None  # the current price
    reason: str  # plain text, e.g. "the price is at or below your target €25.00"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `evaluate`: an event (or none) and the watch to persist either way."""

    event: AlertEvent | None
    watch: Watch  # updated copy; persist it whether or not an event fired
    suppressed: str | None = None  # why an event that would have fired was held back


# Reasons an event was held back (Decision.suppressed).
SUPPRESSED_COOLDOWN = "cooldown"
SUPPRESSED_DAILY_CAP = "daily cap"
SUPPRESSED_SNOOZED = "snoozed"
SUPPRESSED_CURRENCY = "currency changed"

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What one rule concluded, before anti-spam is applied."""

    event: AlertEvent | None = None
    # Applied whatever happens next (re-arming, re-baselining): they follow the price, not alerts.
    state: dict[str, Any] = field(default_factory=dict)
    # Applied only when the event is actually sent, so a held-back event can still fire later.
    on_fire: dict[str, Any] = field(default_factory=dict)
    suppressed: str | None = None


def evaluate(
    watch: Watch,
    previous: PricePoint | None,
    current: PricePoint,
    *,
    avg_30d: Decimal | None,
    now: datetime,
    policy: AlertPolicy,
    alerts_today: int,
) -> Decision:
    """Decide whether `current` (the product's newest price point) alerts `watch`'s owner.

    `previous` is the product's point before `current` (None when `current` is the first);
    `avg_30d` is the product's 30-day average price in `current`'s currency; `alerts_today`
    counts the alerts the owner already got today. Pure: the caller persists the result.
    """
    if not watch.active:
        return Decision(None, watch)

    verdict = _judge(watch, previous, current, avg_30d=avg_30d, policy=policy)
    updated = replace(watch, **verdict.state)
    if verdict.event is None:
        return Decision(None, updated, verdict.suppressed)

    held_back = _hold_back_reason(watch, now=now, policy=policy, alerts_today=alerts_today)
    if held_back is not None:
        return Decision(None, updated, held_back)

    fired = replace(
        updated,
        **verdict.on_fire,
        last_alert_price=current.price,
        last_alert_at=now,
        last_alert_kind=verdict.event.kind,
    )
    return Decision(verdict.event, fired)


def _hold_back_reason(
    watch: Watch, *, now: datetime, policy: AlertPolicy, alerts_today: int
) -> str | None:
    # The user's explicit snooze comes first, then the per-watch cool-down (which also
    # absorbs stock flapping), then the per-user cap.
    if watch.snoozed_until is not None and watch.snoozed_until > now:
        return SUPPRESSED_SNOOZED
    if watch.last_alert_at is not None and now - watch.last_alert_at < policy.cooldown:
        return SUPPRESSED_COOLDOWN
    if alerts_today >= policy.daily_cap:
        return SUPPRESSED_DAILY_CAP
    return None


def _judge(
    watch: Watch,
    previous: PricePoint | None,
    current: PricePoint,
    *,
    avg_30d: Decimal | None,
    policy: AlertPolicy,
) -> _Verdict:
    rule = watch.rule
    price = _money(current)

    if rule.kind is RuleKind.RESTOCK:
        # Restock needs only availability, so it is judged before the price checks below.
        return _judge_restock(previous, current, price)
    if price is None:
        # A point without a price (failed read, price hidden) neither alerts nor re-arms.
        return _Verdict()

    state: dict[str, Any] = {}
    baseline = _money_or_none(watch.baseline_price, watch.baseline_currency)
    if baseline is None or baseline.currency != price.currency:
        # First price, or the shop switched currency: the current price becomes the new
        # baseline. A drop rule starts a fresh excursion because its old alert state was
        # measured in the old currency.
        state.update(baseline_price=price.amount, baseline_currency=price.currency)
        if baseline is not None and rule.kind is RuleKind.DROP_PERCENT:
            state["target_armed"] = True
            first = previous is None
            return _Verdict(state=state, suppressed=None if first else SUPPRESSED_CURRENCY)
        baseline = price

    if rule.kind is RuleKind.ANY_DROP:
        verdict = _judge_any_drop(previous, price, policy)
    elif rule.kind in (RuleKind.TARGET, RuleKind.DROP_PERCENT) or rule.kind in DEVIATION_RULES:
        verdict = _judge_excursion(
            watch, previous, price, baseline=baseline, avg_30d=avg_30d, policy=policy
        )
    else:
        verdict = _Verdict()
    if previous is None:
        # The first observation is the baseline: nothing was compared, nothing held back.
        verdict = replace(verdict, event=None, suppressed=None)
    return replace(verdict, state={**state, **verdict.state})


def _judge_restock(
    previous: PricePoint | None, current: PricePoint, price: Money | None
) -> _Verdict:
    if previous is None:
        return _Verdict()
    restocked = (
        previous.availability is Availability.OUT_OF_STOCK
        and current.availability is Availability.IN_STOCK
    )
    if not restocked:
        return _Verdict()
    old = _money(previous)
    if old is not None and price is not None and old.currency != price.currency:
        old = None  # never show a change across currencies
    return _Verdict(AlertEvent(EventKind.RESTOCK, old, price, "it is back in stock"))


def _judge_any_drop(previous: PricePoint | None, price: Money, policy: AlertPolicy) -> _Verdict:
    old = _money(previous) if previous is not None else None
    if old is None:
        return _Verdict()  # first observation, or nothing to compare with
    if old.currency != price.currency:
        return _Verdict(suppressed=SUPPRESSED_CURRENCY)
    fall = old.amount - price.amount
    if fall < minor_unit(price.currency) or old.amount <= 0:
        return _Verdict()
    # Noise filter: a drop must be at least one minor unit and min_change_percent.
    if fall * _HUNDRED < policy.min_change_percent * old.amount:
        return _Verdict()
    reason = f"the price fell {_percent_text(old, price)} from {old.format()}"
    return _Verdict(AlertEvent(EventKind.DROP, old, price, reason))


def _judge_excursion(
    watch: Watch,
    previous: PricePoint | None,
    price: Money,
    *,
    baseline: Money,
    avg_30d: Decimal | None,
    policy: AlertPolicy,
) -> _Verdict:
    """Target, percent-drop and deviation rules: fire once when the condition starts to hold,
    re-arm when it stops holding (an "excursion"), and for target/drop fire again on a
    further drop of refire_drop_percent below the last alerted price."""
    rule = watch.rule
    previous_money = _money(previous) if previous is not None else None
    kind: EventKind
    shown_old: Money | None  # what the price is compared against, shown as the "old" price

    if rule.kind is RuleKind.TARGET:
        if rule.target is None:
            return _Verdict()
        # A target is compared with the target only, so only its currency matters here.
        if rule.target.currency != price.currency:
            return _Verdict(suppressed=SUPPRESSED_CURRENCY)
        met = price.amount <= rule.target.amount
        kind, reason = EventKind.TARGET, f"the price is at or below your target {rule.target}"
        shown_old = (
            previous_money if previous_money and previous_money.currency == price.currency else None
        )
    elif rule.kind is RuleKind.DROP_PERCENT:
        if rule.percent is None:
            return _Verdict()
        threshold = baseline.amount * (1 - rule.percent / _HUNDRED)
        met = price.amount <= threshold
        kind = EventKind.DROP
        reason = (
            f"the price is {_percent_text(baseline, price)} below your starting price {baseline}"
        )
        shown_old = baseline
    else:  # DEVIATION
        if rule.percent is None or avg_30d is None or avg_30d <= 0:
            return _Verdict()
        if previous_money is not None and previous_money.currency != price.currency:
            # The 30-day average would mix the old currency in.
            return _Verdict(suppressed=SUPPRESSED_CURRENCY)
        average = Money(avg_30d, price.currency)
        met = _deviates(rule.kind, price.amount - avg_30d, rule.percent * avg_30d / _HUNDRED)
        direction = "below" if price.amount < avg_30d else "above"
        kind = EventKind.DEVIATION
        reason = (
            f"the price is {_percent_text(average, price)} {direction} its 30-day average {average}"
        )
        shown_old = average

    if previous is None:
        # The first observation is the baseline: never an alert. If the condition already
        # holds, the user saw that price when they started tracking, so this excursion is
        # treated as already announced (only a further drop or a re-arm alerts later).
        return _Verdict(state={"target_armed": not met})
    if not met:
        return _Verdict(state={} if watch.target_armed else {"target_armed": True})
    if watch.target_armed:
        return _Verdict(AlertEvent(kind, shown_old, price, reason), on_fire={"target_armed": False})
    if rule.kind in DEVIATION_RULES:
        return _Verdict()  # one alert per excursion; no further-drop re-fire for deviation

    # Disarmed and still past the threshold: alert again only on a clear further drop.
    reference = _money_or_none(watch.last_alert_price, price.currency) or baseline
    refire_limit = reference.amount * (1 - policy.refire_drop_percent / _HUNDRED)
    if price.amount > refire_limit:
        return _Verdict()
    since = "your last alert" if watch.last_alert_price is not None else "you started tracking"
    refire_reason = (
        f"{reason}, and it fell a further {_percent_text(reference, price)} "
        f"from {reference} since {since}"
    )
    return _Verdict(AlertEvent(kind, reference, price, refire_reason))


def _deviates(kind: RuleKind, difference: Decimal, threshold: Decimal) -> bool:
    """Whether a signed `difference` from the average is far enough, in the rule's direction."""
    if kind is RuleKind.BELOW_AVERAGE:
        return -difference >= threshold
    if kind is RuleKind.ABOVE_AVERAGE:
        return difference >= threshold
    return abs(difference) >= threshold


def _percent_text(old: Money, new: Money) -> str:
    return f"{abs(percent_change(old.amount, new.amount))}%"


def _money(point: PricePoint) -> Money | None:
    return _money_or_none(point.price, point.currency)


def _money_or_none(amount: Decimal | None, currency: str | None) -> Money | None:
    if amount is None or currency is None:
        return None
    return Money(amount, currency)
