"""The fake Discord server, driven by the real discord.py client over loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakes.discord_server import (
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    FakeDiscord,
    Intent,
    Permission,
    permission_overwrite,
)

GUILD = 900_000_000_000_000_001
CHANNEL = 900_000_000_000_000_010
READ_ONLY_CHANNEL = 900_000_000_000_000_011
USER = 900_000_000_000_000_100
OTHER_USER = 900_000_000_000_000_101


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(heartbeat_interval_ms=1000) as server:
        server.add_guild(GUILD, "Deals")
        server.add_channel(GUILD, CHANNEL, "price-alerts", topic="Where prices drop")
        server.add_channel(
            GUILD,
            READ_ONLY_CHANNEL,
            "announcements",
            overwrites=[permission_overwrite(GUILD, deny=Permission.SEND_MESSAGES)],
        )
        server.add_member(GUILD, USER, "alice")
        yield server


@contextlib.asynccontextmanager
async def connect_client(
    client: discord.Client, fake: FakeDiscord, *, token: str | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Logs `client` in against the fake and runs its gateway in a task; closes both after.

    REST: discord.py builds every URL from the class attribute Route.BASE. Gateway: discord.py
    2.4+ connects to DiscordWebSocket.DEFAULT_GATEWAY without asking for it, so ask
    GET /gateway/bot here, as a client of the real API would, and point DEFAULT_GATEWAY at the
    answer. RESUMEs go to READY's resume_gateway_url; INVALID_SESSION falls back to
    DEFAULT_GATEWAY. Both class attributes are restored on exit.
    """
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_base
    task: asyncio.Task[None] | None = None
    try:
        await client.login(token or fake.token)
        _shards, url, _limits = await client.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        task = asyncio.create_task(client.connect(reconnect=True))
        yield task
    finally:
        await client.close()
        if task is not None:
            # What the task ended with is the test's business; here it only must end.
            await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=5)
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


def make_client(*, message_content: bool = False) -> discord.Client:
    intents = discord.Intents.default()
    intents.message_content = message_content
    # on_ready fires guild_ready_timeout after the last GUILD_CREATE; 2 s by default.
    return discord.Client(intents=intents, guild_ready_timeout=0.2)


async def wait_ready(client: discord.Client) -> None:
    await asyncio.wait_for(client.wait_until_ready(), timeout=5)


def text_channel(client: discord.Client, channel_id: int = CHANNEL) -> discord.TextChannel:
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def wait_for(
    condition: asyncio.Event | asyncio.Future[Any],
    timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout keeps test code short
) -> None:
    awaitable = condition.wait() if isinstance(condition, asyncio.Event) else condition
    await asyncio.wait_for(awaitable, timeout)


# ----- login, READY, GUILD_CREATE -----------------------------------------------------------------


@pytest.mark.parametrize("zlib_chunk_size", [None, 64])
async def test_client_logs_in_gets_ready_and_builds_the_guild(zlib_chunk_size: int | None) -> None:
    async with FakeDiscord(heartbeat_interval_ms=1000, zlib_chunk_size=zlib_chunk_size) as fake:
        fake.add_guild(GUILD, "Deals")
        fake.add_channel(GUILD, CHANNEL, "price-alerts")
        fake.add_channel(
            GUILD,
            READ_ONLY_CHANNEL,
            "announcements",
            overwrites=[permission_overwrite(GUILD, deny=Permission.SEND_MESSAGES)],
        )
        client = make_client()
        ready = asyncio.Event()

        @client.event
        async def on_ready() -> None:
            ready.set()

        async with connect_client(client, fake):
            await wait_for(ready)
            assert client.user is not None and client.user.id == fake.application_id
            assert client.application_id == fake.application_id
            guild = client.get_guild(GUILD)
            assert guild is not None and guild.name == "Deals" and not guild.unavailable
            assert guild.me is not None and guild.me.bot
            assert [r.name for r in guild.me.roles] == ["@everyone", "pricebot-test"]
            channel = text_channel(client)
            assert channel.name == "price-alerts"
            permissions = channel.permissions_for(guild.me)
            assert permissions.send_messages and permissions.embed_links
            assert not permissions.administrator
            assert (
                not text_channel(client, READ_ONLY_CHANNEL).permissions_for(guild.me).send_messages
            )

    assert fake.identifies[0]["intents"] == discord.Intents.default().value
    assert fake.intents is not None and not fake.intents & Intent.MESSAGE_CONTENT
    assert fake.identifies[0]["token"] == fake.token
    [connection] = fake.connections
    # zlib-stream, or zstd-stream when a zstd module is importable: what discord.py asks for.
    compression = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    assert connection.query == {"v": "10", "encoding": "json", "compress": compression}
    assert [d.event for d in fake.dispatches] == ["READY", "GUILD_CREATE"]
    assert [d.seq for d in fake.dispatches] == [1, 2]
    login = fake.requests_to("GET /users/@me")[0]
    assert login.headers["Authorization"] == f"Bot {fake.token}"
    assert fake.requests_to("GET /oauth2/applications/@me")[0].status == 200
    heartbeats = [p for p in fake.gateway_received if p.op == 1]
    assert heartbeats, "discord.py heartbeats as soon as HELLO arrives"


