"""The Dispatcher: runs parsed chat commands and button actions against the ports."""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core import commands as cmd
from core.alerts import AlertPolicy
from core.dispatcher import ChatFrontDoor
from core.errors import (
    LimitReached,
    NoPriceFound,
    NotFoundForUser,
    PermissionDenied,
    PricebotError,
    PriceUnavailable,
    UsageError,
)
from core.model import (
    ChatContext,
    Observation,
    Product,
    ProductStatus,
    Rule,
    RuleKind,
    Watch,
)
from core.money import Money
from core.ports import ChartRenderer, Clock, Extractor, Fetcher, UnitOfWork, UnitOfWorkFactory
from core.recording import baseline_watch, in_stock_text, record_observation
from core.reply import Button, Reply
from core.throttle import TokenBuckets
from core.urls import canonical_url, looks_like_url

log = logging.getLogger(__name__)

SNOOZE = timedelta(hours=24)
FRESH_FOR = timedelta(minutes=10)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Limits and policies the Dispatcher applies."""

    max_watches_per_user: int = 100
    check_interval: timedelta = timedelta(hours=1)
    admins: frozenset[str] = frozenset()
    alert_policy: AlertPolicy = field(default_factory=AlertPolicy)
    page_size: int = 10
    # Per user, in one process: enough for any person, not for a script.
    commands_per_minute: int = 30
    tracks_per_minute: int = 10


class _LinkOffers:
    """Short tokens for 'track this link?' buttons: button data stays small and unforgeable."""

    def __init__(self, capacity: int = 1000) -> None:
        self._capacity = capacity
        self._links: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def put(self, owner: str, url: str) -> str:
        token = secrets.token_urlsafe(9)
        self._links[token] = (owner, url)
        while len(self._links) > self._capacity:
            self._links.popitem(last=False)
        return token

    def take(self, owner: str, token: str) -> str | None:
        entry = self._links.get(token)
        if entry is None or entry[0] != owner:
            return None
        del self._links[token]
        return entry[1]


def resolve_rule(spec: cmd.TargetSpec, currency: str | None) -> Rule:
    """Turns a parsed target into a Rule in the product's currency, or explains the mismatch."""
    if spec.kind is RuleKind.TARGET:
        assert spec.amount is not None
        if currency is None:
            raise UsageError(
                "I could not tell this shop's currency, so I cannot compare a price target. "
                "Track it without a target, or with a drop like -10%."
            )
        if spec.currencies and currency not in spec.currencies:
            raise UsageError(
                f"Your target is in {spec.currencies[0]} but this product is priced in "
                f"{currency}. Give the target in {currency}, or leave the currency out."
            )
        return Rule(RuleKind.TARGET, target=Money(spec.amount, currency))
    if spec.kind is RuleKind.DROP_PERCENT:
        return Rule(RuleKind.DROP_PERCENT, percent=spec.percent)
    return Rule(spec.kind)


def _describe_product(product: Product) -> str:
    price = product.money.format() if product.money else "no price shown"
    return f"{product.title or product.url}\n{price}, {in_stock_text(product.availability)}"


