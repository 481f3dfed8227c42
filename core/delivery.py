"""Delivery: send pending outbox rows through each platform's Notifier, in order per chat."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from core.errors import ChatGone, RateLimited, TransientDeliveryError
from core.model import ChatAddress, OutboxMessage, OutboxStatus
from core.ports import Clock, Notifier, UnitOfWorkFactory
from core.reply import Reply

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DeliveryReport:
    sent: int = 0
    confirmed: int = 0  # in doubt after a crash; the platform said it had arrived
    retried: int = 0
    undeliverable: int = 0


class Delivery:
    """Sends what the check cycle wrote, at least once and, where the platform can tell or
    takes an idempotency key, exactly once.

    Each row is claimed (`sending`, committed) before the platform is called and marked
    `sent` right after. A run that dies in between leaves the row `sending`; when its claim
    expires the next run asks the notifier whether it arrived before sending it again. The
    repository hands out a chat's rows only in order and never past one that must wait, so
    messages reach each chat in the order they were written, across runs and processes.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        *,
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=5),
        backoff_max: timedelta = timedelta(hours=1),
        claim_for: timedelta = timedelta(minutes=2),
        batch: int = 200,
    ) -> None:
        self._uow = uow_factory
        self._notifiers = notifiers
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._claim_for = claim_for
        self._batch = batch

    async def run_once(self) -> DeliveryReport:
        report = DeliveryReport()
        token = uuid.uuid4().hex
        async with self._uow() as uow:
            rows = await uow.outbox.pending(self._clock.now(), self._batch)
        by_chat: dict[tuple[str, str], list[OutboxMessage]] = {}
        for row in rows:
            if row.address.platform in self._notifiers:
                by_chat.setdefault((row.address.platform, row.address.chat_id), []).append(row)
        for chat_rows in by_chat.values():
            await self._deliver_chat(chat_rows, report, token)
        return report

    async def _deliver_chat(
        self, rows: list[OutboxMessage], report: DeliveryReport, token: str
    ) -> None:
        """Rows of one chat in order; the first that cannot go now holds back the rest."""
        notifier = self._notifiers[rows[0].address.platform]
        for row in rows:
            in_doubt = row.status is OutboxStatus.SENDING
            if not await self._claim(row, token):
                return  # another delivery run has this chat's next row
            if in_doubt and await notifier.confirm(row.address, row.dedupe_key):
                await self._mark_sent(row, row.platform_message_id)
                report.confirmed += 1
                continue
            try:
                message_id = await notifier.send(
                    row.address, Reply.from_dict(row.payload), key=row.dedupe_key
                )
            except ChatGone as gone:
                await self._chat_gone(row.address, str(gone) or "chat is gone")
                report.undeliverable += 1
                return
            except RateLimited as limited:
                wait = timedelta(seconds=limited.retry_after)
                await self._retry(row, f"rate limited {limited.retry_after}s", wait, counts=False)
                report.retried += 1
                return
            except TransientDeliveryError as error:
                gave_up = await self._retry(row, str(error) or "temporary failure", None)
                report.undeliverable += int(gave_up)
                report.retried += int(not gave_up)
                return
            await self._mark_sent(row, message_id)
            report.sent += 1

    async def _claim(self, row: OutboxMessage, token: str) -> bool:
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.outbox.claim(row.id or 0, now, now + self._claim_for, token)
            await uow.commit()
        if claimed:
            row.claim_token = token
        return claimed

    async def _store(self, row: OutboxMessage) -> None:
        """Writes the row's outcome while this run's claim holds; a run whose claim expired
        meanwhile leaves the row to whoever took it over (a late mark must not undo a newer
        one)."""
        token = row.claim_token or ""
        row.claim_token = None
        async with self._uow() as uow:
            stored = await uow.outbox.update_claimed(row, token)
            await uow.commit()
        if not stored:
            log.warning(
                "outbox row %s was taken over by another run; its outcome is theirs", row.id
            )

    async def _mark_sent(self, row: OutboxMessage, message_id: str | None) -> None:
        row.status = OutboxStatus.SENT
        row.platform_message_id = message_id
        row.attempts += 1
        row.next_attempt_at = None
        await self._store(row)

    async def _retry(
        self, row: OutboxMessage, reason: str, wait: timedelta | None, *, counts: bool = True
    ) -> bool:
        """Schedules the next attempt; True when the row was given up as undeliverable."""
        row.attempts += int(counts)
        row.error = reason
        row.status = OutboxStatus.PENDING
        if row.attempts >= self._max_attempts:
            row.status = OutboxStatus.UNDELIVERABLE
        else:
            if wait is None:
                wait = min(self._backoff_base * (2 ** max(row.attempts - 1, 0)), self._backoff_max)
            row.next_attempt_at = self._clock.now() + wait
        await self._store(row)
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