async def test_a_wrong_token_is_refused_like_discord(fake: FakeDiscord) -> None:
    client = make_client()
    with pytest.raises(discord.LoginFailure):
        async with connect_client(client, fake, token="not-the-token"):
            pass
    [request] = fake.requests
    assert (request.status, request.code) == (401, 0)


# ----- MESSAGE_CREATE in, channel.send with embed and buttons out ---------------------------------


async def test_a_pushed_message_reaches_on_message_and_the_reply_has_discord_shape(
    fake: FakeDiscord,
) -> None:
    client = make_client(message_content=True)
    received: list[discord.Message] = []
    replied = asyncio.Event()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return  # the gateway echoes the bot's own messages too
        received.append(message)
        embed = discord.Embed(title="Price dropped", description="Kettle is now 19.99")
        embed.add_field(name="Before", value="24.99")
        embed.set_footer(text="pricebot")
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label="Stop", custom_id="alert:stop:7"))
        view.add_item(discord.ui.Button(label="Open", url="https://shop.example/kettle"))
        await message.channel.send(
            f"{message.author.mention} your alert fired",
            embed=embed,
            view=view,
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=[message.author]
            ),
        )
        replied.set()

    async with connect_client(client, fake):
        await wait_ready(client)
        pushed = fake.push_message(CHANNEL, USER, "hello @everyone", GUILD)
        await wait_for(replied)
        sent = await fake.wait_for_message(CHANNEL)
        echoed = await fake.wait_until(lambda: fake.dispatched("MESSAGE_CREATE")[1:])

    [message] = received
    assert message.id == int(pushed["id"]) and message.content == "hello @everyone"
    assert message.guild is not None and message.guild.id == GUILD
    assert isinstance(message.author, discord.Member) and message.author.name == "alice"
    assert sent.via == "channel" and sent.content == f"<@{USER}> your alert fired"
    [embed] = sent.embeds
    assert embed["title"] == "Price dropped" and embed["type"] == "rich"
    assert embed["fields"] == [{"name": "Before", "value": "24.99", "inline": True}]
    assert embed["footer"] == {"text": "pricebot"}
    [row] = sent.components
    assert row["type"] == 1
    stop, link = row["components"]
    assert (stop["type"], stop["style"], stop["custom_id"]) == (2, 2, "alert:stop:7")
    assert (link["style"], link["url"], "custom_id" in link) == (
        5,
        "https://shop.example/kettle",
        False,
    )
    assert sent.allowed_mentions == {"parse": [], "users": [USER], "replied_user": True}
    assert sent.pinged_user_ids == [USER] and not sent.mention_everyone
    assert echoed[0].data["author"]["id"] == str(fake.application_id)


async def test_without_message_content_guild_messages_arrive_empty_unless_they_mention_the_bot(
    fake: FakeDiscord,
) -> None:
    client = make_client(message_content=False)
    contents: list[str] = []
    all_three = asyncio.Event()

    @client.event
    async def on_message(message: discord.Message) -> None:
        contents.append(message.content)
        if len(contents) == 3:
            all_three.set()

    async with connect_client(client, fake):
        await wait_ready(client)
        fake.push_message(CHANNEL, USER, "price?", GUILD)
        fake.push_message(CHANNEL, USER, f"<@{fake.application_id}> price?", GUILD)
        fake.push_message(fake.dm_channel_id(USER), USER, "price in DM?")
        await wait_for(all_three)

    assert contents == ["", f"<@{fake.application_id}> price?", "price in DM?"]


