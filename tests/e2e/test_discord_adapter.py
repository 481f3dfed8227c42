"""The Discord adapter end to end: the real discord.py client against the fake Discord API and
gateway on loopback, with a front door that answers with canned replies."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import discord
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord import DiscordPlatform, DiscordStartupError, build_discord, handlers
from adapters.discord.context import command_line
from adapters.discord.outgoing import nonce_for
from adapters.discord.platform import COMMANDS_HASH_KEY
from adapters.discord.render import (
    MAX_DESCRIPTION,
    MAX_EMBED_TOTAL,
    MAX_TITLE,
    RenderError,
    render_reply,
    utf16_units,
)
from core.chat.registry import CommandFamily, Param, Registry
from core.errors import ChatGone, RateLimited, TransientDeliveryError
from core.model import ChatAddress, ChatContext, ChatKind, UserRef
from core.reply import Button, Reply
from tests.fakes.discord_server import (
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    FakeDiscord,
    Intent,
    Permission,
    SentMessage,
)
from tests.fakes.front_door import GROUPS, RecordingFrontDoor
from tests.fakes.title_shop import tiny_png

GUILD = 910_000_000_000_000_001
CHANNEL = 910_000_000_000_000_010
OTHER_CHANNEL = 910_000_000_000_000_011
THREAD = 910_000_000_000_000_012
ALICE = 910_000_000_000_000_100
BOB = 910_000_000_000_000_101
MOD_ROLE = 910_000_000_000_000_200
MODERATOR = 910_000_000_000_000_102
OPEN = "https://shop.example/kettle"


# ----- a registry like pricebot's: groups, choices, autocomplete, hidden commands ----------------

_family = CommandFamily("discord-adapter-tests")


def _stub(name: str, doc: str, *params: Param, **options: Any) -> None:
    async def handler(call: object, **args: Any) -> Reply:
        raise AssertionError("the front door answers with canned replies")

    handler.__doc__ = doc
    _family.command(name, params=params, **options)(handler)


_WATCH = Param(
    "watch", "The watch's id, as /watches shows it", int, kind="integer", autocomplete="watch_id"
)
_stub("help", "What I can do", Param("command", "A command to explain", required=False))
_stub(
    "track",
    "Track a product page; I tell you here when its price drops.",
    Param("link", "The product page's link"),
    Param("target", "A price, a drop (-10%) or stock", required=False, rest=True),
    reads_page=True,
)
_stub("watches", "List what this chat tracks", aliases=("list",))
_stub(
    "untrack",
    "Stop tracking",
    Param("watch", "A watch id, or all", autocomplete="watch_id"),
    actions=("stop",),
)
_stub(
    "snooze",
    "Silence a watch's alerts for a while",
    _WATCH,
    Param("hours", "Hours of quiet", int, required=False, default=24, kind="integer"),
)
_stub(
    "history",
    "Price history of a watch: " + "a chart, the lowest, highest and average " * 4,
    _WATCH,
    Param("period", "How far back", required=False, choices=("7d", "30d", "1y")),
    actions=("chart",),
)
_stub("holdings", "Your portfolio at market price")
_stub(
    "holdings add",
    "Add a holding",
    Param("item", "A link or a card name"),
    Param("quantity", "How many", float, required=False, kind="number"),
)
_stub(
    "holdings remove", "Remove a holding", Param("holding", "The holding's id", int, kind="integer")
)
_stub("feed on", "Deal feed for this channel (admins)", chats=GROUPS, needs_chat_admin=True)
_stub("feed off", "Stop the deal feed (admins)", chats=GROUPS, needs_chat_admin=True)
_stub("offer", "Accept an offer", Param("token", "The offer"), reads_page=True, hidden=True)
_stub("link", "A bare link", Param("text", "A link", rest=True), hidden=True)


@_family.completer("watch_id")
async def _never(call: object, typed: str) -> list[tuple[str, str]]:
    raise AssertionError("the front door answers completions itself")


REGISTRY = Registry([_family])


class Door(RecordingFrontDoor):
    """RecordingFrontDoor over REGISTRY, also recording named options and completions; a
    command may be held from answering until the test releases it."""

    registry = REGISTRY

    def __init__(self) -> None:
        super().__init__()
        self.options: list[tuple[ChatContext, str, dict[str, Any]]] = []
        self.completions: list[tuple[ChatContext, str, str]] = []
        self.suggestions: dict[str, list[tuple[str, str]]] = {}  # by channel id
        self._holds: dict[str, asyncio.Event] = {}

    def hold(self, name: str) -> asyncio.Event:
        """Command or button `name` answers only once the returned event is set."""
        release = self._holds[name] = asyncio.Event()
        return release

    async def _held(self, name: str) -> None:
        if (release := self._holds.get(name)) is not None:
            await asyncio.wait_for(release.wait(), 15)

    async def handle_options(
        self, ctx: ChatContext, name: str, options: dict[str, Any]
    ) -> Reply | None:
        self.options.append((ctx, name, dict(options)))
        await self._held(name)
        return await super().handle_options(ctx, name, options)

    async def handle_action(self, ctx: ChatContext, action: str) -> Reply | None:
        await self._held(action)
        return await super().handle_action(ctx, action)

    async def complete(self, ctx: ChatContext, source: str, typed: str) -> list[tuple[str, str]]:
        self.completions.append((ctx, source, typed))
        return self.suggestions.get(ctx.address.chat_id, [])


class MemoryState:
    """The database-backed key/value store, in memory; records every write."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes: list[tuple[str, str]] = []

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def put(self, key: str, value: str) -> None:
        self.values[key] = value
        self.writes.append((key, value))


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(heartbeat_interval_ms=1000) as server:
        server.add_guild(GUILD, "Deals")
        server.add_role(GUILD, MOD_ROLE, "mods", int(Permission.MANAGE_CHANNELS))
        server.add_channel(GUILD, CHANNEL, "price-alerts")
        server.add_channel(GUILD, OTHER_CHANNEL, "more-deals")
        server.add_channel(GUILD, THREAD, "kettle-talk", channel_type=11, parent_id=CHANNEL)
        server.add_member(GUILD, ALICE, "alice")
        server.add_member(GUILD, BOB, "bob")
        server.add_member(GUILD, MODERATOR, "mo", roles=[MOD_ROLE])
        yield server


