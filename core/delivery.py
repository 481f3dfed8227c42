"""Delivery: send pending outbox rows through each platform's Notifier, in order per chat."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import ChatGone, RateLimited, TransientDeliveryError
from core.model import ChatAddress, OutboxMessage, OutboxStatus
from core.ports import Clock, Notifier, UnitOfWorkFactory
from core.reply import Reply

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    undeliverable: int = 0


class Delivery:
    """Sends what the check cycle wrote. A row is marked sent in its own transaction right after
    the platform accepted it; a chat that is gone is deactivated and its watches paused."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        *,
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=5),
        backoff_max: timedelta = timedelta(hours=1),
        batch: int = 200,
    ) -> None:
        self._uow = uow_factory
        self._notifiers = notifiers
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._batch = batch
        # chat -> when its oldest row may be retried; its later rows wait until then too, so a
        # chat's messages arrive in the order they were written. Per process, like the tick.
        self._held: dict[tuple[str, str], datetime] = {}

    async def run_once(self) -> DeliveryReport:
        report = DeliveryReport()
        now = self._clock.now()
        self._held = {chat: until for chat, until in self._held.items() if until > now}
        async with self._uow() as uow:
            rows = await uow.outbox.pending(now, self._batch)
        by_chat: dict[tuple[str, str], list[OutboxMessage]] = {}
        for row in rows:
            chat = (row.address.platform, row.address.chat_id)
            if row.address.platform in self._notifiers and chat not in self._held:
                by_chat.setdefault(chat, []).append(row)
        for chat_rows in by_chat.values():
            await self._deliver_chat(chat_rows, report)
        return report

    async def _deliver_chat(self, rows: list[OutboxMessage], report: DeliveryReport) -> None:
        """Rows of one chat in order; the first that cannot go now holds back the rest."""
        notifier = self._notifiers[rows[0].address.platform]
        for row in rows:
            try:
                message_id = await notifier.send(
                    row.address, Reply.from_dict(row.payload), key=row.dedupe_key
                )
            except ChatGone as gone:
                await self._chat_gone(row.address, str(gone) or "chat is gone")
                report.undeliverable += 1
                return
            except RateLimited as limited:
                await self._retry(
                    row,
                    f"rate limited {limited.retry_after}s",
                    timedelta(seconds=limited.retry_after),
                    count_attempt=False,
                )
                report.retried += 1
                return
            except TransientDeliveryError as error:
                gave_up = await self._retry(row, str(error) or "temporary failure", None)
                report.undeliverable += int(gave_up)
                report.retried += int(not gave_up)
                return
            row.status = OutboxStatus.SENT
            row.platform_message_id = message_id
            row.attempts += 1
            async with self._uow() as uow:
                await uow.outbox.update(row)
                await uow.commit()
            report.sent += 1

    async def _retry(
        self, row: OutboxMessage, reason: str, wait: timedelta | None, *, count_attempt: bool = True
    ) -> bool:
        """Schedules the next attempt; True when the row was given up as undeliverable."""
        if count_attempt:
            row.attempts += 1
        row.error = reason
        if row.attempts >= self._max_attempts:
            row.status = OutboxStatus.UNDELIVERABLE
        else:
            if wait is None:
                wait = min(self._backoff_base * (2 ** max(row.attempts - 1, 0)), self._backoff_max)
            row.next_attempt_at = self._clock.now() + wait
            self._held[(row.address.platform, row.address.chat_id)] = row.next_attempt_at
        async with self._uow() as uow:
            await uow.outbox.update(row)
            await uow.commit()
        return row.status is OutboxStatus.UNDELIVERABLE

    async def _chat_gone(self, address: ChatAddress, reason: str) -> None:
        log.info(
            "chat %s:%s is gone (%s); pausing its watches",
            address.platform,
            address.chat_id,
            reason,
        )
        async with self._uow() as uow:
            await uow.chats.deactivate(address, reason)
            await uow.watches.pause_for_chat(address, reason)
            await uow.outbox.close_pending_for_chat(address, reason)
            await uow.commit()