async def test_limits_and_permissions_answer_like_discord(fake: FakeDiscord) -> None:
    client = make_client()
    async with connect_client(client, fake):
        await wait_ready(client)
        channel = text_channel(client)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        assert (too_long.value.status, too_long.value.code) == (400, 50035)
        body = fake.requests_to("POST /channels/{channel_id}/messages")[-1]
        assert body.code == 50035
        with pytest.raises(discord.HTTPException) as big_embeds:
            embeds = [discord.Embed(description="d" * 4000) for _ in range(2)]
            await channel.send(embeds=embeds)
        assert big_embeds.value.code == 50035
        with pytest.raises(discord.Forbidden) as read_only:
            await text_channel(client, READ_ONLY_CHANNEL).send("hi")
        assert read_only.value.code == 50013
        user = await client.fetch_user(USER)
        fake.close_dms(USER)
        with pytest.raises(discord.Forbidden) as closed:
            await user.send("your alert")
        assert closed.value.code == 50007
        with pytest.raises(discord.HTTPException) as bad_command:
            await client.http.bulk_upsert_global_commands(
                fake.application_id, [{"name": "Track Price", "description": "x", "type": 1}]
            )
        assert bad_command.value.code == 50035
        refused = fake.requests_to("PUT /applications/{application_id}/commands")[-1]
        assert refused.json[0]["name"] == "Track Price" and fake.commands() == []
    assert fake.sent(CHANNEL) == []


async def test_files_go_multipart_and_edits_change_the_stored_message(fake: FakeDiscord) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    client = make_client()
    async with connect_client(client, fake):
        await wait_ready(client)
        channel = await client.fetch_channel(CHANNEL)
        assert isinstance(channel, discord.TextChannel) and channel.topic == "Where prices drop"
        chart = discord.File(io.BytesIO(png), filename="history.png", description="Price history")
        message = await channel.send("Kettle: 30 days", file=chart)
        edited = await message.edit(content="Kettle: 30 days (updated)", attachments=[])
        dm = await (await client.fetch_user(USER)).send("Tracking started")

    posted = fake.requests_to("POST /channels/{channel_id}/messages")[0]
    assert posted.headers["Content-Type"].startswith("multipart/form-data")
    assert posted.json["attachments"] == [
        {"id": 0, "filename": "history.png", "description": "Price history"}
    ]
    sent, direct = fake.messages
    assert [f.field for f in sent.files] == ["files[0]"] and sent.files[0].data == png
    [attachment] = sent.attachments
    assert attachment["filename"] == "history.png" and attachment["size"] == len(png)
    assert attachment["content_type"] == "image/png"
    assert message.attachments[0].filename == "history.png"
    assert edited.content == "Kettle: 30 days (updated)" and edited.attachments == []
    [edit] = fake.edits
    assert (edit.message_id, edit.via, edit.content) == (message.id, "channel", edited.content)
    assert fake.message(CHANNEL, message.id)["edited_timestamp"] is not None
    assert direct.channel_id == fake.dm_channel_id(USER) and dm.channel.id == direct.channel_id
    assert fake.requests_to("POST /users/@me/channels")[0].json == {"recipient_id": USER}