@pytest.fixture
def door() -> Door:
    return Door()


@asynccontextmanager
async def running(
    fake: FakeDiscord,
    door: Door,
    *,
    state: MemoryState | None = None,
    prefix: str = "!",
    front: bool = True,
) -> AsyncIterator[DiscordPlatform]:
    """The platform as bot/runtime.py runs it: start_front() (or connect() for a worker),
    then close()."""
    platform = build_discord(
        token=fake.token,
        api_base=fake.api_base,
        front_door=door,
        state=state or MemoryState(),
        prefix=prefix,
        guild_ready_timeout=0.05,
    )
    try:
        await (platform.start_front() if front else platform.connect())
        yield platform
    finally:
        await platform.close()


def assert_nobody_pinged(fake: FakeDiscord) -> None:
    """Every message and edit said allowed_mentions: none, and nothing pinged anyone."""
    assert fake.messages or fake.edits
    for message in fake.messages:
        assert mentions_none(message.allowed_mentions), message.payload
        assert message.pinged_user_ids == [] and not message.mention_everyone
    for edit in fake.edits:
        if edit.via != "original":  # a deferral filled in is recorded as a message too
            assert mentions_none(edit.payload.get("allowed_mentions")), edit.payload


def mentions_none(allowed: dict[str, Any] | None) -> bool:
    """allowed_mentions that let nothing ping (a reply also says replied_user: false)."""
    return allowed in ({"parse": []}, {"parse": [], "replied_user": False})


def embed_text(message: SentMessage) -> str:
    return "\n".join(
        part
        for embed in message.embeds
        for part in (embed.get("title"), embed.get("description"))
        if part
    )


# ----- slash commands from the registry ---------------------------------------------------------


async def test_slash_commands_are_generated_from_the_registry(
    fake: FakeDiscord, door: Door
) -> None:
    async with running(fake, door):
        pass

    [sync] = fake.command_syncs
    assert sync.guild_id is None  # global: servers and DMs
    assert sync.names == [
        "help",
        "track",
        "watches",
        "untrack",
        "snooze",
        "history",
        "holdings",
        "feed",
    ]
    commands = {command["name"]: command for command in sync.payload}

    def options(command: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (o["name"], o["type"], o.get("required", False), o.get("autocomplete", False))
            for o in command.get("options", [])
        ]

    assert options(commands["track"]) == [("link", 3, True, False), ("target", 3, False, False)]
    assert options(commands["untrack"]) == [("watch", 3, True, True)]
    assert options(commands["snooze"]) == [("watch", 4, True, True), ("hours", 4, False, False)]
    period = commands["history"]["options"][1]
    assert period["choices"] == [
        {"name": "7d", "value": "7d"},
        {"name": "30d", "value": "30d"},
        {"name": "1y", "value": "1y"},
    ]
    assert len(commands["history"]["description"]) <= 100
    assert commands["history"]["description"].endswith("…")
    # A group: Discord cannot run "/holdings" itself, so the group's own command is "show".
    holdings = commands["holdings"]
    assert holdings["description"] == "Your portfolio at market price"
    assert [(o["name"], o["type"]) for o in holdings["options"]] == [
        ("show", 1),
        ("add", 1),
        ("remove", 1),
    ]
    assert options(holdings["options"][1]) == [
        ("item", 3, True, False),
        ("quantity", 10, False, False),
    ]
    # Contexts: 0 servers, 1 DMs (a bot is never in group DMs); /feed is for servers only.
    assert commands["feed"]["contexts"] == [0]
    assert commands["feed"]["description"] == "/feed on | off"
    assert commands["track"]["contexts"] == [0, 1]
    for command in sync.payload:
        assert 1 <= len(command["description"]) <= 100


