"""DiscordPlatform: log in, open the gateway, sync the slash commands when they changed, stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import aiohttp
import discord

from adapters.discord.client import PricebotClient
from adapters.discord.endpoints import Endpoints
from adapters.discord.handlers import DiscordHandlers
from adapters.discord.notifier import DiscordNotifier
from adapters.discord.slash import tree_hash
from adapters.redact import TokenRedactingFilter

# Kept in the database, so every replica and restart knows what Discord already has: Discord
# allows 200 command creations a day, and on_ready fires again after every reconnect.
COMMANDS_HASH_KEY = "discord.commands_hash"
LOGIN_TIMEOUT = 30.0  # seconds for the REST login (and for asking where the gateway is)
READY_TIMEOUT = 60.0  # seconds from opening the gateway to READY and the servers' data
GUILD_READY_TIMEOUT = 2.0  # discord.py's wait for more servers after the last one arrived
CLOSE_TIMEOUT = 5.0
MESSAGE_CONTENT_OFF = (
    "Discord refused the Message Content intent, so !commands are off and slash commands "
    "work: to use !commands, enable Bot > Privileged Gateway Intents > Message Content Intent "
    "for this application at https://discord.com/developers/applications and restart pricebot"
)


class DiscordStartupError(Exception):
    """Discord cannot be used as configured; the message says what to do and holds no secret."""


class CommandState(Protocol):
    """Named values kept between runs and replicas (bot.bootstrap.StoredState)."""

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str) -> None: ...


class DiscordPlatform:
    """The Discord side of pricebot in one process.

    `connect()` only logs in over REST: enough for `notifier` to deliver alerts (a worker).
    `start_front()` also opens the gateway and serves slash commands, buttons and prefix
    commands until `close()`."""

    def __init__(
        self,
        *,
        token: str,
        api_base: str,
        handlers: DiscordHandlers,
        state: CommandState,
        logger: logging.Logger,
        redaction: TokenRedactingFilter,
        guild_ready_timeout: float,
    ) -> None:
        self._token = token
        self._handlers = handlers
        self._state = state
        self._log = logger
        self._redaction = redaction
        self._guild_ready_timeout = guild_ready_timeout
        self._endpoints = Endpoints(api_base)
        self._message_content = True
        self._ready = asyncio.Event()
        self._client = self._new_client()
        self._logged_in = False
        self._gateway: asyncio.Task[None] | None = None
        self.notifier = DiscordNotifier(lambda: self._client)

    @property
    def message_content(self) -> bool:
        """Whether prefix commands in servers can be read (the intent was granted)."""
        return self._message_content

    async def connect(self) -> None:
        """Logs the bot in over REST, once. Raises DiscordStartupError when the token is
        refused or the API cannot be reached."""
        if self._logged_in:
            return
        self._endpoints.point_rest()
        try:
            await asyncio.wait_for(self._client.login(self._token), LOGIN_TIMEOUT)
        except discord.LoginFailure:
            raise DiscordStartupError(
                "Discord refused the bot token: check PRICEBOT_DISCORD_TOKEN (Developer Portal > "
                "your application > Bot > Reset Token, then copy it again)"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise DiscordStartupError(
                "cannot reach the Discord API at PRICEBOT_DISCORD_API_BASE "
                f"({type(error).__name__}); check the network and try again"
            ) from None
        except discord.HTTPException as error:
            raise DiscordStartupError(
                f"Discord refused to log the bot in (HTTP {error.status}); check "
                "PRICEBOT_DISCORD_TOKEN and PRICEBOT_DISCORD_API_BASE"
            ) from None
        self._logged_in = True

    async def start_front(self) -> None:
        """Logs in, opens the gateway, waits until it is ready (persistent buttons are
        registered before it opens), syncs the slash commands if they changed, and keeps
        serving in the background until close()."""
        await self.connect()
        try:
            await asyncio.wait_for(self._endpoints.point_gateway(self._client.http), LOGIN_TIMEOUT)
        except (discord.GatewayNotFound, aiohttp.ClientError, OSError, TimeoutError):
            raise DiscordStartupError(
                "cannot ask PRICEBOT_DISCORD_API_BASE where its gateway is (GET /gateway/bot "
                "failed); check the setting and the network"
            ) from None
        self._ready.clear()
        gateway = self._gateway = asyncio.create_task(self._serve_gateway(), name="discord")
        ready = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait(
                {gateway, ready}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if gateway in done:
            raise _startup_failure(gateway)
        if ready not in done:
            raise DiscordStartupError(
                f"the Discord gateway did not get ready within {READY_TIMEOUT:g} s; check the "
                "network and https://discordstatus.com, then try again"
            )
        gateway.add_done_callback(self._gateway_stopped)
        await self._sync_commands()

    async def close(self) -> None:
        """Stops the gateway and the client, puts discord.py's addresses back; never raises."""
        gateway, self._gateway = self._gateway, None
        try:
            await self._client.close()
        except Exception:
            self._log.debug("closing the Discord client failed", exc_info=True)
        if gateway is not None:
            gateway.remove_done_callback(self._gateway_stopped)
            await _finish(gateway)
        self._logged_in = False
        self._endpoints.restore()
        self._redaction.detach()

    # ----- the gateway ------------------------------------------------------------------------

    async def _serve_gateway(self) -> None:
        """Runs the gateway (discord.py reconnects and RESUMEs by itself) until the client is
        closed. Refused Message Content (close code 4014) is logged once, in one line, and
        the bot goes on without it: slash commands need no intent."""
        while True:
            try:
                await self._client.connect(reconnect=True)
                return
            except discord.PrivilegedIntentsRequired:
                if not self._message_content:
                    raise
            self._log.warning(MESSAGE_CONTENT_OFF)
            await self._replace_client(message_content=False)

    async def _replace_client(self, *, message_content: bool) -> None:
        """discord.py takes its intents when a client is made: a client with other intents is
        a new client (logged in again; it registers the same buttons and commands)."""
        old = self._client
        self._message_content = message_content
        self._client = self._new_client()
        self._logged_in = False
        await old.close()
        await self.connect()

    def _new_client(self) -> PricebotClient:
        return PricebotClient(
            self._handlers,
            message_content=self._message_content,
            guild_ready_timeout=self._guild_ready_timeout,
            ready=self._ready,
        )

    def _gateway_stopped(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        expected = isinstance(error, DiscordStartupError | discord.ConnectionClosed)
        self._log.error(
            "the Discord gateway stopped: %s; slash and prefix commands are not served until "
            "pricebot restarts (alerts are still delivered)",
            _startup_failure(task),
            exc_info=None if expected else error,
        )

    # ----- slash commands ---------------------------------------------------------------------

    async def _sync_commands(self) -> None:
        """Registers the slash commands only when they differ from the last registration."""
        client = self._client
        digest = tree_hash(client.tree, client.application_id)
        if await self._state.get(COMMANDS_HASH_KEY) == digest:
            self._log.info("slash commands unchanged since the last registration")
            return
        try:
            synced = await client.tree.sync()
        except discord.HTTPException as error:
            self._log.error(
                "registering the slash commands failed (HTTP %s %s: %s); !commands work, and "
                "the next start tries again",
                error.status,
                error.code,
                error.text,
            )
            return
        await self._state.put(COMMANDS_HASH_KEY, digest)
        self._log.info("registered %d slash commands with Discord", len(synced))


def _startup_failure(gateway: asyncio.Task[None]) -> DiscordStartupError:
    """Why the gateway task ended, as one line for the operator."""
    error = None if gateway.cancelled() else gateway.exception()
    if isinstance(error, DiscordStartupError):
        return error
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return DiscordStartupError(
            "Discord refused a privileged intent (close code 4014); enable it for this "
            "application at https://discord.com/developers/applications"
        )
    if isinstance(error, discord.ConnectionClosed):
        if error.code == 4004:
            return DiscordStartupError(
                "the Discord gateway refused the bot token: check PRICEBOT_DISCORD_TOKEN"
            )
        return DiscordStartupError(f"the Discord gateway closed the connection (code {error.code})")
    if error is None:
        return DiscordStartupError("the Discord client was closed while it started")
    return DiscordStartupError(f"the Discord gateway failed ({type(error).__name__})")


async def _finish(task: asyncio.Task[None]) -> None:
    """Waits briefly for a task that was told to stop, then cancels it; its outcome is the
    caller's business no longer."""
    await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not report it