async def test_invalid_bodies_get_discords_error_tree(fake: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {fake.token}"}
    messages = f"{fake.api_base}/channels/{CHANNEL}/messages"
    button = {"type": 2, "style": 1, "label": "Go", "custom_id": "go"}
    row_of_six = {"type": 1, "components": [{**button, "custom_id": f"b{i}"} for i in range(6)]}
    bad_buttons = {
        "type": 1,
        "components": [
            {"type": 2, "style": 1, "label": "No id"},
            {"type": 2, "style": 5, "label": "Link", "url": "https://x.example", "custom_id": "x"},
            {**button, "custom_id": "c" * 101},
        ],
    }
    fields = [{"name": f"f{i}", "value": "v"} for i in range(26)]
    commands = f"{fake.api_base}/applications/{fake.application_id}/commands"
    group = {
        "name": "alerts",
        "description": "Alerts",
        "options": [
            {
                "type": 2,
                "name": "manage",
                "description": "Manage",
                "options": [{"type": 3, "name": "query", "description": "Not a subcommand"}],
            }
        ],
    }
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(messages, json={"content": "hi"}) as ok:
            assert ok.status == 200 and ok.headers["Content-Type"] == "application/json"
            assert ok.headers["X-RateLimit-Limit"] == "50" and "X-RateLimit-Bucket" in ok.headers
        async with session.post(messages, json={"components": [row_of_six]}) as answer:
            body = await answer.json()
        assert answer.status == 400 and body["code"] == 50035
        assert body["message"] == "Invalid Form Body"
        [too_wide] = body["errors"]["components"]["0"]["components"]["_errors"]
        assert too_wide["message"] == "Must be between 1 and 5 in length."
        async with session.post(messages, json={"components": [bad_buttons]}) as answer:
            errors = (await answer.json())["errors"]["components"]["0"]["components"]
        assert set(errors) == {"0", "1", "2"}
        assert "custom_id" in errors["0"] and "custom_id" in errors["1"]
        async with session.post(messages, json={"embeds": [{"fields": fields}]}) as answer:
            errors = (await answer.json())["errors"]
        assert "fields" in errors["embeds"]["0"]
        async with session.post(messages, json={"content": "  "}) as answer:
            assert (answer.status, (await answer.json())["code"]) == (400, 50006)
        async with session.put(commands, json=[group]) as answer:
            errors = (await answer.json())["errors"]
        assert "type" in errors["0"]["options"]["0"]["options"]["0"]
        too_many = [{"name": f"c{i}", "description": "x"} for i in range(101)]
        async with session.put(commands, json=too_many) as answer:
            assert (answer.status, (await answer.json())["code"]) == (400, 50035)
        async with session.post(messages, headers={"Authorization": "Bot wrong"}) as answer:
            assert answer.status == 401
            assert await answer.json() == {"message": "401: Unauthorized", "code": 0}
    assert [m.content for m in fake.sent(CHANNEL)] == ["hi"]


# ----- slash commands: sync, INTERACTION_CREATE, defer + follow-up, the 3 s window ----------------


async def test_a_synced_slash_command_is_called_deferred_and_followed_up(fake: FakeDiscord) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    removed: list[int] = []
    late: asyncio.Future[discord.HTTPException] = asyncio.get_running_loop().create_future()

    @tree.command(name="track", description="Track a product's price")
    @app_commands.describe(url="Product page", target="Alert below this price")
    async def track(
        interaction: discord.Interaction, url: str, target: float | None = None
    ) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(f"Tracking {url} below {target}")

    alerts = app_commands.Group(name="alerts", description="Your price alerts")

    @alerts.command(name="remove", description="Stop an alert")
    async def remove(interaction: discord.Interaction, alert_id: int) -> None:
        removed.append(alert_id)
        await interaction.response.send_message(f"Alert {alert_id} removed", ephemeral=True)

    @tree.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            late.set_result(exc)

    tree.add_command(alerts)

    async with connect_client(client, fake):
        await wait_ready(client)
        synced = await tree.sync()
        assert sorted(c.name for c in synced) == ["alerts", "slow", "track"]
        [sync] = fake.command_syncs
        assert sync.guild_id is None
        track_payload = next(c for c in sync.payload if c["name"] == "track")
        assert [(o["name"], o["type"], o.get("required")) for o in track_payload["options"]] == [
            ("url", 3, True),
            ("target", 10, False),
        ]
        alerts_payload = next(c for c in sync.payload if c["name"] == "alerts")
        assert alerts_payload["options"][0]["type"] == 1  # a subcommand

        pushed = fake.push_slash_command(
            "track", {"url": "https://shop.example/kettle", "target": 20}, USER, CHANNEL, GUILD
        )
        followup = await fake.wait_for_message(CHANNEL, lambda m: m.via == "followup")
        assert followup.content == "Tracking https://shop.example/kettle below 20.0"
        log = fake.interaction_log(pushed.id)
        assert [(c.kind, c.status) for c in log] == [("callback", 200), ("followup", 200)]
        assert log[0].type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
        # The first follow-up after a deferral fills in the "thinking" message.
        original = fake.message(CHANNEL, followup.id)
        assert original["content"] == followup.content and not original["flags"] & 128

        removal = fake.push_slash_command("alerts remove", {"alert_id": 7}, USER, CHANNEL, GUILD)
        answer = await fake.wait_until(lambda: fake.interaction_response(removal.id))
        assert removed == [7]
        assert answer.type == 4 and answer.data["flags"] == 64

        fake.interaction_window = 0.0  # every answer comes too late
        too_late = fake.push_slash_command("slow", {}, USER, CHANNEL, GUILD)
        await wait_for(late)

    error = late.result()
    assert isinstance(error, discord.NotFound) and error.code == 10062
    [call] = fake.interaction_log(too_late.id)
    assert (call.kind, call.status, call.code) == ("callback", 404, 10062)
    assert fake.interaction_response(too_late.id) is None


async def test_user_and_channel_options_arrive_resolved(fake: FakeDiscord) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    shared: asyncio.Future[tuple[object, object]] = asyncio.get_running_loop().create_future()

    @tree.command(name="share", description="Share your alerts")
    async def share(
        interaction: discord.Interaction, member: discord.Member, channel: discord.TextChannel
    ) -> None:
        shared.set_result((member, channel))
        await interaction.response.send_message("shared", ephemeral=True)

    async with connect_client(client, fake):
        await wait_ready(client)
        await tree.sync()
        fake.add_member(GUILD, OTHER_USER, "bob")
        options = {"member": OTHER_USER, "channel": READ_ONLY_CHANNEL}
        pushed = fake.push_slash_command("share", options, USER, CHANNEL, GUILD)
        await wait_for(shared)

    member, channel = shared.result()
    assert isinstance(member, discord.Member) and member.name == "bob"
    assert isinstance(channel, discord.TextChannel) and channel.name == "announcements"
    resolved = pushed.payload["data"]["resolved"]
    assert resolved["users"][str(OTHER_USER)]["username"] == "bob"
    # A resolved channel carries the invoking user's permissions there.
    assert not int(resolved["channels"][str(READ_ONLY_CHANNEL)]["permissions"]) & (
        Permission.SEND_MESSAGES
    )


async def test_answering_an_interaction_twice_is_refused(fake: FakeDiscord) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)

    @tree.command(name="ping", description="Is the bot there?")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    async with connect_client(client, fake):
        await wait_ready(client)
        await tree.sync()
        pushed = fake.push_slash_command("ping", None, USER, CHANNEL, GUILD)
        await fake.wait_until(lambda: fake.interaction_response(pushed.id))
        # discord.py refuses a second answer itself, so ask the server directly.
        url = f"{fake.api_base}/interactions/{pushed.id}/{pushed.token}/callback"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json={"type": 4, "data": {"content": "again"}}) as answer:
                assert answer.status == 400
                assert await answer.json() == {
                    "message": "Interaction has already been acknowledged.",
                    "code": 40060,
                }
            fake.token_lifetime = 0.0  # 15 minutes later
            followup = f"{fake.api_base}/webhooks/{fake.application_id}/{pushed.token}?wait=1"
            async with session.post(followup, json={"content": "later"}) as answer:
                assert answer.status == 401
                assert (await answer.json())["code"] == 50027