async def test_commands_are_synced_only_when_the_registry_changed(
    fake: FakeDiscord, door: Door
) -> None:
    state = MemoryState()
    async with running(fake, door, state=state):
        pass
    async with running(fake, door, state=state):  # a restart (or a second replica)
        pass
    assert len(fake.command_syncs) == 1
    [(key, first_hash)] = state.writes
    assert key == COMMANDS_HASH_KEY

    family = CommandFamily("changed")

    @family.command(params=(Param("link", "The product page's link"),))
    async def track(call: object, link: str) -> Reply:
        """Track a product page."""
        raise AssertionError

    class ChangedDoor(Door):
        registry = Registry([family])

    async with running(fake, ChangedDoor(), state=state):
        pass
    assert len(fake.command_syncs) == 2
    assert fake.command_syncs[-1].names == ["track"]
    assert state.values[COMMANDS_HASH_KEY] != first_hash
    assert [c["name"] for c in fake.commands()] == ["track"]


async def test_a_slash_command_reaches_the_front_door_with_who_and_where(
    fake: FakeDiscord, door: Door
) -> None:
    door.reply_to("watches", Reply.say("Tracked in this chat (1):", "#1 Kettle"))
    async with running(fake, door):
        in_server = fake.push_slash_command("watches", None, ALICE, CHANNEL, GUILD)
        await fake.wait_until(lambda: fake.interaction_response(in_server.id))
        in_thread = fake.push_slash_command("watches", None, MODERATOR, THREAD, GUILD)
        await fake.wait_until(lambda: fake.interaction_response(in_thread.id))
        dm = fake.dm_channel_id(BOB)
        private = fake.push_slash_command("holdings add", {"item": OPEN}, BOB, dm)
        await fake.wait_until(lambda: fake.interaction_response(private.id))
        shown = fake.push_slash_command("holdings show", None, BOB, dm)
        await fake.wait_until(lambda: fake.interaction_response(shown.id))

    (alice, watches, _), (mod, _, _), (bob, add, added), (_, show, _) = door.options
    assert alice.user == UserRef("discord", str(ALICE), "alice")
    assert alice.address == ChatAddress("discord", str(CHANNEL))
    assert (alice.chat_kind, alice.community) == (ChatKind.GROUP, str(GUILD))
    assert not await alice.administers_chat()
    # A thread is a channel of its own; Manage Channels makes a chat admin.
    assert mod.address == ChatAddress("discord", str(THREAD))
    assert await mod.administers_chat()
    assert (bob.chat_kind, bob.community) == (ChatKind.PRIVATE, None)
    assert bob.address == ChatAddress("discord", str(dm))
    assert (watches, add, added, show) == ("watches", "holdings add", {"item": OPEN}, "holdings")

    answer = fake.interaction_response(in_server.id)
    assert answer is not None and answer.type == 4
    [embed] = answer.data["embeds"]
    assert (embed["title"], embed["description"]) == ("Tracked in this chat (1):", "\\#1 Kettle")
    assert not answer.data.get("flags")
    assert_nobody_pinged(fake)


async def test_a_command_that_reads_a_page_defers_at_once_and_follows_up(
    fake: FakeDiscord, door: Door
) -> None:
    release = door.hold("track")
    door.reply_to("track", Reply(("Now tracking #1:", "Kettle\n€49.90"), link=OPEN))
    async with running(fake, door):
        pushed = fake.push_slash_command("track", {"link": OPEN, "target": "45"}, ALICE, CHANNEL)
        deferral = await fake.wait_until(lambda: fake.interaction_response(pushed.id))
        assert deferral.type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
        assert door.options and not fake.followups(pushed.id)  # deferred before the answer
        release.set()
        [followup] = await fake.wait_until(lambda: fake.followups(pushed.id))

    assert door.options[0][2] == {"link": OPEN, "target": "45"}
    [embed] = followup.embeds
    assert (embed["title"], embed["url"]) == ("Now tracking #1:", OPEN)
    # The first follow-up fills in the "thinking" message.
    assert fake.message(CHANNEL, followup.id)["embeds"] == followup.embeds
    assert_nobody_pinged(fake)


