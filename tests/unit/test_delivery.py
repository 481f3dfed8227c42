"""Delivery against the in-memory outbox and a recording notifier."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.delivery import Delivery
from core.model import ChatAddress, OutboxMessage, OutboxStatus
from core.reply import Reply
from tests.fakes.clock import FakeClock
from tests.fakes.memory import MemoryUnitOfWorkFactory
from tests.fakes.notifier import RecordingNotifier

ANN = ChatAddress("test", "ann")
BEN = ChatAddress("test", "ben")


@pytest.fixture
def parts():
    clock = FakeClock()
    uow = MemoryUnitOfWorkFactory()
    notifier = RecordingNotifier()
    delivery = Delivery(uow, {"test": notifier}, clock, max_attempts=3)
    return clock, uow, notifier, delivery


async def queue(uow, *items: tuple[str, ChatAddress], clock: FakeClock) -> None:
    async with uow() as unit:
        for key, address in items:
            await unit.outbox.add(
                OutboxMessage(
                    None,
                    key,
                    address,
                    Reply.say(key).to_dict(),
                    clock.now(),
                    owner=f"test:{address.chat_id}",
                )
            )
        await unit.commit()


async def test_sends_in_order_and_once(parts):
    clock, uow, notifier, delivery = parts
    await queue(uow, ("a1", ANN), ("b1", BEN), ("a2", ANN), clock=clock)
    report = await delivery.run_once()
    assert report.sent == 3
    assert notifier.texts("ann") == ["a1", "a2"]
    assert (await delivery.run_once()).sent == 0
    assert [s.key for s in notifier.sent].count("a1") == 1


async def test_rate_limit_holds_the_chat_in_order_but_not_other_chats(parts):
    clock, uow, notifier, delivery = parts
    await queue(uow, ("a1", ANN), ("a2", ANN), ("b1", BEN), clock=clock)
    notifier.rate_limit(1, retry_after=30)
    report = await delivery.run_once()
    assert (report.sent, report.retried) == (1, 1)
    assert notifier.texts() == ["b1"]
    # Nothing of Ann's may overtake a1 while it waits.
    clock.advance(seconds=10)
    assert (await delivery.run_once()).sent == 0
    clock.advance(seconds=25)
    assert (await delivery.run_once()).sent == 2
    assert notifier.texts("ann") == ["a1", "a2"]


async def test_transient_errors_back_off_then_give_up(parts):
    clock, uow, notifier, delivery = parts
    await queue(uow, ("a1", ANN), clock=clock)
    notifier.transient(3)
    for _ in range(3):
        await delivery.run_once()
        clock.advance(hours=2)
    assert notifier.sent == []
    async with uow() as unit:
        assert await unit.outbox.pending(clock.now(), 10) == []
        assert await unit.outbox.count_sent_since("test:ann", clock.now() - timedelta(days=1)) == 0


async def test_a_gone_chat_closes_its_rows_and_pauses_its_watches(parts):
    clock, uow, notifier, delivery = parts
    await queue(uow, ("a1", ANN), ("a2", ANN), ("b1", BEN), clock=clock)
    notifier.gone_chats.add("ann")
    report = await delivery.run_once()
    assert (report.sent, report.undeliverable) == (1, 1)
    assert uow.store.chats[("test", "ann")].active is False
    async with uow() as unit:
        assert await unit.outbox.pending(clock.now() + timedelta(days=1), 10) == []


async def test_in_doubt_row_is_confirmed_not_resent(parts):
    """A run died after the platform took the message but before it was marked sent."""
    clock, uow, notifier, delivery = parts
    await queue(uow, ("a1", ANN), clock=clock)
    async with uow() as unit:
        [row] = await unit.outbox.pending(clock.now(), 10)
        until = clock.now() + timedelta(minutes=2)
        assert await unit.outbox.claim(row.id, clock.now(), until, "dead-run")
        await unit.commit()
    await notifier.send(ANN, Reply.say("a1"), key="a1")  # what the dead run had sent
    assert (await delivery.run_once()).sent == 0  # claim not expired: nobody touches it
    clock.advance(minutes=3)
    report = await delivery.run_once()
    assert (report.sent, report.confirmed) == (0, 1)
    assert [s.key for s in notifier.sent].count("a1") == 1


async def test_in_doubt_row_is_resent_when_it_never_arrived(parts):
    clock, uow, notifier, delivery = parts
    await queue(uow, ("a1", ANN), clock=clock)
    async with uow() as unit:
        [row] = await unit.outbox.pending(clock.now(), 10)
        await unit.outbox.claim(row.id, clock.now(), clock.now() + timedelta(minutes=2), "dead")
        await unit.commit()
    clock.advance(minutes=3)
    report = await delivery.run_once()
    assert (report.sent, report.confirmed) == (1, 0)
    assert notifier.texts("ann") == ["a1"]


async def test_a_late_mark_of_a_run_whose_claim_expired_changes_nothing(parts):
    """A slow run's "sent" mark must not overwrite the row another run took over."""
    clock, uow, _notifier, delivery = parts
    await queue(uow, ("a1", ANN), clock=clock)
    async with uow() as unit:
        [row] = await unit.outbox.pending(clock.now(), 10)
        await unit.outbox.claim(row.id, clock.now(), clock.now() + timedelta(minutes=2), "slow")
        await unit.commit()
    clock.advance(minutes=3)
    assert (await delivery.run_once()).sent == 1  # the claim expired: taken over and sent
    row.status, row.error = OutboxStatus.PENDING, "the slow run's late retry mark"
    async with uow() as unit:
        assert await unit.outbox.update_claimed(row, "slow") is False
        await unit.commit()
    [stored] = uow.store.outbox.values()
    assert stored.status is OutboxStatus.SENT and stored.error is None