# ----- a persistent view gets the button press ----------------------------------------------------


class StopAlertView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Stop alert", style=discord.ButtonStyle.danger, custom_id="alert:stop")
    async def stop_alert(
        self, interaction: discord.Interaction, button: discord.ui.Button[StopAlertView]
    ) -> None:
        await interaction.response.edit_message(content="Alert stopped", view=None)


async def test_a_button_press_reaches_a_persistent_view_and_edits_the_message(
    fake: FakeDiscord,
) -> None:
    # The alert message was posted before the bot restarted; only the persistent view knows it.
    message_id = fake.seed_bot_message(
        CHANNEL,
        "Kettle dropped to 19.99",
        components=[
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 4, "label": "Stop alert", "custom_id": "alert:stop"}
                ],
            }
        ],
    )
    client = make_client()
    async with connect_client(client, fake):
        await wait_ready(client)
        client.add_view(StopAlertView())
        pushed = fake.push_component("alert:stop", message_id, USER, CHANNEL, GUILD)
        response = await fake.wait_until(lambda: fake.interaction_response(pushed.id))

    assert response.type == 7
    assert response.data["content"] == "Alert stopped" and response.data["components"] == []
    message = fake.message(CHANNEL, message_id)
    assert message["content"] == "Alert stopped" and message["components"] == []
    [edit] = fake.edits
    assert (edit.message_id, edit.via) == (message_id, "interaction")


# ----- autocomplete -------------------------------------------------------------------------------