class Dispatcher(ChatFrontDoor):
    """Every chat adapter calls this; it knows nothing about any chat platform."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        fetcher: Fetcher,
        extractor: Extractor,
        clock: Clock,
        config: ServiceConfig | None = None,
        charts: ChartRenderer | None = None,
    ) -> None:
        self._uow = uow_factory
        self._charts = charts
        self._fetcher = fetcher
        self._extractor = extractor
        self._clock = clock
        self._config = config or ServiceConfig()
        self._offers = _LinkOffers()
        self._commands = TokenBuckets(
            self._config.commands_per_minute, burst=self._config.commands_per_minute
        )
        self._tracks = TokenBuckets(
            self._config.tracks_per_minute, burst=self._config.tracks_per_minute
        )

    # ----- entry points -----------------------------------------------------------------

    async def handle_text(self, ctx: ChatContext, text: str) -> Reply | None:
        try:
            command = cmd.parse(text)
            if command is None:
                return await self._bare_text(ctx, text)
            self._throttle(ctx, fetches=isinstance(command, cmd.Track))
            await self._check_not_banned(ctx)
            return await self._run(ctx, command)
        except PricebotError as error:
            return Reply.error(error.user_message)

    async def handle_action(self, ctx: ChatContext, action: str) -> Reply:
        try:
            verb, _, argument = action.partition(":")
            self._throttle(ctx, fetches=verb == "track")
            await self._check_not_banned(ctx)
            if verb == "track":
                url = self._offers.take(ctx.user.key, argument)
                if url is None:
                    return Reply.error("That offer has expired. Send /track <link> instead.")
                return await self._track(ctx, cmd.Track(url, cmd.TargetSpec(RuleKind.ANY_DROP)))
            if verb == "page" and argument.startswith("watches:"):
                return await self._watches(ctx, _page_number(argument.split(":", 1)[1]))
            if verb in {"stop", "snooze", "chart"}:
                watch_id = _action_id(argument)
                if verb == "stop":
                    return await self._untrack(ctx, watch_id)
                if verb == "snooze":
                    return await self._snooze(ctx, watch_id)
                return await self._history(ctx, cmd.History(watch_id, 30))
            return Reply.error("That button is no longer valid. Send /watches to start again.")
        except PricebotError as error:
            return Reply.error(error.user_message)

    def command_list(self, chat_kind: str) -> list[tuple[str, str]]:
        return list(cmd.COMMAND_HELP.items())

    # ----- commands ---------------------------------------------------------------------

    async def _run(self, ctx: ChatContext, command: cmd.Command) -> Reply:
        match command:
            case cmd.Start():
                return self._start()
            case cmd.Help():
                return self._help()
            case cmd.Settings():
                return await self._settings(ctx)
            case cmd.Track():
                return await self._track(ctx, command)
            case cmd.Watches(page=page):
                return await self._watches(ctx, page)
            case cmd.Untrack(watch_id=watch_id):
                return await self._untrack(ctx, watch_id)
            case cmd.SetTarget():
                return await self._set_target(ctx, command)
            case cmd.History():
                return await self._history(ctx, command)
        raise UsageError("Send /help to see what I can do.")

    def _start(self) -> Reply:
        return Reply.say(
            "Hi! I watch product prices for you and tell you here when they drop, come back in "
            "stock or reach your target.",
            "Send /track <link> to start, for example:\n/track https://shop.example/item 19.99",
            "Send /help for everything I can do.",
        )

    def _help(self) -> Reply:
        lines = [f"/{name} - {text}" for name, text in cmd.COMMAND_HELP.items()]
        return Reply.say("Commands:", "\n".join(lines))

    async def _settings(self, ctx: ChatContext) -> Reply:
        async with self._uow() as uow:
            count = await uow.watches.count_owned(ctx.user.key)
        hours = self._config.check_interval.total_seconds() / 3600
        return Reply.say(
            "Your settings:",
            f"Watches: {count} of {self._config.max_watches_per_user}\n"
            f"Each product is checked every {hours:g} h\n"
            f"At most {self._config.alert_policy.daily_cap} alerts a day; a watch alerts at most "
            f"once every {self._config.alert_policy.cooldown.total_seconds() / 3600:g} h",
        )

    async def _bare_text(self, ctx: ChatContext, text: str) -> Reply | None:
        if ctx.chat_kind != "private":
            return None
        candidate = text.strip()
        if looks_like_url(candidate):
            token = self._offers.put(ctx.user.key, candidate)
            return Reply.say(
                "Do you want me to track this product?",
                buttons=(Button("Track it", action=f"track:{token}"),),
            )
        return Reply.say("Send me a product link, or /help to see what I can do.")

    async def _track(self, ctx: ChatContext, command: cmd.Track) -> Reply:
        url = canonical_url(command.url)
        owner = ctx.user.key
        async with self._uow() as uow:
            await uow.users.ensure(owner, ctx.user.display_name)
            await uow.chats.touch(ctx.address, str(ctx.chat_kind))
            if await uow.watches.count_owned(owner) >= self._config.max_watches_per_user:
                raise LimitReached(
                    f"You already track {self._config.max_watches_per_user} products, the most "
                    "allowed. Remove one with /untrack <id> first."
                )
            known = await uow.products.get_by_url(url)
            await uow.commit()
        observation = None
        if not self._fresh(known):
            # The network round trip happens outside any transaction.
            fetched = await self._fetcher.fetch(url)
            try:
                observation = self._extractor.extract(fetched.body, fetched.url)
            except PriceUnavailable as sold_out:
                # Sold out with no price shown: a restock watch is exactly what fits.
                if command.target.kind is not RuleKind.RESTOCK:
                    raise
                assert isinstance(sold_out.observation, Observation)
                observation = sold_out.observation
            if observation.price is None and command.target.kind is not RuleKind.RESTOCK:
                raise NoPriceFound()
        currency = observation.currency if observation else known.currency if known else None
        rule = resolve_rule(command.target, currency)
        now = self._clock.now()
        async with self._uow() as uow:
            product = await uow.products.get_by_url(url)
            if product is None:
                product = await uow.products.add(
                    Product(id=None, url=url, next_check_at=now + self._config.check_interval)
                )
            existing = await uow.watches.find(owner, product.id or 0, ctx.address)
            if observation is not None:
                skip = frozenset({existing.id}) if existing and existing.id else frozenset()
                await record_observation(
                    uow, product, observation, now, self._config.alert_policy, skip_watch_ids=skip
                )
            if existing is not None:
                watch = baseline_watch(replace(existing, rule=rule), product)
                await uow.watches.update(watch)
                verb = "Updated your watch"
            else:
                watch = await uow.watches.add(
                    baseline_watch(
                        Watch(None, owner, product.id or 0, ctx.address, rule, created_at=now),
                        product,
                    )
                )
                verb = "Now tracking"
            await uow.commit()
        blocks = [f"{verb} #{watch.id}:", _describe_product(product), rule.describe().capitalize()]
        if rule.kind is RuleKind.TARGET and not watch.target_armed:
            blocks.append(
                "It is already at or below your target; I will tell you if it drops further."
            )
        return Reply.say(*blocks, buttons=(Button("Open", url=product.url),))

    def _fresh(self, product: Product | None) -> bool:
        """A product read moments ago (by the scheduler or another user's /track) is not fetched
        again: a page tracked by a thousand users costs one fetch, not a thousand."""
        if product is None or product.price is None or product.last_success_at is None:
            return False
        if product.status is not ProductStatus.OK:
            return False
        window = min(self._config.check_interval, FRESH_FOR)
        return self._clock.now() - product.last_success_at < window

    async def _watches(self, ctx: ChatContext, page: int) -> Reply:
        size = self._config.page_size
        async with self._uow() as uow:
            watches = await uow.watches.list_owned(ctx.user.key)
            if not watches:
                return Reply.say("You are not tracking anything yet. Send /track <link> to start.")
            pages = (len(watches) + size - 1) // size
            page = min(max(page, 1), pages)
            shown = watches[(page - 1) * size : page * size]
            lines = [await self._watch_line(uow, watch) for watch in shown]
        buttons: list[Button] = []
        if page > 1:
            buttons.append(Button("‹ Previous", action=f"page:watches:{page - 1}"))
        if page < pages:
            buttons.append(Button("Next ›", action=f"page:watches:{page + 1}"))
        header = f"Your watches ({len(watches)})" + (
            f", page {page} of {pages}" if pages > 1 else ""
        )
        return Reply.say(header + ":", *lines, buttons=tuple(buttons))

    async def _watch_line(self, uow: UnitOfWork, watch: Watch) -> str:
        product = await uow.products.get(watch.product_id)
        if product is None:
            return f"#{watch.id} (product gone)"
        line = f"#{watch.id} {_describe_product(product)}\n{watch.rule.describe()}"
        if product.low_30d is not None and product.currency:
            line += f"; lowest in 30 days {Money(product.low_30d, product.currency).format()}"
        if product.status is ProductStatus.BROKEN:
            line += f"\n⚠ cannot be read any more: {product.status_reason or 'unknown reason'}"
        elif product.status is ProductStatus.STALE:
            line += "\n⚠ stale: not read successfully for a while"
        if watch.snoozed_until and watch.snoozed_until > self._clock.now():
            line += f"\nsnoozed until {watch.snoozed_until:%Y-%m-%d %H:%M} UTC"
        return line

    async def _owned(self, uow: UnitOfWork, ctx: ChatContext, watch_id: int) -> Watch:
        watch = await uow.watches.get_owned(ctx.user.key, watch_id)
        if watch is None:
            raise NotFoundForUser(
                f"You have no watch #{watch_id}. Send /watches to see your watch ids."
            )
        return watch

    async def _untrack(self, ctx: ChatContext, watch_id: int | None) -> Reply:
        async with self._uow() as uow:
            if watch_id is None:
                watches = await uow.watches.list_owned(ctx.user.key)
                for watch in watches:
                    await uow.watches.update(replace(watch, active=False))
                await uow.commit()
                return Reply.say(f"Stopped tracking {len(watches)} products.")
            watch = await self._owned(uow, ctx, watch_id)
            await uow.watches.update(replace(watch, active=False))
            await uow.commit()
        return Reply.say(f"Stopped tracking #{watch_id}. You will get no more alerts for it.")

    async def _snooze(self, ctx: ChatContext, watch_id: int) -> Reply:
        until = self._clock.now() + SNOOZE
        async with self._uow() as uow:
            watch = await self._owned(uow, ctx, watch_id)
            await uow.watches.update(replace(watch, snoozed_until=until))
            await uow.commit()
        return Reply.say(f"Snoozed #{watch_id} until {until:%Y-%m-%d %H:%M} UTC.")

    async def _set_target(self, ctx: ChatContext, command: cmd.SetTarget) -> Reply:
        async with self._uow() as uow:
            watch = await self._owned(uow, ctx, command.watch_id)
            product = await uow.products.get(watch.product_id)
            if product is None:
                raise NotFoundForUser("That product is gone. Send /watches to see your watches.")
            rule = resolve_rule(command.target, product.currency)
            watch = baseline_watch(replace(watch, rule=rule), product)
            await uow.watches.update(watch)
            await uow.commit()
        return Reply.say(f"Updated #{command.watch_id}: {rule.describe()}.")

    async def _history(self, ctx: ChatContext, command: cmd.History) -> Reply:
        now = self._clock.now()
        start = now - timedelta(days=command.days) if command.days else None
        async with self._uow() as uow:
            watch = await self._owned(uow, ctx, command.watch_id)
            product = await uow.products.get(watch.product_id)
            assert product is not None
            stats = await uow.price_points.stats(product.id or 0, start)
            lowest = await uow.price_points.stats(product.id or 0, None)
            points = await uow.price_points.since(product.id or 0, start or EPOCH)
        period = f"last {command.days} days" if command.days else "all time"
        currency = product.currency or ""
        if stats.points == 0 or not currency:
            return Reply.say(f"No prices recorded for #{command.watch_id} in the {period} yet.")

        def fmt(value: Decimal | None) -> str:
            return Money(value, currency).format() if value is not None else "-"

        title = product.title or product.url
        chart = None
        if self._charts is not None:
            chart = self._charts.render(points, title=title, currency=currency, until=now)
        return Reply(
            (
                f"#{command.watch_id} {title} ({period}):",
                f"lowest {fmt(stats.low)}, highest {fmt(stats.high)}, "
                f"average {fmt(stats.average)}\nlowest ever {fmt(lowest.low)}; "
                f"{stats.points} prices recorded",
            ),
            buttons=(Button("Open", url=product.url),),
            image_png=chart,
        )

    def _throttle(self, ctx: ChatContext, *, fetches: bool) -> None:
        now = self._clock.now()
        if not self._commands.take(ctx.user.key, now):
            raise LimitReached("You are sending commands too fast. Wait a minute, then try again.")
        if fetches and not self._tracks.take(ctx.user.key, now):
            raise LimitReached(
                "You have asked me to read many pages in a short time. Wait a minute, then send "
                "/track again."
            )

    async def _check_not_banned(self, ctx: ChatContext) -> None:
        async with self._uow() as uow:
            if await uow.users.is_banned(ctx.user.key):
                raise PermissionDenied("You are banned from using this bot. Ask its operator.")


def _action_id(text: str) -> int:
    if not text.isdigit() or len(text) > 12:
        raise UsageError("That button is no longer valid. Send /watches to start again.")
    return int(text)


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 6 else 1