async def test_a_slow_command_is_deferred_before_discords_three_seconds(
    fake: FakeDiscord, door: Door, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "ANSWER_WITHIN", 1.0)  # instead of 2 s of a busy database
    release = door.hold("watches")
    async with running(fake, door):
        slow = fake.push_slash_command("watches", None, ALICE, CHANNEL, GUILD)
        await fake.wait_until(lambda: fake.interaction_response(slow.id))
        release.set()
        await fake.wait_until(lambda: fake.followups(slow.id))
        fast = fake.push_slash_command("help", None, ALICE, CHANNEL, GUILD)
        answer = await fake.wait_until(lambda: fake.interaction_response(fast.id))

    deferral = fake.interaction_response(slow.id)
    assert deferral is not None and deferral.type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert answer.type == 4  # answered directly: no deferral needed


async def test_errors_are_shown_to_the_caller_only_and_failures_apologise(
    fake: FakeDiscord, door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    door.reply_to("untrack", Reply.error("There is no watch #9 in this chat."))
    door.reply_to("help", RuntimeError("database exploded"))
    async with running(fake, door):
        refused = fake.push_slash_command("untrack", {"watch": "9"}, BOB, CHANNEL, GUILD)
        broken = fake.push_slash_command("help", None, BOB, CHANNEL, GUILD)
        refusal = await fake.wait_until(lambda: fake.interaction_response(refused.id))
        apology = await fake.wait_until(lambda: fake.interaction_response(broken.id))

    assert refusal.type == 4 and refusal.data["flags"] == EPHEMERAL
    assert "no watch #9" in refusal.data["embeds"][0]["description"]
    assert apology.data["flags"] == EPHEMERAL
    assert apology.data["embeds"][0]["description"].startswith("Sorry, something went wrong")
    assert "database exploded" in caplog.text


async def test_autocomplete_offers_what_the_front_door_allows_this_caller_here(
    fake: FakeDiscord, door: Door
) -> None:
    door.suggestions[str(CHANNEL)] = [("#3 Kettle", "3"), ("#4 Toaster", "4")]
    async with running(fake, door):
        mine = fake.push_autocomplete("snooze", {"watch": "3"}, "watch", ALICE, CHANNEL, GUILD)
        elsewhere = fake.push_autocomplete("untrack", {"watch": ""}, "watch", BOB, OTHER_CHANNEL)
        answer = await fake.wait_until(lambda: fake.interaction_response(mine.id))
        nothing = await fake.wait_until(lambda: fake.interaction_response(elsewhere.id))

    # Integer options get integer values (Discord refuses strings there).
    assert answer.type == 8
    assert answer.data["choices"] == [
        {"name": "#3 Kettle", "value": 3},
        {"name": "#4 Toaster", "value": 4},
    ]
    assert nothing.data["choices"] == []
    (alice, source, typed), (bob, _, _) = door.completions
    assert (source, typed) == ("watch_id", "3")
    assert alice.user.user_id == str(ALICE) and alice.address.chat_id == str(CHANNEL)
    assert bob.user.user_id == str(BOB) and bob.address.chat_id == str(OTHER_CHANNEL)


async def test_an_interaction_that_expired_is_answered_in_its_channel(
    fake: FakeDiscord, door: Door
) -> None:
    door.reply_to("watches", Reply.say("Tracked in this chat (1):", "Kettle"))
    async with running(fake, door):
        fake.interaction_window = 0.0  # it waited out an outage: Discord says 10062
        pushed = fake.push_slash_command("watches", None, ALICE, CHANNEL, GUILD)
        sent = await fake.wait_for_message(CHANNEL)

    [call] = fake.interaction_log(pushed.id)
    assert (call.status, call.code) == (404, 10062)
    assert sent.via == "channel" and sent.embeds[0]["description"] == "Kettle"


# ----- prefix commands --------------------------------------------------------------------------


async def test_prefix_commands_reach_the_front_door_and_get_a_reply(
    fake: FakeDiscord, door: Door
) -> None:
    door.reply_to("track", Reply(("Now tracking #1:", "Kettle"), link=OPEN))
    async with running(fake, door):
        asked = fake.push_message(CHANNEL, ALICE, f"!track {OPEN} 45", GUILD)
        reply = await fake.wait_for_message(CHANNEL)
        fake.push_message(CHANNEL, ALICE, "just chatting, no command", GUILD)
        fake.push_message(CHANNEL, ALICE, "!!! wow", GUILD)
        fake.push_message(CHANNEL, ALICE, f"<@{fake.application_id}> watches", GUILD)
        await fake.wait_until(lambda: len(fake.sent(CHANNEL)) == 2)
        dm = fake.dm_channel_id(BOB)
        fake.push_message(dm, BOB, OPEN)
        await fake.wait_for_message(dm)

    texts = [text for _, text in door.texts]
    assert texts == [f"/track {OPEN} 45", "/watches", OPEN]
    assert reply.payload["message_reference"]["message_id"] == int(asked["id"])
    assert reply.embeds[0]["title"] == "Now tracking #1:"
    # The bot's own replies come back over the gateway and are ignored.
    assert len(fake.dispatched("MESSAGE_CREATE")) > 4
    assert fake.typing_channel_ids == [CHANNEL]  # while /track reads the page
    ctx = door.texts[0][0]
    assert (ctx.address.chat_id, ctx.community) == (str(CHANNEL), str(GUILD))
    assert_nobody_pinged(fake)


async def test_a_custom_prefix_replaces_the_exclamation_mark(fake: FakeDiscord, door: Door) -> None:
    async with running(fake, door, prefix="pb!"):
        fake.push_message(CHANNEL, ALICE, "!watches", GUILD)
        fake.push_message(CHANNEL, ALICE, "pb!watches 2", GUILD)
        await fake.wait_for_message(CHANNEL)
    assert [text for _, text in door.texts] == ["/watches 2"]


def test_command_lines_are_translated_to_the_registry_form() -> None:
    def line(text: str, private: bool = False, prefix: str = "!") -> str | None:
        return command_line(text, prefix=prefix, bot_id=42, private=private)

    assert line("!track x 25") == "/track x 25"
    assert line("?track x", prefix="?") == "/track x"
    assert line("<@42> track x") == "/track x"
    assert line("<@!42>   !help") == "/help"
    assert line("<@42>") == "/help"
    assert line("<@43> track x") is None
    assert line("! track") is None and line("hello") is None
    assert line("hello", private=True) == "hello"
    assert line("/track x", private=True) == "/track x"


# ----- buttons ----------------------------------------------------------------------------------


def alert_components(*actions: str) -> list[dict[str, Any]]:
    buttons = [{"type": 2, "style": 5, "label": "Open", "url": OPEN}]
    buttons += [{"type": 2, "style": 2, "label": a, "custom_id": f"pb:{a}"} for a in actions]
    return [{"type": 1, "components": buttons}]


async def test_buttons_on_a_message_sent_before_the_start_work(
    fake: FakeDiscord, door: Door
) -> None:
    # An alert posted by an earlier process: only the persistent button handler knows it.
    alert = fake.seed_bot_message(
        CHANNEL,
        embeds=[{"title": "Price drop: Kettle", "description": "€49.90 → €39.90"}],
        components=alert_components("history 7", "untrack 7"),
    )
    older = fake.seed_bot_message(CHANNEL, "Toaster", components=alert_components("stop:8"))
    door.reply_to_action("untrack 7", Reply.say("Stopped tracking #7. No more alerts for it."))
    async with running(fake, door):
        pressed = fake.push_component("pb:untrack 7", alert, BOB, CHANNEL, GUILD)
        answer = await fake.wait_until(lambda: fake.interaction_response(pressed.id))
        legacy = fake.push_component("pb:stop:8", older, BOB, CHANNEL, GUILD)
        await fake.wait_until(lambda: fake.interaction_response(legacy.id))

    (ctx, action), (_, old_action) = door.actions
    assert (action, old_action) == ("untrack 7", "stop:8")
    assert ctx.user == UserRef("discord", str(BOB), "bob")
    assert ctx.address == ChatAddress("discord", str(CHANNEL))
    # A short answer replaces the pressed alert, buttons and all.
    assert answer.type == 7
    message = fake.message(CHANNEL, alert)
    assert message["components"] == []
    assert message["embeds"][0]["description"] == "Stopped tracking #7. No more alerts for it."
    assert fake.message(CHANNEL, older)["embeds"][0]["description"] == "done: stop:8"
    assert_nobody_pinged(fake)


async def test_a_refused_press_is_told_to_the_presser_and_keeps_the_alert(
    fake: FakeDiscord, door: Door
) -> None:
    alert = fake.seed_bot_message(CHANNEL, "Kettle", components=alert_components("untrack 7"))
    door.reply_to_action("untrack 7", Reply.error("Only they or a chat admin can change #7."))
    async with running(fake, door):
        pressed = fake.push_component("pb:untrack 7", alert, BOB, CHANNEL, GUILD)
        answer = await fake.wait_until(lambda: fake.interaction_response(pressed.id))

    assert answer.type == 4 and answer.data["flags"] == EPHEMERAL
    assert fake.edits == []
    assert fake.message(CHANNEL, alert)["content"] == "Kettle"


async def test_a_chart_press_comes_as_a_new_message_with_the_image(
    fake: FakeDiscord, door: Door
) -> None:
    alert = fake.seed_bot_message(CHANNEL, "Kettle", components=alert_components("history 7"))
    chart = Reply(("#7 Kettle (last 30 days):", "lowest €39.90"), image_png=tiny_png(), link=OPEN)
    door.reply_to_action("history 7", chart)
    async with running(fake, door):
        fake.push_component("pb:history 7", alert, ALICE, CHANNEL, GUILD)
        sent = await fake.wait_for_message(CHANNEL)

    assert sent.via == "interaction"
    [upload] = sent.files
    assert (upload.filename, upload.data) == ("chart.png", chart.image_png)
    [embed] = sent.embeds
    assert embed["image"]["url"] == "attachment://chart.png"
    assert embed["title"] == "\\#7 Kettle (last 30 days):"  # "#" escaped: shows as typed
    assert fake.message(CHANNEL, alert)["components"]  # the alert keeps its buttons


async def test_a_button_that_reads_a_page_defers_first(fake: FakeDiscord, door: Door) -> None:
    release = door.hold("offer abc")
    offer = fake.seed_bot_message(CHANNEL, "Track this?", components=alert_components("offer abc"))
    async with running(fake, door):
        pressed = fake.push_component("pb:offer abc", offer, ALICE, CHANNEL, GUILD)
        deferral = await fake.wait_until(lambda: fake.interaction_response(pressed.id))
        assert not fake.edits  # deferred before the answer
        release.set()
        await fake.wait_until(lambda: fake.edits)
    assert deferral.type == DEFERRED_UPDATE_MESSAGE
    assert fake.message(CHANNEL, offer)["embeds"][0]["description"] == "done: offer abc"


# ----- rendering ----------------------------------------------------------------------------------


async def test_long_replies_are_split_within_every_embed_limit(
    fake: FakeDiscord, door: Door
) -> None:
    hostile = "**Deal** _now_ `code` @everyone <@1234567890123456789> [x](https://evil.example) "
    blocks = tuple(f"#{n} {hostile * 6}" for n in range(40))
    buttons = (Button("Next ›", action="watches 2"),)
    long_reply = Reply(("Tracked in this chat (40):", *blocks), buttons)
    door.reply_to("watches", long_reply)
    async with running(fake, door):
        pushed = fake.push_slash_command("watches", None, ALICE, CHANNEL, GUILD)
        await fake.wait_until(lambda: fake.interaction_response(pushed.id))
        await fake.wait_until(
            lambda: sum(len(m.embeds) for m in fake.sent(CHANNEL)) == len(render_embeds(long_reply))
        )

    messages = fake.sent(CHANNEL)
    assert len(messages) >= 3
    for message in messages:
        assert len(message.embeds) <= 10
        assert (
            sum(len(e.get("title", "")) + len(e.get("description", "")) for e in message.embeds)
            <= MAX_EMBED_TOTAL
        )
        for embed in message.embeds:
            assert len(embed.get("title", "")) <= MAX_TITLE
            assert len(embed.get("description", "")) <= MAX_DESCRIPTION
    assert [bool(m.components) for m in messages] == [False] * (len(messages) - 1) + [True]
    shown = "\n".join(embed_text(m) for m in messages)
    for n in range(40):
        assert f"#{n} " in shown
    # Shop text is literal: markdown escaped, mentions broken, masked links not links.
    assert "\\*\\*Deal\\*\\*" in shown and "@\u200beveryone" in shown
    assert "\\[x](https://evil.example)" in shown
    assert_nobody_pinged(fake)


def render_embeds(reply: Reply) -> list[discord.Embed]:
    return [embed for message in render_reply(reply) for embed in message.embeds]


def test_a_title_too_long_for_discord_goes_into_the_description() -> None:
    title = "Price drop: " + "Kettle " * 50
    [message] = render_reply(
        Reply((title, "€39.90"), link=OPEN, thumbnail="https://x.example/k.png")
    )
    [embed] = message.embeds
    assert embed.title is None and embed.description.startswith("Price drop: Kettle")
    assert embed.thumbnail.url == "https://x.example/k.png"
    [message] = render_reply(Reply(("Price drop: Kettle", "€39.90"), link="javascript:alert(1)"))
    assert message.embeds[0].title == "Price drop: Kettle" and message.embeds[0].url is None
    assert utf16_units("💧") == 2


def test_replies_discord_would_refuse_are_never_sent() -> None:
    too_long = Button("Stop", action="untrack " + "9" * 100)
    with pytest.raises(RenderError, match="action"):
        render_reply(Reply.say("Kettle", buttons=(too_long,)))
    with pytest.raises(RenderError, match="same action"):
        render_reply(Reply.say("Kettle", buttons=(Button("a", action="x 1"),) * 2))
    with pytest.raises(RenderError, match="buttons"):
        render_reply(
            Reply.say("K", buttons=tuple(Button(f"{n}", action=f"x {n}") for n in range(26)))
        )
    with pytest.raises(RenderError, match="http"):
        render_reply(Reply.say("Kettle", buttons=(Button("Open", url="ftp://shop.example/k"),)))
    [message] = render_reply(Reply.say("K", buttons=(Button("L" * 100, action="x 1"),)))
    assert len(message.buttons[0].label) == 80


# ----- intents ------------------------------------------------------------------------------------


async def test_intents_are_the_minimum_plus_message_content(fake: FakeDiscord, door: Door) -> None:
    async with running(fake, door):
        pass
    assert fake.intents == (
        Intent.GUILDS | Intent.GUILD_MESSAGES | Intent.DIRECT_MESSAGES | Intent.MESSAGE_CONTENT
    )


async def test_without_message_content_the_bot_runs_on_slash_commands(
    fake: FakeDiscord, door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    fake.reject_intents(Intent.MESSAGE_CONTENT)
    caplog.set_level(logging.INFO)
    async with running(fake, door) as platform:
        assert not platform.message_content
        pushed = fake.push_slash_command("help", None, ALICE, CHANNEL, GUILD)
        await fake.wait_until(lambda: fake.interaction_response(pushed.id))
        fake.push_message(CHANNEL, ALICE, "!watches", GUILD)  # arrives without its text
        fake.push_message(CHANNEL, ALICE, f"<@{fake.application_id}> watches", GUILD)
        await fake.wait_for_message(CHANNEL, lambda m: m.via == "channel")

    first, second = fake.identifies
    assert first["intents"] & Intent.MESSAGE_CONTENT
    assert second["intents"] == Intent.GUILDS | Intent.GUILD_MESSAGES | Intent.DIRECT_MESSAGES
    assert fake.connections[0].close_code == 4014
    warnings = [r for r in caplog.records if "Message Content" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "discord.com/developers/applications" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage() and warnings[0].exc_info is None
    assert [text for _, text in door.texts] == ["/help", "/watches"]


# ----- start, stop, addresses ---------------------------------------------------------------------


async def test_the_gateway_is_asked_of_the_api_base_and_both_are_restored(
    fake: FakeDiscord, door: Door
) -> None:
    rest, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    async with running(fake, door):
        assert Route.BASE == fake.api_base
        assert str(DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == (rest, gateway)
    assert len(fake.requests_to("GET /gateway/bot")) == 1
    assert fake.connections[0].path == "/gateway"


async def test_a_refused_token_and_an_unreachable_api_are_one_safe_line(
    fake: FakeDiscord, door: Door
) -> None:
    wrong = fake.token[:-4] + "XXXX"
    platform = build_discord(
        token=wrong, api_base=fake.api_base, front_door=door, state=MemoryState()
    )
    with pytest.raises(DiscordStartupError) as refused:
        await platform.start_front()
    await platform.close()
    assert "PRICEBOT_DISCORD_TOKEN" in str(refused.value) and wrong not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    platform = build_discord(
        token=fake.token,
        api_base=f"http://127.0.0.1:{closed}/api/v10",
        front_door=door,
        state=MemoryState(),
    )
    with pytest.raises(DiscordStartupError, match="cannot reach the Discord API"):
        await platform.connect()
    await platform.close()
    assert fake.connections == []


async def test_the_token_never_reaches_the_logs(
    fake: FakeDiscord, door: Door, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(fake, door):
        pushed = fake.push_slash_command("help", None, ALICE, CHANNEL, GUILD)
        await fake.wait_until(lambda: fake.interaction_response(pushed.id))
        fake.drop_connection()
        await fake.wait_until(lambda: len(fake.resumes) == 1 and fake.connected)
    assert "IDENTIFY" in caplog.text and "RESUME" in caplog.text  # discord.py said a lot
    assert fake.token not in caplog.text
    assert fake.token.rsplit(".", 1)[-1] not in caplog.text


# ----- the notifier -------------------------------------------------------------------------------


@pytest.fixture
def alert() -> Reply:
    return Reply(
        ("Price drop: Kettle @everyone", "€49.90 → €39.90 (-20%)", "Lowest in 30 days: €39.90"),
        (Button("Open", url=OPEN), Button("Stop tracking", action="untrack 7")),
        link=OPEN,
        thumbnail="https://shop.example/kettle.png",
    )


async def test_a_worker_delivers_over_rest_alone(
    fake: FakeDiscord, door: Door, alert: Reply
) -> None:
    async with running(fake, door, front=False) as platform:
        message_id = await platform.notifier.send(
            ChatAddress("discord", str(CHANNEL)), alert, key="alert:7:1"
        )
    assert fake.connections == [] and fake.command_syncs == []  # no gateway, no sync
    [sent] = fake.sent(CHANNEL)
    assert message_id == str(sent.id)
    assert sent.payload["nonce"] == nonce_for("alert:7:1", 0) and sent.payload["enforce_nonce"]
    [embed] = sent.embeds
    assert embed["title"] == "Price drop: Kettle @\u200beveryone" and embed["url"] == OPEN
    assert embed["thumbnail"]["url"] == "https://shop.example/kettle.png"
    assert sent.custom_ids == ["pb:untrack 7"]
    assert platform.notifier.platform == "discord"
    assert_nobody_pinged(fake)


async def test_a_429_delays_the_alert_and_loses_nothing(
    fake: FakeDiscord, door: Door, alert: Reply
) -> None:
    address = ChatAddress("discord", str(CHANNEL))
    async with running(fake, door, front=False) as platform:
        fake.fail_next("POST /channels/{channel_id}/messages", status=429, retry_after=0.3)
        started = time.monotonic()
        await platform.notifier.send(address, alert)
        elapsed = time.monotonic() - started
        # A wait longer than discord.py sleeps through goes back to the outbox, which waits.
        fake.fail_next("POST /channels/{channel_id}/messages", status=429, retry_after=120)
        with pytest.raises(RateLimited) as long_wait:
            await platform.notifier.send(address, alert)
        # discord.py gives up after five 429s in a row: that is no silent loss either.
        fake.fail_next("POST /channels/{channel_id}/messages", 429, retry_after=0.01, times=5)
        with pytest.raises(RateLimited):
            await platform.notifier.send(address, alert)

    assert elapsed >= 0.3
    assert long_wait.value.retry_after == 120
    statuses = [r.status for r in fake.requests_to("POST /channels/{channel_id}/messages")]
    assert statuses == [429, 200, 429] + [429] * 5
    assert len(fake.sent(CHANNEL)) == 1


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, 50001, ChatGone),  # Missing Access
        (403, 50013, ChatGone),  # Missing Permissions
        (404, 10003, ChatGone),  # Unknown Channel
        (400, 50035, TransientDeliveryError),  # Invalid Form Body: retried, then given up
        (503, 0, TransientDeliveryError),
    ],
)
async def test_delivery_errors_map_to_cores(
    fake: FakeDiscord, door: Door, alert: Reply, status: int, code: int, expected: type
) -> None:
    async with running(fake, door, front=False) as platform:
        fake.fail_next(f"POST /channels/{CHANNEL}/messages", status=status, code=code)
        with pytest.raises(expected):
            await platform.notifier.send(ChatAddress("discord", str(CHANNEL)), alert)


async def test_closed_dms_and_bad_addresses_are_gone_chats(
    fake: FakeDiscord, door: Door, alert: Reply
) -> None:
    dm = fake.dm_channel_id(BOB)
    fake.close_dms(BOB)
    async with running(fake, door, front=False) as platform:
        with pytest.raises(ChatGone, match="Cannot send messages to this user"):
            await platform.notifier.send(ChatAddress("discord", str(dm)), alert)
        with pytest.raises(ChatGone):
            await platform.notifier.send(ChatAddress("discord", "not-a-channel"), alert)
    before_login = build_discord(
        token=fake.token, api_base=fake.api_base, front_door=door, state=MemoryState()
    )
    with pytest.raises(TransientDeliveryError, match="not logged in"):
        await before_login.notifier.send(ChatAddress("discord", str(CHANNEL)), alert)
    await before_login.close()


@pytest.fixture(autouse=True)
def _discord_addresses_restored() -> Iterator[None]:
    """Every test leaves discord.py pointed where it found it."""
    rest, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == (rest, gateway)