async def test_autocomplete_calls_the_callback_and_the_choices_are_recorded(
    fake: FakeDiscord,
) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    shops = ["amazon", "argos", "bol", "coolblue"]
    typed: list[str] = []

    @tree.command(name="watch", description="Watch a shop")
    async def watch(interaction: discord.Interaction, shop: str) -> None:
        await interaction.response.send_message(shop)

    @watch.autocomplete("shop")
    async def shop_names(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed.append(current)
        return [
            app_commands.Choice(name=s.title(), value=s) for s in shops if s.startswith(current)
        ]

    async with connect_client(client, fake):
        await wait_ready(client)
        await tree.sync()
        assert fake.commands()[0]["options"][0]["autocomplete"] is True
        pushed = fake.push_autocomplete("watch", {"shop": "a"}, "shop", USER, CHANNEL, GUILD)
        response = await fake.wait_until(lambda: fake.interaction_response(pushed.id))

    assert typed == ["a"]
    assert response.type == 8
    assert response.data["choices"] == [
        {"name": "Amazon", "value": "amazon"},
        {"name": "Argos", "value": "argos"},
    ]


# ----- a 429 is retried after retry_after ---------------------------------------------------------


async def test_an_injected_429_is_retried_and_the_message_arrives_once(fake: FakeDiscord) -> None:
    client = make_client()
    async with connect_client(client, fake):
        await wait_ready(client)
        fake.fail_next("POST /channels/{channel_id}/messages", status=429, retry_after=0.3)
        started = time.monotonic()
        message = await text_channel(client).send("Kettle dropped to 19.99")
        elapsed = time.monotonic() - started

    attempts = fake.requests_to("POST /channels/{channel_id}/messages")
    assert [a.status for a in attempts] == [429, 200]
    assert elapsed >= 0.3
    [sent] = fake.sent(CHANNEL)
    assert sent.id == message.id and sent.content == "Kettle dropped to 19.99"


async def test_injected_403_404_and_500_surface_as_discord_errors(fake: FakeDiscord) -> None:
    client = make_client()
    async with connect_client(client, fake):
        await wait_ready(client)
        channel = text_channel(client)
        fake.fail_next(f"POST /channels/{CHANNEL}/messages", status=403, code=50007)
        with pytest.raises(discord.Forbidden) as forbidden:
            await channel.send("a")
        fake.fail_next("POST /channels/{channel_id}/messages", status=404)
        with pytest.raises(discord.NotFound) as not_found:
            await channel.send("b")
        fake.fail_next("/channels/{channel_id}/messages", status=500)
        await channel.send("c")  # discord.py retries a 500 after a second

    assert (forbidden.value.code, forbidden.value.text) == (
        50007,
        "Cannot send messages to this user",
    )
    assert (not_found.value.code, not_found.value.text) == (10003, "Unknown Channel")
    statuses = [r.status for r in fake.requests_to("POST /channels/{channel_id}/messages")]
    assert statuses == [403, 404, 500, 200]
    assert [m.content for m in fake.sent(CHANNEL)] == ["c"]


# ----- a dropped gateway connection is RESUMEd and nothing is lost --------------------------------


async def test_after_a_drop_the_client_resumes_and_gets_what_it_missed(fake: FakeDiscord) -> None:
    client = make_client(message_content=True)
    tree = app_commands.CommandTree(client)
    received: list[str] = []
    resumed = asyncio.Event()

    @tree.command(name="price", description="Current price")
    async def price(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("19.99")

    @client.event
    async def on_message(message: discord.Message) -> None:
        if not message.author.bot:
            received.append(message.content)

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    async with connect_client(client, fake):
        await wait_ready(client)
        await tree.sync()
        session_id, last_seq = fake.session_id, fake.sequence
        fake.hold_gateway()  # an outage: the reconnect waits until released
        fake.drop_connection()
        fake.push_message(CHANNEL, USER, "sent during the outage", GUILD)
        command = fake.push_slash_command("price", None, USER, CHANNEL, GUILD)
        await fake.wait_until(lambda: len(fake.connections) == 2)
        assert received == [] and fake.interaction_response(command.id) is None
        fake.release_gateway()
        await wait_for(resumed)
        answer = await fake.wait_until(lambda: fake.interaction_response(command.id))
        await fake.wait_until(lambda: received)

    assert fake.resumes == [{"seq": last_seq, "session_id": session_id, "token": fake.token}]
    assert len(fake.identifies) == 1
    first, second = fake.connections
    assert first.close_code == 1006 and (second.path, second.resumed) == ("/gateway/resume", True)
    assert received == ["sent during the outage"]
    assert answer.data["content"] == "19.99"
    replayed = [d.event for d in fake.dispatches if d.seq > last_seq]
    assert replayed[:3] == ["MESSAGE_CREATE", "INTERACTION_CREATE", "RESUMED"]


class PromptClient(discord.Client):
    """discord.py waits 5 s before every IDENTIFY but the first (the documented
    before_identify_hook); a test need not."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


async def test_an_invalidated_session_makes_the_client_identify_again(fake: FakeDiscord) -> None:
    client = PromptClient(intents=discord.Intents.default(), guild_ready_timeout=0.2)
    readies = 0
    second_ready = asyncio.Event()

    @client.event
    async def on_ready() -> None:
        nonlocal readies
        readies += 1
        if readies == 2:
            second_ready.set()

    async with connect_client(client, fake):
        await wait_ready(client)
        first_session = fake.session_id
        fake.invalidate_session()
        await wait_for(second_ready)
        assert fake.session_id not in (None, first_session)

    assert len(fake.identifies) == 2
    assert fake.connections[1].path == "/gateway"  # DEFAULT_GATEWAY, not the resume URL


async def test_reconnect_request_and_close_4000_both_resume(fake: FakeDiscord) -> None:
    client = make_client()
    async with connect_client(client, fake):
        await wait_ready(client)
        fake.request_reconnect()
        await fake.wait_until(lambda: len(fake.resumes) == 1 and fake.connected)
        fake.drop_connection(code=4000)
        await fake.wait_until(lambda: len(fake.resumes) == 2 and fake.connected)

    assert len(fake.identifies) == 1
    assert [c.resumed for c in fake.connections] == [False, True, True]


# ----- a privileged intent the portal does not allow ----------------------------------------------


async def test_a_disallowed_privileged_intent_closes_4014(fake: FakeDiscord) -> None:
    fake.reject_intents(Intent.MESSAGE_CONTENT)
    client = make_client(message_content=True)
    async with connect_client(client, fake) as connection:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(connection, timeout=5)

    assert fake.intents is not None and fake.intents & Intent.MESSAGE_CONTENT
    assert fake.connections[-1].close_code == 4014
    assert fake.session_id is None


# ----- the gateway without discord.py: plain JSON frames and protocol errors ----------------------


async def test_the_gateway_speaks_plain_json_and_refuses_unknown_sessions(
    fake: FakeDiscord,
) -> None:
    url = f"{fake.gateway_url}?v=10&encoding=json"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello == {
            "op": 10,
            "d": {"heartbeat_interval": 1000, "_trace": ['["gateway-fake"]']},
            "s": None,
            "t": None,
        }
        await ws.send_json({"op": 1, "d": None})
        assert (await ws.receive_json(timeout=5))["op"] == 11
        await ws.send_json({"op": 6, "d": {"token": fake.token, "session_id": "nope", "seq": 3}})
        assert await ws.receive_json(timeout=5) == {"op": 9, "d": False, "s": None, "t": None}
        await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 1, "properties": {}}})
        ready = await ws.receive_json(timeout=5)
        assert (ready["t"], ready["s"]) == ("READY", 1)
        assert ready["d"]["resume_gateway_url"] == fake.resume_gateway_url
        guild_create = await ws.receive_json(timeout=5)
        assert guild_create["t"] == "GUILD_CREATE" and guild_create["d"]["name"] == "Deals"
        await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 1}})
        closing = await ws.receive(timeout=5)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4005


async def test_zlib_stream_frames_share_one_deflate_context(fake: FakeDiscord) -> None:
    url = f"{fake.gateway_url}?v=10&encoding=json&compress=zlib-stream"
    inflater = zlib.decompressobj()
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        payloads = []
        for _ in range(2):
            if len(payloads) == 1:
                await ws.send_json({"op": 1, "d": None})
            frame = await ws.receive_bytes(timeout=5)
            assert frame.endswith(b"\x00\x00\xff\xff")
            payloads.append(json.loads(inflater.decompress(frame)))
    assert [p["op"] for p in payloads] == [10, 11]
