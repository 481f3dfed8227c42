"""A fake Discord API v10 server on 127.0.0.1: REST, interactions and the gateway, with faults.

The real discord.py 2.x client talks to it over loopback sockets: REST under `fake.api_base`
(`http://127.0.0.1:PORT/api/v10`) and a WebSocket gateway at `fake.gateway_url` that speaks
the protocol discord.py expects: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats, RESUME
with replay of missed dispatches, INVALID_SESSION, RECONNECT and the close codes discord.py acts
on, with zlib-stream compression (zstd-stream when a zstd module is importable, which is when
discord.py asks for it) or plain JSON text frames when the client asks for no compression.

Pointing discord.py at it (the library is used as it ships, only its base URLs change):

* REST: every request, the bot's own and the interaction webhooks', is built from the class
  attribute `discord.http.Route.BASE` (`https://discord.com/api/v10`). Set it to
  `fake.api_base` before `client.login()` and restore it after `client.close()`. There is no
  per-client option for it (`http._set_api_version` rewrites the same attribute).
* Gateway: since 2.4 `Client.connect()` no longer asks `GET /gateway/bot`; it opens
  `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` (a `yarl.URL` class attribute,
  `wss://gateway.discord.gg/`) and adds `?v=10&encoding=json&compress=zlib-stream` itself.
  After login, ask the fake as a client of the real API would,
  `_, url, _ = await client.http.get_bot_gateway()`, and set
  `DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)` until the client is closed. Reconnects
  keep working: RESUME goes to READY's `resume_gateway_url` (this server, path
  /gateway/resume), and after INVALID_SESSION discord.py falls back to DEFAULT_GATEWAY.
* Two client settings keep tests fast: `discord.Client(..., guild_ready_timeout=0.2)` (on_ready
  fires that long after the last GUILD_CREATE, 2 s by default), and a `before_identify_hook`
  that does not sleep (discord.py waits 5 s before every IDENTIFY but the first).

Details of the real API that discord.py depends on and this server reproduces: JSON answers
carry exactly `Content-Type: application/json` (with a charset parameter discord.py reads the
body as text); a 429 carries a `Via` header (without one discord.py takes it for a Cloudflare
ban and raises instead of retrying); `application_info()` calls GET /oauth2/applications/@me;
interaction callbacks are posted with `?with_response=1` and read the callback object back;
IDs are snowflakes of the current time, as discord.py derives created_at from them.

Like Discord, the gateway sends only what the session's intents ask for: no GUILD_CREATE
without GUILDS, guild messages without content unless MESSAGE_CONTENT (or the message is a
DM, the bot's own, or mentions the bot), GUILD_CREATE members limited to the bot unless
GUILD_PRESENCES. The bot's own messages come back as MESSAGE_CREATE.

One bot, one gateway session (shard 0 of 1). Events pushed while the bot is disconnected are
kept in the session and replayed on RESUME. Error bodies have Discord's shape
(`{"code": 50035, "message": "Invalid Form Body", "errors": {...}}`); tests should assert the
status, the JSON code and the error path rather than the inner `_errors` code strings.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import enum
import hashlib
import importlib
import itertools
import json
import math
import mimetypes
import re
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.waiting import ChangeWaiter

T = TypeVar("T")

API_VERSION = 10
DEFAULT_APPLICATION_ID = 1_300_000_000_000_000_001  # modern bots: bot user id == application id
DEFAULT_OWNER_ID = 1_300_000_000_000_000_002
DEFAULT_BOT_NAME = "pricebot-test"
DEFAULT_TOKEN = (
    base64.b64encode(str(DEFAULT_APPLICATION_ID).encode()).decode().rstrip("=")
    + ".GfAkE1.pricebot-fake-discord-token-0123456789abc"
)
DEFAULT_HEARTBEAT_INTERVAL_MS = 41_250
DEFAULT_INTERACTION_WINDOW = 3.0  # seconds to acknowledge an interaction
DEFAULT_TOKEN_LIFETIME = 15 * 60.0  # seconds an interaction token works for follow-ups
DISCORD_EPOCH_MS = 1_420_070_400_000

MAX_CONTENT_LENGTH = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_EMBED_FIELDS = 25
MAX_ACTION_ROWS = 5
MAX_ROW_COMPONENTS = 5
MAX_CUSTOM_ID_LENGTH = 100
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_GATEWAY_PAYLOAD = 4096
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMANDS = {1: 100, 2: 15, 3: 15, 4: 1}  # per command type, global or per guild
MAX_COMMAND_SIZE = 8000

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15

# Gateway opcodes.
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

# Interaction and callback types.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
PONG = 1
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
MODAL = 9
_CALLBACKS_FOR = {
    PING: {PONG},
    APPLICATION_COMMAND: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, MODAL},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {APPLICATION_COMMAND_AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {4, 5, 6, 7},
}

# Channel types.
GUILD_TEXT, DM, GUILD_VOICE, GUILD_CATEGORY, GUILD_ANNOUNCEMENT = 0, 1, 2, 4, 5
_TEXT_CHANNEL_TYPES = {0, 1, 2, 5, 10, 11, 12}
_THREAD_TYPES = {10, 11, 12}


class Intent(enum.IntFlag):
    """Gateway intents, as IDENTIFY sends them."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25


PRIVILEGED_INTENTS = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT
_ALL_INTENTS = sum(Intent)
# Application flags telling which privileged intents the developer portal enabled.
_LIMITED_INTENT_FLAGS = {
    Intent.GUILD_PRESENCES: 1 << 13,
    Intent.GUILD_MEMBERS: 1 << 15,
    Intent.MESSAGE_CONTENT: 1 << 19,
}


class Permission(enum.IntFlag):
    """The permission bits the fake computes and checks."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.MENTION_EVERYONE
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.SEND_MESSAGES_IN_THREADS
)

# JSON error codes and their messages, as Discord words them.
_ERROR_MESSAGES = {
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10008: "Unknown Message",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    10063: "Unknown application command",
    20012: "You are not authorized to perform this action on this application",
    40005: "Request entity too large",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50005: "Cannot edit a message authored by another user",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50033: "Invalid Recipient(s)",
    50035: "Invalid Form Body",
    50109: "The request body contains invalid JSON.",
}
_HTTP_ERROR_MESSAGES = {
    400: "400: Bad Request",
    401: "401: Unauthorized",
    403: "403: Forbidden",
    404: "404: Not Found",
    405: "405: Method Not Allowed",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
}
_DEFAULT_FAILURE_CODES = {403: 50001, 404: 10003}

_COMMAND_NAME = re.compile(r"[-_\w]{1,32}")
_USER_MENTION = re.compile(r"<@!?([0-9]+)>")
_ROLE_MENTION = re.compile(r"<@&([0-9]+)>")
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
_FILE_FIELD = re.compile(r"files\[([0-9]+)\]|file([0-9]*)")


# ----- errors -------------------------------------------------------------------------------------


class DiscordError(Exception):
    """An error answer of the API: HTTP status plus Discord's JSON error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str | None = None,
        errors: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or _ERROR_MESSAGES.get(code) or _HTTP_ERROR_MESSAGES[status]
        self.errors = errors
        super().__init__(f"{status} {code} {self.message}")

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def error(status: int, code: int) -> DiscordError:
    return DiscordError(status, code)


class FormErrors:
    """Collects "Invalid Form Body" errors under their JSON paths, as Discord nests them."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise DiscordError(400, 50035, errors=self.tree)


def invalid_form(path: Sequence[str | int], code: str, message: str) -> DiscordError:
    errors = FormErrors()
    errors.add(path, code, message)
    return DiscordError(400, 50035, errors=errors.tree)


def check_length(
    errors: FormErrors,
    path: Sequence[str | int],
    value: Any,
    maximum: int,
    *,
    minimum: int = 0,
    required: bool = False,
) -> int:
    """Checks a string field's length; returns the length counted (0 when absent or wrong)."""
    if value is None:
        if required:
            errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return 0
    if not isinstance(value, str):
        errors.add(path, "BASE_TYPE_STRING", "Must be a string.")
        return 0
    if not minimum <= len(value) <= maximum:
        if minimum:
            errors.add(
                path,
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between {minimum} and {maximum} in length.",
            )
        else:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")
    return len(value)


def _check_list(
    errors: FormErrors, path: Sequence[str | int], value: Any, maximum: int, *, minimum: int = 0
) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return []
    if not minimum <= len(value) <= maximum:
        if minimum:
            message = f"Must be between {minimum} and {maximum} in length."
            errors.add(path, "BASE_TYPE_BAD_LENGTH", message)
        else:
            errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")
    return value


# ----- message validation -------------------------------------------------------------------------


def check_message_body(errors: FormErrors, body: Mapping[str, Any]) -> None:
    """Checks content, embeds, components and allowed_mentions against Discord's limits."""
    check_length(errors, ("content",), body.get("content"), MAX_CONTENT_LENGTH)
    if body.get("embeds") is not None:
        check_embeds(errors, body["embeds"])
    flags = body.get("flags") or 0
    if not isinstance(flags, int):
        errors.add(("flags",), "NUMBER_TYPE_COERCE", f'Value "{flags}" is not int.')
        flags = 0
    if body.get("components") is not None:
        check_components(errors, body["components"], components_v2=bool(flags & IS_COMPONENTS_V2))
    if flags & IS_COMPONENTS_V2 and (body.get("content") or body.get("embeds")):
        errors.add(
            ("content",),
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using "
            "MessageFlags.IS_COMPONENTS_V2",
        )
    if body.get("allowed_mentions") is not None:
        check_allowed_mentions(errors, body["allowed_mentions"])


def check_embeds(errors: FormErrors, embeds: Any) -> None:
    total = 0
    for index, embed in enumerate(_check_list(errors, ("embeds",), embeds, MAX_EMBEDS)):
        path: tuple[str | int, ...] = ("embeds", index)
        if not isinstance(embed, dict):
            errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        total += check_length(errors, (*path, "title"), embed.get("title"), 256)
        total += check_length(errors, (*path, "description"), embed.get("description"), 4096)
        fields = _check_list(errors, (*path, "fields"), embed.get("fields"), MAX_EMBED_FIELDS)
        for number, embed_field in enumerate(fields):
            field_path = (*path, "fields", number)
            if not isinstance(embed_field, dict):
                errors.add(field_path, "DICT_TYPE_CONVERT", "Only dictionaries may be used")
                continue
            total += check_length(
                errors,
                (*field_path, "name"),
                embed_field.get("name"),
                256,
                minimum=1,
                required=True,
            )
            total += check_length(
                errors,
                (*field_path, "value"),
                embed_field.get("value"),
                1024,
                minimum=1,
                required=True,
            )
        footer = embed.get("footer")
        if isinstance(footer, dict):
            total += check_length(
                errors, (*path, "footer", "text"), footer.get("text"), 2048, required=True
            )
        author = embed.get("author")
        if isinstance(author, dict):
            total += check_length(
                errors, (*path, "author", "name"), author.get("name"), 256, required=True
            )
    if total > MAX_EMBED_TOTAL:
        errors.add(
            ("embeds",),
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
        )


def check_components(errors: FormErrors, components: Any, *, components_v2: bool) -> None:
    custom_ids: set[str] = set()
    if components_v2:
        # Layout components nest freely; what is checked is every interactive child.
        for path, child in _walk_components(components, ("components",)):
            _check_interactive(errors, path, child, custom_ids)
        return
    rows = _check_list(errors, ("components",), components, MAX_ACTION_ROWS)
    for index, row in enumerate(rows):
        path: tuple[str | int, ...] = ("components", index)
        if not isinstance(row, dict) or row.get("type") != 1:
            errors.add(
                (*path, "type"),
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,) without MessageFlags.IS_COMPONENTS_V2.',
            )
            continue
        children = _check_list(
            errors, (*path, "components"), row.get("components"), MAX_ROW_COMPONENTS, minimum=1
        )
        has_select = any(isinstance(c, dict) and c.get("type") in (3, 5, 6, 7, 8) for c in children)
        if has_select and len(children) > 1:
            errors.add(
                (*path, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for number, child in enumerate(children):
            _check_interactive(errors, (*path, "components", number), child, custom_ids)


def _walk_components(
    components: Any, path: tuple[str | int, ...]
) -> Iterable[tuple[tuple[str | int, ...], dict[str, Any]]]:
    if not isinstance(components, list):
        return
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        here = (*path, index)
        yield here, component
        for key in ("components", "accessory", "component"):
            inner = component.get(key)
            if isinstance(inner, dict):
                yield (*here, key), inner
            elif isinstance(inner, list):
                yield from _walk_components(inner, (*here, key))


def _check_interactive(
    errors: FormErrors, path: tuple[str | int, ...], component: Any, custom_ids: set[str]
) -> None:
    if not isinstance(component, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        return
    kind = component.get("type")
    if kind == 2:
        _check_button(errors, path, component)
    elif kind in (3, 5, 6, 7, 8):
        check_length(
            errors,
            (*path, "custom_id"),
            component.get("custom_id"),
            MAX_CUSTOM_ID_LENGTH,
            minimum=1,
            required=True,
        )
        check_length(errors, (*path, "placeholder"), component.get("placeholder"), 150)
        if kind == 3:
            _check_list(errors, (*path, "options"), component.get("options"), 25, minimum=1)
    custom_id = component.get("custom_id")
    if isinstance(custom_id, str):
        if custom_id in custom_ids:
            errors.add(
                (*path, "custom_id"),
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        custom_ids.add(custom_id)


def _check_button(errors: FormErrors, path: tuple[str | int, ...], button: dict[str, Any]) -> None:
    style = button.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        errors.add(
            (*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}."
        )
        return
    check_length(errors, (*path, "label"), button.get("label"), 80)
    if style == 5:  # link
        if not button.get("url"):
            errors.add((*path, "url"), "BUTTON_COMPONENT_URL_REQUIRED", "A url is required")
        if button.get("custom_id") is not None:
            errors.add(
                (*path, "custom_id"),
                "BUTTON_COMPONENT_CUSTOM_ID_AND_URL",
                "A custom id and url cannot both be specified",
            )
        return
    if style == 6:  # premium
        if not button.get("sku_id"):
            errors.add((*path, "sku_id"), "BASE_TYPE_REQUIRED", "This field is required")
        return
    if button.get("url") is not None:
        errors.add((*path, "url"), "BUTTON_COMPONENT_URL_NOT_ALLOWED", "A url is not allowed")
    if button.get("custom_id") is None:
        errors.add(
            (*path, "custom_id"), "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required"
        )
    else:
        check_length(
            errors, (*path, "custom_id"), button["custom_id"], MAX_CUSTOM_ID_LENGTH, minimum=1
        )


def check_allowed_mentions(errors: FormErrors, allowed: Any) -> None:
    if not isinstance(allowed, dict):
        errors.add(("allowed_mentions",), "DICT_TYPE_CONVERT", "Only dictionaries may be used")
        return
    parse = _check_list(errors, ("allowed_mentions", "parse"), allowed.get("parse"), 3)
    for index, kind in enumerate(parse):
        if kind not in ("users", "roles", "everyone"):
            errors.add(
                ("allowed_mentions", "parse", index),
                "BASE_TYPE_CHOICES",
                "Value must be one of ('everyone', 'roles', 'users').",
            )
    for kind in ("users", "roles"):
        listed = _check_list(errors, ("allowed_mentions", kind), allowed.get(kind), 100)
        if listed and kind in parse:
            errors.add(
                ("allowed_mentions",),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def message_is_empty(message: Mapping[str, Any]) -> bool:
    """Discord refuses messages with nothing to show: 50006 Cannot send an empty message."""
    content = message.get("content") or ""
    return not (
        content.strip()
        or message.get("embeds")
        or message.get("attachments")
        or message.get("components")
        or message.get("sticker_ids")
        or message.get("sticker_items")
        or message.get("poll")
    )


# ----- application command validation -------------------------------------------------------------


def check_commands(commands: Any) -> list[dict[str, Any]]:
    """Checks a bulk overwrite the way Discord does; returns the commands (a list of dicts)."""
    errors = FormErrors()
    if not isinstance(commands, list):
        raise invalid_form((), "BASE_TYPE_ARRAY", "Must be an array.")
    seen: set[tuple[int, str]] = set()
    counts: dict[int, int] = {}
    for index, command in enumerate(commands):
        path: tuple[str | int, ...] = (index,)
        if not isinstance(command, dict):
            errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        kind = command.get("type", 1)
        if kind not in MAX_COMMANDS:
            errors.add((*path, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
            continue
        counts[kind] = counts.get(kind, 0) + 1
        name = command.get("name")
        _check_command_name(errors, (*path, "name"), name, chat_input=kind == 1)
        if isinstance(name, str):
            if (kind, name) in seen:
                errors.add(
                    (*path, "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add((kind, name))
        description = command.get("description")
        if kind == 1:
            check_length(errors, (*path, "description"), description, 100, minimum=1, required=True)
        elif description:
            errors.add(
                (*path, "description"),
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
        options = command.get("options") or []
        if kind != 1 and options:
            errors.add((*path, "options"), "APPLICATION_COMMAND_OPTIONS_INVALID", "Not allowed")
        else:
            _check_options(errors, (*path, "options"), options, level="command")
        if _command_size(command) > MAX_COMMAND_SIZE:
            errors.add(
                path,
                "APPLICATION_COMMAND_TOO_LARGE",
                f"Command exceeds maximum size ({MAX_COMMAND_SIZE})",
            )
    for kind, count in counts.items():
        if count > MAX_COMMANDS[kind]:
            errors.add(
                (),
                "APPLICATION_COMMANDS_TOO_MANY",
                f"Maximum number of type {kind} application commands reached "
                f"({MAX_COMMANDS[kind]})",
            )
    errors.raise_if_any()
    return commands


def _check_command_name(
    errors: FormErrors, path: Sequence[str | int], name: Any, *, chat_input: bool
) -> None:
    if not isinstance(name, str):
        errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    if chat_input:
        # Chat input names: ^[-_\w]{1,32}$, lower case wherever a letter has a lower case.
        if not _COMMAND_NAME.fullmatch(name) or name != name.lower():
            errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    else:
        check_length(errors, path, name, 32, minimum=1)


def _check_options(
    errors: FormErrors, path: tuple[str | int, ...], options: Any, *, level: str
) -> None:
    """level: "command" (top), "group" (inside a subcommand group), "subcommand"."""
    options = _check_list(errors, path, options, MAX_OPTIONS)
    kinds = [o.get("type") for o in options if isinstance(o, dict)]
    nested = [k for k in kinds if k in (1, 2)]
    if nested and len(nested) != len(kinds):
        errors.add(
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all "
            "other types",
        )
    names: set[str] = set()
    optional_seen = False
    for index, option in enumerate(options):
        here = (*path, index)
        if not isinstance(option, dict):
            errors.add(here, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        kind = option.get("type")
        if kind not in range(1, 12):
            errors.add((*here, "type"), "BASE_TYPE_CHOICES", "Value must be one of {1..11}.")
            continue
        name = option.get("name")
        _check_command_name(errors, (*here, "name"), name, chat_input=True)
        if isinstance(name, str):
            if name in names:
                errors.add(
                    (*here, "name"),
                    "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME",
                    "Option names must be unique",
                )
            names.add(name)
        check_length(
            errors, (*here, "description"), option.get("description"), 100, minimum=1, required=True
        )
        if level == "group" and kind != 1:
            errors.add(
                (*here, "type"),
                "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                "Sub-command groups may only contain sub-commands",
            )
        elif kind == 2:
            if level != "command":
                errors.add(
                    (*here, "type"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups can only be nested at the top level",
                )
            sub = option.get("options")
            if not sub:
                errors.add((*here, "options"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25.")
            _check_options(errors, (*here, "options"), sub or [], level="group")
        elif kind == 1:
            if level == "subcommand":
                errors.add(
                    (*here, "type"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-commands cannot contain sub-commands",
                )
            _check_options(
                errors, (*here, "options"), option.get("options") or [], level="subcommand"
            )
        else:
            required = bool(option.get("required", False))
            if required and optional_seen:
                errors.add(
                    (*here, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
            optional_seen = optional_seen or not required
            _check_choices(errors, here, option, kind)


def _check_choices(
    errors: FormErrors, path: tuple[str | int, ...], option: dict[str, Any], kind: int
) -> None:
    choices = option.get("choices")
    if option.get("autocomplete") and kind not in (3, 4, 10):
        errors.add((*path, "autocomplete"), "APPLICATION_COMMAND_OPTIONS_AUTOCOMPLETE", "Invalid")
    if choices is None:
        return
    if kind not in (3, 4, 10):
        errors.add((*path, "choices"), "APPLICATION_COMMAND_OPTIONS_CHOICES", "Not allowed")
        return
    if option.get("autocomplete") and choices:
        errors.add(
            (*path, "autocomplete"),
            "APPLICATION_COMMAND_OPTIONS_AUTOCOMPLETE_CHOICES",
            "Autocomplete cannot be set with choices",
        )
    for index, choice in enumerate(_check_list(errors, (*path, "choices"), choices, MAX_CHOICES)):
        check_choice(errors, (*path, "choices", index), choice, kind)


def check_choice(errors: FormErrors, path: tuple[str | int, ...], choice: Any, kind: int) -> None:
    """A choice of an option (kind 3 string, 4 integer, 10 number), registered or autocompleted."""
    if not isinstance(choice, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        return
    check_length(errors, (*path, "name"), choice.get("name"), 100, minimum=1, required=True)
    value = choice.get("value")
    if kind == 3:
        check_length(errors, (*path, "value"), value, 100, minimum=1, required=True)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        errors.add((*path, "value"), "NUMBER_TYPE_COERCE", f'Value "{value}" is not a number.')
    elif kind == 4 and not isinstance(value, int):
        errors.add((*path, "value"), "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')


def _command_size(command: Mapping[str, Any]) -> int:
    """Discord's size of a command: names, descriptions and choice values, all summed."""
    size = len(str(command.get("name", ""))) + len(str(command.get("description", "")))
    for option in command.get("options") or []:
        if isinstance(option, dict):
            size += _command_size(option)
            for choice in option.get("choices") or []:
                if isinstance(choice, dict):
                    size += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
    return size


# ----- records the tests inspect ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request (`files[n]`)."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One REST request: the route template matched ("" when none), payload and answer status."""

    method: str
    path: str
    route: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    headers: dict[str, str]
    status: int
    code: int | None  # the JSON error code of an error answer


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the bot posted: to a channel, as an interaction response or as a follow-up.

    `payload` is the request body as sent; the other fields are the message as Discord stored
    it (`pinged_user_ids` and `mention_everyone` apply allowed_mentions to the content)."""

    id: int
    channel_id: int
    via: str  # "channel", "interaction", "followup" or "original" (a deferral filled in)
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    files: list[UploadedFile]
    allowed_mentions: dict[str, Any] | None
    flags: int
    pinged_user_ids: list[int]
    mention_everyone: bool
    interaction_id: int | None
    payload: dict[str, Any]

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every button of the message, row by row flattened."""
        return [c for _, c in _walk_components(self.components, ()) if c.get("type") == 2]

    @property
    def custom_ids(self) -> list[str]:
        return [
            c["custom_id"] for _, c in _walk_components(self.components, ()) if "custom_id" in c
        ]


@dataclass(frozen=True, slots=True)
class MessageEdit:
    """An edit of a message: the request body and the message as it became."""

    message_id: int
    channel_id: int
    via: str  # "channel", "interaction" (UPDATE_MESSAGE), "original" or "followup"
    payload: dict[str, Any]
    message: dict[str, Any]

    @property
    def content(self) -> str:
        return str(self.message.get("content", ""))

    @property
    def components(self) -> list[dict[str, Any]]:
        return list(self.message.get("components", []))


@dataclass(frozen=True, slots=True)
class CommandSync:
    """One bulk overwrite of application commands (guild_id None: global)."""

    guild_id: int | None
    payload: list[dict[str, Any]]

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.payload]


@dataclass(frozen=True, slots=True)
class InteractionCall:
    """A request about one interaction: its callback, follow-ups, original-response calls."""

    interaction_id: int
    kind: str  # callback, followup, get_original, edit_original, delete_original, ...
    status: int
    code: int | None
    payload: Any

    @property
    def type(self) -> int | None:
        """The callback type (4 message, 5 deferral, ...) of a callback."""
        if self.kind == "callback" and isinstance(self.payload, dict):
            return self.payload.get("type")
        return None

    @property
    def data(self) -> dict[str, Any]:
        if self.kind == "callback" and isinstance(self.payload, dict):
            return self.payload.get("data") or {}
        return self.payload if isinstance(self.payload, dict) else {}

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class PushedInteraction:
    """An INTERACTION_CREATE the fake dispatched; `id` and `token` identify its answers."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GatewayPayload:
    """A payload the client sent over the gateway (connection counts from 1)."""

    connection: int
    op: int | None
    d: Any


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A dispatch (op 0) of a session: sequence number, event name and data."""

    session_id: str
    seq: int
    event: str
    text: str

    @property
    def data(self) -> Any:
        return json.loads(self.text)["d"]


@dataclass(slots=True)
class GatewayConnection:
    """One WebSocket connection to the gateway, from opening to close code."""

    number: int
    path: str
    query: dict[str, str]
    compress: str | None
    session_id: str | None = None
    resumed: bool = False
    close_code: int | None = None  # the server's when it closed, else the client's or 1006
    closed: bool = False


# ----- the world: guilds, channels, members -------------------------------------------------------


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


def permission_overwrite(
    target_id: int, *, allow: int = 0, deny: int = 0, member: bool = False
) -> dict[str, Any]:
    """A channel permission overwrite for a role (or a member, with member=True)."""
    return {
        "id": str(target_id),
        "type": 1 if member else 0,
        "allow": str(allow),
        "deny": str(deny),
    }


@dataclass(slots=True)
class _Role:
    id: int
    name: str
    permissions: int
    position: int
    bot_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": self.bot_id is not None,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass(slots=True)
class _Member:
    user_id: int
    roles: list[int]
    nick: str | None
    joined_at: str = field(default_factory=_now_iso)

    def to_json(self, user: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if user is not None:
            data["user"] = user
        return data


@dataclass(slots=True)
class _Channel:
    id: int
    type: int
    name: str | None
    guild_id: int | None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    overwrites: list[dict[str, Any]] = field(default_factory=list)
    recipient_id: int | None = None
    last_message_id: int | None = None

    def to_json(self, recipient: dict[str, Any] | None = None) -> dict[str, Any]:
        last = str(self.last_message_id) if self.last_message_id else None
        if self.type == DM:
            return {
                "id": str(self.id),
                "type": DM,
                "last_message_id": last,
                "flags": 0,
                "recipients": [recipient] if recipient else [],
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": copy.deepcopy(self.overwrites),
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "nsfw": False,
            "flags": 0,
        }
        if self.type in _TEXT_CHANNEL_TYPES:
            data.update(topic=self.topic, last_message_id=last, rate_limit_per_user=0)
        if self.type == GUILD_VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        if self.type in _THREAD_TYPES:
            # What Discord sends for every thread; discord.py's Thread requires these fields.
            data.update(
                owner_id=str(DEFAULT_OWNER_ID),
                message_count=0,
                member_count=0,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": _now_iso(),
                    "locked": False,
                },
            )
        return data


@dataclass(slots=True)
class _Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, _Role] = field(default_factory=dict)
    members: dict[int, _Member] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=_now_iso)


@dataclass(slots=True)
class _Interaction:
    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user_id: int
    name: str | None
    created: float
    message_id: int | None = None  # the message a component belongs to
    response_type: int | None = None
    original_id: int | None = None
    loading: bool = False
    followup_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Failure:
    method: str | None
    path: str
    status: int
    code: int | None
    retry_after: float
    is_global: bool
    remaining: int


@dataclass(slots=True)
class _Bucket:
    limit: int
    remaining: int
    reset_at: float


@dataclass(slots=True)
class _Call:
    """A REST request as the handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Callable[[_Call], Awaitable[Any]]
    auth: bool

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def bucket(self) -> str:
        return hashlib.sha1(self.name.encode()).hexdigest()[:16]


_NO_CONTENT = object()


# ----- the gateway connection ---------------------------------------------------------------------


class _ZlibStream:
    """zlib-stream: one deflate stream per connection, each payload ends in a sync flush."""

    def __init__(self, chunk_size: int | None) -> None:
        self._compressor = zlib.compressobj()
        self._chunk_size = chunk_size

    def frames(self, text: str) -> list[bytes]:
        data = self._compressor.compress(text.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if not self._chunk_size:
            return [data]
        # One payload over several frames: discord.py buffers frames until one ends with the
        # 00 00 ff ff flush marker, and only looks at frames of 4 bytes or more, so the marker
        # stays whole in the last frame.
        body, marker = data[:-4], data[-4:]
        frames = [body[i : i + self._chunk_size] for i in range(0, len(body), self._chunk_size)]
        return [*frames[:-1], frames[-1] + marker] if frames else [marker]


class _ZstdStream:
    """zstd-stream: one zstd stream per connection, each payload flushed as a complete block."""

    def __init__(self) -> None:
        try:
            zstandard = importlib.import_module("zstandard")
        except ImportError:
            zstd = importlib.import_module("compression.zstd")
            compressor = zstd.ZstdCompressor()
            self._compress = lambda data: compressor.compress(data, mode=compressor.FLUSH_BLOCK)
        else:
            stream = zstandard.ZstdCompressor().compressobj()
            flush_block = zstandard.COMPRESSOBJ_FLUSH_BLOCK
            self._compress = lambda data: stream.compress(data) + stream.flush(flush_block)

    def frames(self, text: str) -> list[bytes]:
        return [self._compress(text.encode())]


def _zstd_available() -> bool:
    for module in ("zstandard", "compression.zstd"):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return True
    return False


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


class _Connection:
    """A client's WebSocket: payloads go out through one queue, so compression and order hold."""

    def __init__(
        self,
        record: GatewayConnection,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        compressor: _ZlibStream | _ZstdStream | None,
    ) -> None:
        self.record = record
        self.ws = ws
        self.session: _Session | None = None
        self._transport = transport
        self._compressor = compressor
        self._outbox: asyncio.Queue[str | _Close] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.dead = False

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())

    def send(self, text: str) -> None:
        if not self.dead:
            self._outbox.put_nowait(text)

    def close(self, code: int, reason: str) -> None:
        """Closes with a close frame once everything queued before has gone out."""
        if not self.dead:
            self._outbox.put_nowait(_Close(code, reason))
            self.dead = True

    def abort(self) -> None:
        """Drops the TCP connection without a close frame: the client sees 1006."""
        self.dead = True
        if self._transport is not None:
            self._transport.abort()

    async def stop(self) -> None:
        self.dead = True
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        if self._writer is not None:
            try:
                await self._writer
            except asyncio.CancelledError:
                pass

    async def _write_loop(self) -> None:
        try:
            while True:
                item = await self._outbox.get()
                if isinstance(item, _Close):
                    self.record.close_code = item.code
                    await self.ws.close(code=item.code, message=item.reason.encode())
                    return
                if self._compressor is None:
                    await self.ws.send_str(item)
                    continue
                for frame in self._compressor.frames(item):
                    await self.ws.send_bytes(frame)
        except (ConnectionError, RuntimeError):
            pass  # the socket went away under us: the reader sees it and cleans up


@dataclass(slots=True)
class _Session:
    id: str
    intents: int
    shard: list[int] | None
    sequence: int = 0
    events: list[tuple[int, str]] = field(default_factory=list)
    connection: _Connection | None = None
    valid: bool = True


def _payload_text(op: int, d: Any, *, seq: int | None = None, event: str | None = None) -> str:
    return json.dumps({"op": op, "d": d, "s": seq, "t": event}, separators=(",", ":"))


# ----- the server ---------------------------------------------------------------------------------


class FakeDiscord(LoopbackServer, ChangeWaiter):
    """A Discord API and gateway for tests. Use `async with FakeDiscord() as discord_api:` and point
    discord.py at `api_base` and, through GET /gateway/bot, at `gateway_url`."""

    shutdown_timeout = 2.0

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        application_id: int = DEFAULT_APPLICATION_ID,
        bot_name: str = DEFAULT_BOT_NAME,
        heartbeat_interval_ms: int = DEFAULT_HEARTBEAT_INTERVAL_MS,
        interaction_window: float = DEFAULT_INTERACTION_WINDOW,
        token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        bucket_limit: int = 50,
        bucket_window: float = 1.0,
        zlib_chunk_size: int | None = None,
    ) -> None:
        self.token = token
        self.application_id = application_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_window = interaction_window
        self.token_lifetime = token_lifetime
        self.bucket_limit = bucket_limit
        self.bucket_window = bucket_window
        self.zlib_chunk_size = zlib_chunk_size
        self.bot_user: dict[str, Any] = self._user_json(application_id, bot_name, bot=True)
        self.owner_user: dict[str, Any] = self._user_json(DEFAULT_OWNER_ID, "pricebot-owner")

        self.requests: list[RecordedRequest] = []
        self.messages: list[SentMessage] = []
        self.edits: list[MessageEdit] = []
        self.deleted_message_ids: list[int] = []
        self.command_syncs: list[CommandSync] = []
        self.interaction_calls: list[InteractionCall] = []
        self.gateway_received: list[GatewayPayload] = []
        self.connections: list[GatewayConnection] = []
        self.dispatches: list[Dispatch] = []
        self.typing_channel_ids: list[int] = []

        self._users: dict[int, dict[str, Any]] = {
            application_id: self.bot_user,
            DEFAULT_OWNER_ID: self.owner_user,
        }
        self._guilds: dict[int, _Guild] = {}
        self._channels: dict[int, _Channel] = {}
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._closed_dms: set[int] = set()
        self._messages: dict[int, dict[str, Any]] = {}
        self._attachments: dict[int, bytes] = {}
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._failures: list[_Failure] = []
        self._buckets: dict[str, _Bucket] = {}
        self._rejected_intents = 0
        self._session: _Session | None = None
        self._live: set[_Connection] = set()
        self._gateway_open = asyncio.Event()
        self._gateway_open.set()
        self._session_starts = 1000
        self._last_snowflake = 0
        self._increment = itertools.count()
        self._changed = asyncio.Event()
        self._routes = self._build_routes()

    # ----- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """For `discord.http.Route.BASE`."""
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        """What GET /gateway/bot answers; discord.py adds ?v=10&encoding=json&compress=..."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """READY's resume_gateway_url: another path, so tests can tell a RESUME went there."""
        return f"ws://127.0.0.1:{self.port}/gateway/resume"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=4 * MAX_UPLOAD_BYTES)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/resume", self._gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", f"/api/v{API_VERSION}/{{tail:.*}}", self._rest)
        return app

    async def _before_stop(self) -> None:
        self._gateway_open.set()  # let held connections through so they can close
        for connection in list(self._live):
            connection.close(1001, "Server shutting down.")

    # ----- test helpers: the world outside the bot ---------------------------------------------

    def add_user(
        self, user_id: int, username: str | None = None, *, global_name: str | None = None
    ) -> dict[str, Any]:
        """Makes a user known (kept if known); returns its JSON."""
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = self._user_json(user_id, username or f"user{user_id}")
        if username:
            user["username"] = username
        if global_name:
            user["global_name"] = global_name
        return user

    def add_guild(
        self,
        guild_id: int,
        name: str = "Pricebot Test Guild",
        *,
        owner_id: int = DEFAULT_OWNER_ID,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
    ) -> None:
        """A guild the bot is in, with @everyone (id = guild id), the bot's managed role and the
        owner. Sent in GUILD_CREATE after READY, or at once when the bot is already connected."""
        if guild_id in self._guilds:
            raise ValueError(f"guild {guild_id} exists")
        guild = self._guilds[guild_id] = _Guild(guild_id, name, owner_id)
        guild.roles[guild_id] = _Role(guild_id, "@everyone", everyone_permissions, 0)
        bot_role = _Role(self._snowflake(), self.bot_user["username"], bot_permissions, 1)
        bot_role.bot_id = self.application_id
        guild.roles[bot_role.id] = bot_role
        guild.members[self.application_id] = _Member(self.application_id, [bot_role.id], None)
        self.add_user(owner_id)
        guild.members[owner_id] = _Member(owner_id, [], None)
        self._dispatch(
            "GUILD_CREATE", lambda intents: self._guild_create(guild, intents), Intent.GUILDS
        )

    def add_role(
        self, guild_id: int, role_id: int, name: str, permissions: int = 0, *, position: int = 1
    ) -> None:
        guild = self._guild(guild_id)
        role = guild.roles[role_id] = _Role(role_id, name, permissions, position)
        data = {"guild_id": str(guild_id), "role": role.to_json()}
        self._dispatch("GUILD_ROLE_CREATE", data, Intent.GUILDS)

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str = "general",
        *,
        channel_type: int = GUILD_TEXT,
        topic: str | None = None,
        parent_id: int | None = None,
        overwrites: Sequence[dict[str, Any]] = (),
    ) -> None:
        """A guild channel; `overwrites` from permission_overwrite()."""
        guild = self._guild(guild_id)
        if channel_id in self._channels:
            raise ValueError(f"channel {channel_id} exists")
        channel = _Channel(
            channel_id,
            channel_type,
            name,
            guild_id,
            position=len(guild.channel_ids),
            topic=topic,
            parent_id=parent_id,
            overwrites=[dict(o) for o in overwrites],
        )
        self._channels[channel_id] = channel
        guild.channel_ids.append(channel_id)
        data = {**channel.to_json(), "guild_id": str(guild_id)}
        self._dispatch("CHANNEL_CREATE", data, Intent.GUILDS)

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        username: str | None = None,
        *,
        roles: Sequence[int] = (),
        nick: str | None = None,
    ) -> None:
        guild = self._guild(guild_id)
        user = self.add_user(user_id, username)
        if user_id in guild.members:
            guild.members[user_id].roles = list(roles) or guild.members[user_id].roles
            return
        member = guild.members[user_id] = _Member(user_id, list(roles), nick)
        data = {**member.to_json(user), "guild_id": str(guild_id)}
        self._dispatch("GUILD_MEMBER_ADD", data, Intent.GUILD_MEMBERS)

    def dm_channel_id(self, user_id: int) -> int:
        """The DM channel between the bot and a user, opened if needed."""
        self.add_user(user_id)
        channel_id = self._dm_channels.get(user_id)
        if channel_id is None:
            channel_id = self._snowflake()
            self._open_dm(user_id, channel_id)
        return channel_id

    def close_dms(self, user_id: int) -> None:
        """The user blocks DMs from the bot: sends get 403 code 50007 from now on."""
        self._closed_dms.add(user_id)

    def open_dms(self, user_id: int) -> None:
        self._closed_dms.discard(user_id)

    def permissions(self, channel_id: int, user_id: int) -> int:
        """A member's permissions in a guild channel, as Discord computes them."""
        channel = self._channel(channel_id)
        if channel.guild_id is None:
            return DEFAULT_EVERYONE_PERMISSIONS
        return self._permissions(self._guilds[channel.guild_id], user_id, channel)

    def seed_bot_message(
        self,
        channel_id: int,
        content: str = "",
        *,
        embeds: Sequence[dict[str, Any]] = (),
        components: Sequence[dict[str, Any]] = (),
    ) -> int:
        """A message the bot posted before the test (say, before a restart); returns its id."""
        channel = self._channel(channel_id)
        body = {"content": content, "embeds": list(embeds), "components": list(components)}
        errors = FormErrors()
        check_message_body(errors, body)
        errors.raise_if_any()
        message = self._new_message(channel, self.bot_user, body, [], None, dispatch=False)
        return int(message["id"])

    def push_message(
        self,
        channel_id: int,
        author_id: int,
        content: str,
        guild_id: int | None = None,
        *,
        username: str | None = None,
        reply_to: int | None = None,
        embeds: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A user writes in a channel (a guild channel, or a DM channel: one of dm_channel_id()'s
        or a new id, which becomes that user's DM channel). Dispatches MESSAGE_CREATE and
        returns it with full content (what a client with MESSAGE_CONTENT sees)."""
        self._require_session()
        author = self.add_user(author_id, username)
        channel = self._channels.get(channel_id)
        if channel is None:
            if guild_id is not None:
                raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
            if author_id in self._dm_channels:
                raise ValueError(f"user {author_id} has DM channel {self._dm_channels[author_id]}")
            channel = self._open_dm(author_id, channel_id)
        if guild_id is not None and channel.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        if channel.type == DM and channel.recipient_id != author_id:
            raise ValueError(f"channel {channel_id} is the DM channel of {channel.recipient_id}")
        if channel.guild_id is not None and author_id not in self._guilds[channel.guild_id].members:
            self.add_member(channel.guild_id, author_id)
        body: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        if reply_to is not None:
            referenced = self._message(channel, reply_to)
            body["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
            }
            body["referenced_message"] = referenced
        message = self._new_message(channel, author, body, [], None, dispatch=False)
        self._dispatch_message("MESSAGE_CREATE", channel, message)
        return self._gateway_message(channel, message)

    def push_slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | None,
        user_id: int,
        channel_id: int,
        guild_id: int | None = None,
        *,
        locale: str = "en-US",
    ) -> PushedInteraction:
        """A user runs a registered slash command; `name` may hold the subcommand path
        ("alerts remove"). Option values are plain values (ids for users/channels/roles),
        typed and resolved from the registered definition."""
        return self._push_command(
            APPLICATION_COMMAND, name, options or {}, None, user_id, channel_id, guild_id, locale
        )

    def push_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        user_id: int,
        channel_id: int,
        guild_id: int | None = None,
        *,
        locale: str = "en-US",
    ) -> PushedInteraction:
        """A user types into option `focused` (its value is the raw text so far) of a registered
        command whose option has autocomplete."""
        return self._push_command(
            AUTOCOMPLETE, name, options, focused, user_id, channel_id, guild_id, locale
        )

    def push_component(
        self,
        custom_id: str,
        message_id: int,
        user_id: int,
        channel_id: int,
        guild_id: int | None = None,
        *,
        values: Sequence[str] | None = None,
        locale: str = "en-US",
    ) -> PushedInteraction:
        """A user presses a button (or picks `values` in a select menu) of a bot message."""
        channel = self._interaction_channel(channel_id, guild_id)
        message = self._message(channel, message_id)
        if message["author"]["id"] != self.bot_user["id"]:
            raise ValueError(f"message {message_id} is not the bot's")
        found = next(
            (
                c
                for _, c in _walk_components(message["components"], ())
                if c.get("custom_id") == custom_id
            ),
            None,
        )
        if found is None:
            raise ValueError(f"message {message_id} has no component with custom_id {custom_id!r}")
        if found.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled: users cannot press it")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": found["type"]}
        if "id" in found:
            data["id"] = found["id"]
        if found["type"] != 2:
            data["values"] = list(values or [])
        pushed = self._push_interaction(
            MESSAGE_COMPONENT, data, user_id, channel, locale, None, message=message
        )
        self._interactions[pushed.id].message_id = message_id
        return pushed

    def fail_next(
        self,
        route: str,
        status: int = 429,
        *,
        retry_after: float = 0.3,
        code: int | None = None,
        times: int = 1,
        is_global: bool = False,
    ) -> None:
        """The next `times` requests to `route` fail with `status`.

        route: "POST /channels/{channel_id}/messages" (a template), "POST /channels/42/messages"
        (a path) or either without the method. 429 answers carry Retry-After and
        {"message": "You are being rate limited.", "retry_after": ..., "global": ...}; 403 is
        code 50001 Missing Access unless `code` says (50007 Cannot send messages to this user,
        50013 Missing Permissions); 404 is 10003 Unknown Channel unless `code` says; 5xx have
        code 0 (discord.py retries them after 1 s, 3 s, ...).
        """
        method, _, path = route.strip().rpartition(" ")
        path = path.removeprefix(f"/api/v{API_VERSION}")
        self._failures.append(
            _Failure(method.upper() or None, path, status, code, retry_after, is_global, times)
        )

    def reject_intents(self, intents: int) -> None:
        """Privileged intents not enabled in the developer portal: IDENTIFY asking for any of
        them is closed with 4014 "Disallowed intent(s)."."""
        unknown = int(intents) & ~int(PRIVILEGED_INTENTS)
        if unknown:
            raise ValueError(f"only privileged intents can be disabled, not {unknown:#x}")
        self._rejected_intents |= int(intents)

    def drop_connection(self, code: int | None = None) -> None:
        """The gateway connection breaks: without a close frame (the client sees 1006), or with
        close `code` (4000-4003, 4005-4009 make discord.py RESUME). Dispatches from now on are
        kept for the RESUME."""
        connection = self._current_connection()
        if self._session is not None and self._session.connection is connection:
            self._session.connection = None
        if code is None:
            connection.abort()
        else:
            connection.close(code, "Connection dropped by the test.")
        self._signal()

    def invalidate_session(self, *, resumable: bool = False) -> None:
        """op 9 INVALID_SESSION; unless resumable, the session is gone and RESUME fails too."""
        session = self._require_session()
        if not resumable:
            session.valid = False
        if session.connection is not None:
            session.connection.send(_payload_text(OP_INVALID_SESSION, resumable))

    def request_reconnect(self) -> None:
        """op 7 RECONNECT: the client closes and RESUMEs."""
        self._current_connection().send(_payload_text(OP_RECONNECT, None))

    def hold_gateway(self) -> None:
        """New gateway connections wait (no HELLO) until release_gateway(): an outage."""
        self._gateway_open.clear()

    def release_gateway(self) -> None:
        self._gateway_open.set()

    # ----- test helpers: what the bot did ------------------------------------------------------

    def sent(self, channel_id: int) -> list[SentMessage]:
        """Messages the bot posted to a channel, in order (any route)."""
        return [m for m in self.messages if m.channel_id == channel_id]

    def message(self, channel_id: int, message_id: int) -> dict[str, Any]:
        """A message's current state (after edits), as Discord would return it."""
        return self._message(self._channel(channel_id), message_id)

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """What a user sees in a channel now: every message not deleted, oldest first."""
        return [m for m in self._messages.values() if m["channel_id"] == str(channel_id)]

    def requests_to(self, route: str) -> list[RecordedRequest]:
        """Requests to "METHOD /template" (or "METHOD /path", or either without the method)."""
        method, _, path = route.strip().rpartition(" ")
        return [
            r
            for r in self.requests
            if (not method or r.method == method.upper())
            and path in (r.route.partition(" ")[2], r.path)
        ]

    def interaction_log(self, interaction_id: int) -> list[InteractionCall]:
        """Every request about one interaction, in order, failed ones included."""
        return [c for c in self.interaction_calls if c.interaction_id == interaction_id]

    def interaction_response(self, interaction_id: int) -> InteractionCall | None:
        """The accepted callback (the initial response) of an interaction, if any."""
        return next(
            (c for c in self.interaction_log(interaction_id) if c.kind == "callback" and c.ok),
            None,
        )

    def followups(self, interaction_id: int) -> list[SentMessage]:
        return [
            m for m in self.messages if m.interaction_id == interaction_id and m.via == "followup"
        ]

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The application commands registered now (global, or a guild's)."""
        return copy.deepcopy(self._commands.get(guild_id, []))

    @property
    def identifies(self) -> list[dict[str, Any]]:
        return [p.d for p in self.gateway_received if p.op == OP_IDENTIFY]

    @property
    def resumes(self) -> list[dict[str, Any]]:
        return [p.d for p in self.gateway_received if p.op == OP_RESUME]

    @property
    def intents(self) -> Intent | None:
        """The intents of the last IDENTIFY."""
        return Intent(self.identifies[-1]["intents"]) if self.identifies else None

    @property
    def session_id(self) -> str | None:
        return self._session.id if self._session is not None and self._session.valid else None

    @property
    def sequence(self) -> int:
        """The last sequence number dispatched in the current session."""
        return self._session.sequence if self._session is not None else 0

    @property
    def connected(self) -> bool:
        """The current session has a live connection."""
        return self._session is not None and self._session.connection is not None

    def dispatched(self, event: str | None = None) -> list[Dispatch]:
        return [d for d in self.dispatches if event is None or d.event == event]

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout keeps test code short
    ) -> SentMessage:
        """The first message the bot posted to `channel_id` matching `predicate`."""

        def find() -> SentMessage | None:
            return next(
                (m for m in self.sent(channel_id) if predicate is None or predicate(m)), None
            )

        try:
            return await self.wait_until(find, timeout)
        except AssertionError:
            contents = [m.content[:80] for m in self.sent(channel_id)]
            raise AssertionError(
                f"no matching message to channel {channel_id} within {timeout}s; sent: {contents}"
            ) from None

    async def wait_for_session(self, timeout: float = 5.0) -> str:  # noqa: ASYNC109
        """The session id once the bot has identified and is connected."""
        return await self.wait_until(lambda: self.connected and self.session_id, timeout)

    # ----- state helpers ------------------------------------------------------------------------

    def _snowflake(self) -> int:
        """A fresh id carrying the current time, as discord.py reads created_at from ids."""
        milliseconds = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (milliseconds << 22) | (1 << 17) | (next(self._increment) & 0xFFF)
        self._last_snowflake = max(value, self._last_snowflake + 1)
        return self._last_snowflake

    @staticmethod
    def _user_json(user_id: int, username: str, *, bot: bool = False) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": str(user_id),
            "username": username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "public_flags": 0,
        }
        if bot:
            user["bot"] = True
        return user

    def _guild(self, guild_id: int) -> _Guild:
        guild = self._guilds.get(guild_id)
        if guild is None:
            raise ValueError(f"no guild {guild_id}: add_guild() it first")
        return guild

    def _channel(self, channel_id: int) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise ValueError(f"no channel {channel_id}")
        return channel

    def _message(self, channel: _Channel, message_id: int) -> dict[str, Any]:
        message = self._messages.get(message_id)
        if message is None or message["channel_id"] != str(channel.id):
            raise ValueError(f"no message {message_id} in channel {channel.id}")
        return message

    def _open_dm(self, user_id: int, channel_id: int) -> _Channel:
        channel = _Channel(channel_id, DM, None, None, recipient_id=user_id)
        self._channels[channel_id] = channel
        self._dm_channels[user_id] = channel_id
        return channel

    def _require_session(self) -> _Session:
        if self._session is None or not self._session.valid:
            raise RuntimeError("no gateway session: the bot has not identified yet")
        return self._session

    def _current_connection(self) -> _Connection:
        session = self._session
        if session is not None and session.connection is not None:
            return session.connection
        live = [c for c in self._live if not c.dead]
        if not live:
            raise RuntimeError("no gateway connection")
        return max(live, key=lambda c: c.record.number)

    def _permissions(self, guild: _Guild, user_id: int, channel: _Channel | None) -> int:
        """Discord's algorithm: owner, base role permissions, administrator, then overwrites
        (@everyone, roles together, the member), and no VIEW_CHANNEL means nothing."""
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member = guild.members.get(user_id)
        role_ids = member.roles if member else []
        permissions = guild.roles[guild.id].permissions
        for role_id in role_ids:
            if role_id in guild.roles:
                permissions |= guild.roles[role_id].permissions
        if permissions & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel is None:
            return permissions
        by_target = {(int(o["id"]), o["type"]): o for o in channel.overwrites}

        def apply(overwrite: dict[str, Any] | None, current: int) -> int:
            if overwrite is None:
                return current
            return (current & ~int(overwrite["deny"])) | int(overwrite["allow"])

        permissions = apply(by_target.get((guild.id, 0)), permissions)
        allow = deny = 0
        for role_id in role_ids:
            overwrite = by_target.get((role_id, 0))
            if overwrite is not None:
                allow |= int(overwrite["allow"])
                deny |= int(overwrite["deny"])
        permissions = (permissions & ~deny) | allow
        permissions = apply(by_target.get((user_id, 1)), permissions)
        if not permissions & Permission.VIEW_CHANNEL:
            return 0
        return permissions

    # ----- messages -----------------------------------------------------------------------------

    def _new_message(
        self,
        channel: _Channel,
        author: dict[str, Any],
        body: Mapping[str, Any],
        files: list[UploadedFile],
        interaction: _Interaction | None,
        *,
        flags: int = 0,
        dispatch: bool = True,
    ) -> dict[str, Any]:
        """Stores a message (body already checked) and announces it on the gateway."""
        message_id = self._snowflake()
        message: dict[str, Any] = {
            "id": str(message_id),
            "type": 0,
            "channel_id": str(channel.id),
            "author": author,
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachments_for(channel, body, files, []),
            "embeds": self._normalized_embeds(body.get("embeds") or []),
            "components": self._normalized_components(body.get("components") or []),
            "pinned": False,
            "flags": flags | ((body.get("flags") or 0) & ~EPHEMERAL),
        }
        for key in ("nonce", "message_reference", "referenced_message", "sticker_items", "poll"):
            if body.get(key) is not None:
                message[key] = body[key]
        if "message_reference" in message:
            message["type"] = 19  # REPLY
        if interaction is not None:
            self._mark_interaction_message(message, interaction)
        self._apply_mentions(message, channel, body.get("allowed_mentions"))
        self._messages[message_id] = message
        channel.last_message_id = message_id
        if dispatch and not message["flags"] & EPHEMERAL:
            self._dispatch_message("MESSAGE_CREATE", channel, message)
        self._signal()
        return message

    def _mark_interaction_message(self, message: dict[str, Any], interaction: _Interaction) -> None:
        if interaction.type == APPLICATION_COMMAND:
            message["type"] = 20  # CHAT_INPUT_COMMAND
        message["webhook_id"] = str(self.application_id)
        message["application_id"] = str(self.application_id)
        user = self._users[interaction.user_id]
        message["interaction_metadata"] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": user,
            "authorizing_integration_owners": self._integration_owners(interaction.guild_id),
        }
        if interaction.name:
            message["interaction"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "name": interaction.name,
                "user": user,
            }

    def _attachments_for(
        self,
        channel: _Channel,
        body: Mapping[str, Any],
        files: list[UploadedFile],
        existing: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Kept attachments (listed by id in body["attachments"]) plus one per uploaded file."""
        listed = body.get("attachments")
        described = {}
        kept = existing
        if isinstance(listed, list):
            existing_ids = {a["id"] for a in existing}
            kept = [a for a in existing if a["id"] in {str(x.get("id")) for x in listed}]
            described = {
                str(x.get("id")): x
                for x in listed
                if isinstance(x, dict) and str(x.get("id")) not in existing_ids
            }
        result = list(kept)
        for index, upload in enumerate(files):
            attachment_id = self._snowflake()
            self._attachments[attachment_id] = upload.data
            description = described.get(str(index), {})
            filename = description.get("filename") or upload.filename or f"file{index}"
            url = f"{self.base_url}/attachments/{channel.id}/{attachment_id}/{filename}"
            attachment: dict[str, Any] = {
                "id": str(attachment_id),
                "filename": filename,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
                "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
            }
            if description.get("description"):
                attachment["description"] = description["description"]
            result.append(attachment)
        return result

    @staticmethod
    def _normalized_embeds(embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"type": "rich", **copy.deepcopy(e)} for e in embeds]

    @staticmethod
    def _normalized_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Discord numbers every component (`id`) when the sender did not."""
        components = copy.deepcopy(components)
        numbers = itertools.count(1)
        for _, component in _walk_components(components, ()):
            component.setdefault("id", next(numbers))
        return components

    def _apply_mentions(
        self,
        message: dict[str, Any],
        channel: _Channel,
        allowed: Mapping[str, Any] | None,
    ) -> None:
        """Who the content pings: without allowed_mentions, everyone and everything named."""
        content = message["content"]
        if allowed is None:
            parse = {"users", "roles", "everyone"}
            listed_users: set[str] = set()
            listed_roles: set[str] = set()
        else:
            parse = set(allowed.get("parse") or [])
            listed_users = {str(u) for u in allowed.get("users") or []}
            listed_roles = {str(r) for r in allowed.get("roles") or []}
        guild = self._guilds.get(channel.guild_id) if channel.guild_id else None
        mentions = []
        for user_id in dict.fromkeys(_USER_MENTION.findall(content)):
            if ("users" in parse or user_id in listed_users) and int(user_id) in self._users:
                mention = dict(self._users[int(user_id)])
                if guild is not None and int(user_id) in guild.members:
                    mention["member"] = guild.members[int(user_id)].to_json()
                mentions.append(mention)
        message["mentions"] = mentions
        message["mention_roles"] = [
            role_id
            for role_id in dict.fromkeys(_ROLE_MENTION.findall(content))
            if ("roles" in parse or role_id in listed_roles)
            and guild is not None
            and int(role_id) in guild.roles
        ]
        message["mention_everyone"] = "everyone" in parse and (
            "@everyone" in content or "@here" in content
        )

    def _record_sent(
        self,
        message: dict[str, Any],
        via: str,
        body: Mapping[str, Any],
        files: list[UploadedFile],
        interaction: _Interaction | None,
    ) -> None:
        self.messages.append(
            SentMessage(
                id=int(message["id"]),
                channel_id=int(message["channel_id"]),
                via=via,
                content=message["content"],
                embeds=copy.deepcopy(message["embeds"]),
                components=copy.deepcopy(message["components"]),
                attachments=copy.deepcopy(message["attachments"]),
                files=list(files),
                allowed_mentions=copy.deepcopy(body.get("allowed_mentions")),
                flags=message["flags"],
                pinged_user_ids=[int(m["id"]) for m in message["mentions"]],
                mention_everyone=message["mention_everyone"],
                interaction_id=interaction.id if interaction else None,
                payload=copy.deepcopy(dict(body)),
            )
        )
        self._signal()

    def _edit_message(
        self,
        channel: _Channel,
        message: dict[str, Any],
        body: Mapping[str, Any],
        files: list[UploadedFile],
        via: str,
        *,
        clear_flags: int = 0,
    ) -> dict[str, Any]:
        """Applies an edit (checked first, all or nothing) and records it."""
        errors = FormErrors()
        check_message_body(errors, body)
        errors.raise_if_any()
        edited = copy.deepcopy(message)
        edited["flags"] &= ~clear_flags
        if "content" in body:
            edited["content"] = body["content"] or ""
        if "embeds" in body:
            edited["embeds"] = self._normalized_embeds(body["embeds"] or [])
        if "components" in body:
            edited["components"] = self._normalized_components(body["components"] or [])
        if body.get("flags") is not None:
            # Only SUPPRESS_EMBEDS (and turning components v2 on) can change after sending.
            changeable = SUPPRESS_EMBEDS | IS_COMPONENTS_V2
            edited["flags"] = (edited["flags"] & ~changeable) | (body["flags"] & changeable)
        if "attachments" in body or files:
            edited["attachments"] = self._attachments_for(
                channel, body, files, edited["attachments"]
            )
        if message_is_empty(edited):
            raise error(400, 50006)
        if "content" in body or "allowed_mentions" in body:
            self._apply_mentions(edited, channel, body.get("allowed_mentions"))
        edited["edited_timestamp"] = _now_iso()
        message.clear()
        message.update(edited)
        self.edits.append(
            MessageEdit(int(message["id"]), channel.id, via, dict(body), copy.deepcopy(message))
        )
        if not message["flags"] & EPHEMERAL:
            self._dispatch_message("MESSAGE_UPDATE", channel, message)
        self._signal()
        return message

    def _check_can_send(self, channel: _Channel, files: list[Any]) -> None:
        """403s as Discord gives them: closed DMs, no access, no permission to send or attach."""
        if channel.type == DM:
            if channel.recipient_id in self._closed_dms:
                raise error(403, 50007)
            return
        if channel.type not in _TEXT_CHANNEL_TYPES:
            raise invalid_form(("channel_id",), "CHANNEL_TYPE_INVALID", "Not a text channel")
        assert channel.guild_id is not None
        permissions = self._permissions(
            self._guilds[channel.guild_id], self.application_id, channel
        )
        if not permissions & Permission.VIEW_CHANNEL:
            raise error(403, 50001)
        if not permissions & Permission.SEND_MESSAGES:
            raise error(403, 50013)
        if files and not permissions & Permission.ATTACH_FILES:
            raise error(403, 50013)

    def _strip_embeds_without_permission(
        self, channel: _Channel, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Without EMBED_LINKS Discord drops the embeds silently rather than failing."""
        if channel.guild_id is None or not body.get("embeds"):
            return body
        guild = self._guilds[channel.guild_id]
        if self._permissions(guild, self.application_id, channel) & Permission.EMBED_LINKS:
            return body
        return {**body, "embeds": []}

    # ----- gateway dispatch ---------------------------------------------------------------------

    def _dispatch(
        self,
        event: str,
        data: dict[str, Any] | Callable[[int], dict[str, Any]],
        intent: int = 0,
    ) -> None:
        """Sends a dispatch to the session if its intents ask for it; `data` may depend on the
        intents (a callable)."""
        session = self._session
        if session is None or not session.valid:
            return
        if intent and not session.intents & intent:
            return
        self._emit(session, event, data(session.intents) if callable(data) else data)

    def _emit(self, session: _Session, event: str, data: Any) -> None:
        session.sequence += 1
        # Serialised now: later edits of the stored message must not change what was sent.
        text = _payload_text(OP_DISPATCH, data, seq=session.sequence, event=event)
        session.events.append((session.sequence, text))
        self.dispatches.append(Dispatch(session.id, session.sequence, event, text))
        if session.connection is not None:
            session.connection.send(text)
        self._signal()

    def _dispatch_message(self, event: str, channel: _Channel, message: dict[str, Any]) -> None:
        intent = Intent.DIRECT_MESSAGES if channel.guild_id is None else Intent.GUILD_MESSAGES
        self._dispatch(
            event, lambda intents: self._gateway_message(channel, message, intents), intent
        )

    def _gateway_message(
        self, channel: _Channel, message: dict[str, Any], intents: int = _ALL_INTENTS
    ) -> dict[str, Any]:
        """MESSAGE_CREATE's data: guild_id and member added, content withheld from a client
        without MESSAGE_CONTENT unless it is a DM, the bot's own or mentions the bot."""
        data = copy.deepcopy(message)
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
            member = self._guilds[channel.guild_id].members.get(int(message["author"]["id"]))
            if member is not None and "webhook_id" not in message:
                data["member"] = member.to_json()
        bot_id = self.bot_user["id"]
        sees_content = (
            intents & Intent.MESSAGE_CONTENT
            or channel.guild_id is None
            or message["author"]["id"] == bot_id
            or any(m["id"] == bot_id for m in message["mentions"])
        )
        if not sees_content:
            data.update(content="", embeds=[], attachments=[], components=[])
            data.pop("poll", None)
        return data

    def _guild_create(self, guild: _Guild, intents: int) -> dict[str, Any]:
        channels = [self._channels[c] for c in guild.channel_ids]
        # Without GUILD_PRESENCES, Discord lists only the bot (and members in voice).
        shown = [
            m
            for m in guild.members.values()
            if intents & Intent.GUILD_PRESENCES or m.user_id == self.application_id
        ]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "application_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": [],
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "incidents_data": None,
            "roles": [r.to_json() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "channels": [c.to_json() for c in channels],
            "threads": [],
            "members": [m.to_json(self._users[m.user_id]) for m in shown],
            "member_count": len(guild.members),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": guild.joined_at,
            "large": len(guild.members) >= 250,
            "unavailable": False,
            "lazy": True,
        }

    # ----- interactions -------------------------------------------------------------------------

    def _interaction_channel(self, channel_id: int, guild_id: int | None) -> _Channel:
        self._require_session()
        channel = self._channel(channel_id)
        if guild_id is not None and channel.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        return channel

    def _registered_command(self, name: str, guild_id: int | None) -> dict[str, Any]:
        """The chat input command a user can see there: the guild's first, then global."""
        scopes = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self._commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command
        raise ValueError(f"no slash command {name!r} is registered: sync the command tree first")

    @staticmethod
    def _subcommand(
        command: dict[str, Any], path: list[str]
    ) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], list[dict[str, Any]]]]:
        """The option definitions of the (sub)command at `path` and a function nesting typed
        options under the subcommand group/subcommand entries Discord sends."""
        definitions: list[dict[str, Any]] = command.get("options") or []
        chain: list[dict[str, Any]] = []
        for part in path[1:]:
            found = next(
                (o for o in definitions if o["name"] == part and o["type"] in (1, 2)), None
            )
            if found is None:
                raise ValueError(f"{' '.join(path)!r}: no subcommand {part!r}")
            chain.append(found)
            definitions = found.get("options") or []
        if any(o["type"] in (1, 2) for o in definitions):
            raise ValueError(f"{' '.join(path)!r} is a group: name a subcommand")

        def wrap(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for group in reversed(chain):
                options = [{"type": group["type"], "name": group["name"], "options": options}]
            return options

        return definitions, wrap

    def _typed_options(
        self,
        definitions: list[dict[str, Any]],
        values: dict[str, Any],
        channel: _Channel,
        resolved: dict[str, dict[str, Any]],
        *,
        focused: str | None,
        user_id: int,
    ) -> list[dict[str, Any]]:
        """Plain values -> typed options, checked the way Discord's client checks them."""
        by_name = {d["name"]: d for d in definitions}
        unknown = set(values) - set(by_name)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; the command has {list(by_name)}")
        if focused is not None and not by_name.get(focused, {}).get("autocomplete"):
            raise ValueError(f"option {focused!r} has no autocomplete")
        typed = []
        for definition in definitions:
            name = definition["name"]
            if name not in values:
                if definition.get("required") and focused is None:
                    raise ValueError(f"required option {name!r} is missing")
                continue
            option: dict[str, Any] = {"name": name, "type": definition["type"]}
            if name == focused:
                option["value"] = str(values[name])
                option["focused"] = True
            else:
                option["value"] = self._option_value(
                    definition, values[name], channel, resolved, user_id
                )
            typed.append(option)
        return typed

    def _option_value(
        self,
        definition: dict[str, Any],
        value: Any,
        channel: _Channel,
        resolved: dict[str, dict[str, Any]],
        user_id: int,
    ) -> Any:
        kind, name = definition["type"], definition["name"]
        choices = definition.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"{value!r} is not a choice of option {name!r}")
        if kind == 3:
            text = str(value)
            low, high = definition.get("min_length", 0), definition.get("max_length", 6000)
            if not low <= len(text) <= high:
                raise ValueError(f"option {name!r} takes {low}..{high} characters")
            return text
        if kind in (4, 10):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"option {name!r} takes a number")
            if kind == 4 and not isinstance(value, int):
                raise ValueError(f"option {name!r} takes an integer")
            low = definition.get("min_value", -math.inf)
            high = definition.get("max_value", math.inf)
            if not low <= value <= high:
                raise ValueError(f"option {name!r} takes {low}..{high}")
            return value
        if kind == 5:
            return bool(value)
        if kind in (6, 7, 8, 9):
            self._resolve(kind, int(value), channel, resolved, user_id)
            return str(value)
        raise ValueError(f"option type {kind} ({name!r}) is not supported by the fake")

    def _resolve(
        self,
        kind: int,
        target: int,
        channel: _Channel,
        resolved: dict[str, dict[str, Any]],
        user_id: int,
    ) -> None:
        """Fills interaction data's `resolved` for a user, channel, role or mentionable option;
        a channel's permissions are the invoking user's there."""
        guild = self._guilds.get(channel.guild_id) if channel.guild_id else None
        if kind in (6, 9) and target in self._users:
            resolved.setdefault("users", {})[str(target)] = self._users[target]
            if guild is not None and target in guild.members:
                member = guild.members[target].to_json()
                member["permissions"] = str(self._permissions(guild, target, channel))
                resolved.setdefault("members", {})[str(target)] = member
            return
        if kind in (8, 9) and guild is not None and target in guild.roles:
            resolved.setdefault("roles", {})[str(target)] = guild.roles[target].to_json()
            return
        if kind == 7 and target in self._channels:
            found = self._channels[target]
            data = found.to_json()
            if found.guild_id is not None:
                data["guild_id"] = str(found.guild_id)
                data["permissions"] = str(
                    self._permissions(self._guilds[found.guild_id], user_id, found)
                )
            else:
                data.update(name="", permissions=str(DEFAULT_EVERYONE_PERMISSIONS))
            resolved.setdefault("channels", {})[str(target)] = data
            return
        raise ValueError(f"nothing to resolve for id {target} (option type {kind})")

    def _integration_owners(self, guild_id: int | None) -> dict[str, str]:
        return {"0": str(guild_id) if guild_id is not None else "0"}

    def _push_command(
        self,
        kind: int,
        name: str,
        options: Mapping[str, Any],
        focused: str | None,
        user_id: int,
        channel_id: int,
        guild_id: int | None,
        locale: str,
    ) -> PushedInteraction:
        channel = self._interaction_channel(channel_id, guild_id)
        path = name.split()
        command = self._registered_command(path[0], channel.guild_id)
        definitions, wrap = self._subcommand(command, path)
        resolved: dict[str, dict[str, Any]] = {}
        typed = self._typed_options(
            definitions, dict(options), channel, resolved, focused=focused, user_id=user_id
        )
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": wrap(typed),
        }
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        return self._push_interaction(kind, data, user_id, channel, locale, name)

    def _push_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        user_id: int,
        channel: _Channel,
        locale: str,
        name: str | None,
        *,
        message: dict[str, Any] | None = None,
    ) -> PushedInteraction:
        user = self.add_user(user_id)
        interaction_id = self._snowflake()
        token = f"aW50ZXJhY3Rpb246{interaction_id}:{secrets.token_urlsafe(48)}"
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": MAX_UPLOAD_BYTES,
            "authorizing_integration_owners": self._integration_owners(channel.guild_id),
            "channel_id": str(channel.id),
        }
        if channel.guild_id is not None:
            guild = self._guilds[channel.guild_id]
            if user_id not in guild.members:
                self.add_member(guild.id, user_id)
            member = guild.members[user_id].to_json(user)
            member["permissions"] = str(self._permissions(guild, user_id, channel))
            channel_json = {**channel.to_json(), "guild_id": str(guild.id)}
            channel_json["permissions"] = member["permissions"]
            app_permissions = self._permissions(guild, self.application_id, channel)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=member,
                channel=channel_json,
                app_permissions=str(app_permissions),
                context=0,
            )
        else:
            if channel.recipient_id != user_id:
                raise ValueError(f"channel {channel.id} is not the DM channel of {user_id}")
            payload.update(
                user=user,
                channel=channel.to_json(user),
                app_permissions=str(DEFAULT_EVERYONE_PERMISSIONS),
                context=1,
            )
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        self._interactions[interaction_id] = _Interaction(
            interaction_id,
            token,
            kind,
            channel.id,
            channel.guild_id,
            user_id,
            name,
            created=time.monotonic(),
        )
        self._dispatch("INTERACTION_CREATE", payload)
        return PushedInteraction(interaction_id, token, kind, payload)

    # ----- HTTP: routing, auth, faults, rate limits ---------------------------------------------

    def _build_routes(self) -> list[_Route]:
        table: list[tuple[str, str, Callable[[_Call], Awaitable[Any]], bool]] = [
            ("GET", "/gateway", self._get_gateway, False),
            ("GET", "/gateway/bot", self._get_gateway_bot, True),
            ("GET", "/users/@me", self._get_me, True),
            ("POST", "/users/@me/channels", self._open_dm_channel, True),
            ("GET", "/users/{user_id}", self._get_user, True),
            ("GET", "/applications/@me", self._get_application, True),
            ("GET", "/oauth2/applications/@me", self._get_application, True),
            ("GET", "/applications/{application_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/commands", self._put_commands, True),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._get_commands,
                True,
            ),
            (
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._put_commands,
                True,
            ),
            ("GET", "/channels/{channel_id}", self._get_channel, True),
            ("POST", "/channels/{channel_id}/typing", self._typing, True),
            ("POST", "/channels/{channel_id}/messages", self._create_message, True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._patch_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, True),
            (
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self._callback,
                False,
            ),
            ("POST", "/webhooks/{application_id}/{interaction_token}", self._followup, False),
            (
                "GET",
                "/webhooks/{application_id}/{interaction_token}/messages/{message_id}",
                self._get_webhook_message,
                False,
            ),
            (
                "PATCH",
                "/webhooks/{application_id}/{interaction_token}/messages/{message_id}",
                self._patch_webhook_message,
                False,
            ),
            (
                "DELETE",
                "/webhooks/{application_id}/{interaction_token}/messages/{message_id}",
                self._delete_webhook_message,
                False,
            ),
        ]
        routes = []
        for method, template, handler, auth in table:
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            routes.append(_Route(method, template, re.compile(pattern), handler, auth))
        return routes

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """The route for a request, its path parameters, and whether the path exists at all."""
        path_known = False
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            path_known = True
            if route.method == method:
                return route, match.groupdict(), True
        return None, {}, path_known

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        route, params, path_known = self._match(request.method, path)
        files: list[UploadedFile] = []
        body: Any = None
        status, code = 500, None
        extra_headers: dict[str, str] = {}
        try:
            if route is None:
                raise error(405 if path_known else 404, 0)
            if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                raise error(401, 0)
            body, files = await self._read_body(request)
            self._inject_failure(route, request.method, path)
            extra_headers = self._take_rate_limit(route, params)
            call = _Call(request.method, path, params, dict(request.query), body, files)
            result = await route.handler(call)
            if result is _NO_CONTENT:
                status, response = 204, web.Response(status=204)
            else:
                status, response = 200, self._json_response(result, 200)
        except _RateLimited as limited:
            status, code = 429, 0
            response = self._json_response(limited.body, 429)
            extra_headers = limited.headers
        except DiscordError as failure:
            status, code = failure.status, failure.code
            response = self._json_response(failure.body(), failure.status)
        response.headers.update(extra_headers)
        # Discord answers through Google's load balancer; discord.py trusts a 429 only with Via.
        response.headers["Via"] = "1.1 google"
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=path,
                route=route.name if route else "",
                query=dict(request.query),
                json=body,
                files=files,
                headers=dict(request.headers),
                status=status,
                code=code,
            )
        )
        self._signal()
        return response

    @staticmethod
    def _json_response(data: Any, status: int) -> web.Response:
        # Exactly "application/json": discord.py compares the header, a charset breaks it.
        return web.Response(
            status=status,
            body=json.dumps(data).encode(),
            headers={"Content-Type": "application/json"},
        )

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
        if not request.body_exists:
            return None, []
        if request.content_type == "application/json":
            try:
                return json.loads(await request.text()), []
            except json.JSONDecodeError:
                raise error(400, 50109) from None
        if request.content_type != "multipart/form-data":
            return None, []
        form = await request.post()
        body: Any = None
        files = []
        for name, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                if len(data) > MAX_UPLOAD_BYTES:
                    raise DiscordError(413, 40005)
                files.append(UploadedFile(name, value.filename, value.content_type, data))
            elif name == "payload_json":
                try:
                    body = json.loads(str(value))
                except json.JSONDecodeError:
                    raise error(400, 50109) from None
        files.sort(key=lambda f: _file_index(f.field))
        return body, files

    def _inject_failure(self, route: _Route, method: str, path: str) -> None:
        for failure in self._failures:
            if failure.remaining <= 0 or (failure.method and failure.method != method):
                continue
            if failure.path not in (route.template, path):
                continue
            failure.remaining -= 1
            if failure.status == 429:
                raise _RateLimited(failure.retry_after, route.bucket, is_global=failure.is_global)
            code = failure.code
            if code is None:
                code = _DEFAULT_FAILURE_CODES.get(failure.status, 0)
            raise DiscordError(failure.status, code)

    def _take_rate_limit(self, route: _Route, params: dict[str, str]) -> dict[str, str]:
        """One request from the route's bucket (per channel, guild or webhook); 429 when empty."""
        major = (
            params.get("channel_id")
            or params.get("guild_id")
            or params.get("interaction_token", "")
        )
        key = f"{route.bucket}:{major}"
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.reset_at:
            bucket = self._buckets[key] = _Bucket(
                self.bucket_limit, self.bucket_limit, now + self.bucket_window
            )
        reset_after = max(bucket.reset_at - now, 0.0)
        if bucket.remaining <= 0:
            raise _RateLimited(reset_after, route.bucket, is_global=False)
        bucket.remaining -= 1
        return _rate_limit_headers(bucket.limit, bucket.remaining, reset_after, route.bucket)

    # ----- REST handlers: gateway, users, application ------------------------------------------

    async def _get_gateway(self, call: _Call) -> dict[str, Any]:
        return {"url": self.gateway_url}

    async def _get_gateway_bot(self, call: _Call) -> dict[str, Any]:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": self._session_starts,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    async def _get_me(self, call: _Call) -> dict[str, Any]:
        return {
            **self.bot_user,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "flags": 0,
            "email": None,
            "bio": "",
        }

    async def _get_user(self, call: _Call) -> dict[str, Any]:
        user = self._users.get(_snowflake_param(call, "user_id"))
        if user is None:
            raise error(404, 10013)
        return user

    async def _open_dm_channel(self, call: _Call) -> dict[str, Any]:
        recipient = (call.json or {}).get("recipient_id")
        try:
            user_id = int(recipient)
        except (TypeError, ValueError):
            raise invalid_form(
                ("recipient_id",), "BASE_TYPE_REQUIRED", "This field is required"
            ) from None
        if user_id not in self._users or user_id == self.application_id:
            raise error(400, 50033)
        channel = self._channels[self.dm_channel_id(user_id)]
        return channel.to_json(self._users[user_id])

    def application_flags(self) -> int:
        """The portal's privileged intent switches, as application flags."""
        flags = 0
        for intent, flag in _LIMITED_INTENT_FLAGS.items():
            if not self._rejected_intents & intent:
                flags |= flag
        return flags

    async def _get_application(self, call: _Call) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": "Pricebot Test",
            "icon": None,
            "description": "Price tracker bot (test application)",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": hashlib.sha256(self.token.encode()).hexdigest(),
            "flags": self.application_flags(),
            "owner": self.owner_user,
            "team": None,
            "bot": self.bot_user,
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
            "integration_types_config": {"0": {}},
            "approximate_guild_count": len(self._guilds),
            "is_monetized": False,
        }

    # ----- REST handlers: application commands --------------------------------------------------

    def _command_scope(self, call: _Call) -> int | None:
        if _snowflake_param(call, "application_id") != self.application_id:
            raise error(403, 20012)
        if "guild_id" not in call.params:
            return None
        guild_id = _snowflake_param(call, "guild_id")
        if guild_id not in self._guilds:
            raise error(404, 10004)
        return guild_id

    async def _get_commands(self, call: _Call) -> list[dict[str, Any]]:
        return self.commands(self._command_scope(call))

    async def _put_commands(self, call: _Call) -> list[dict[str, Any]]:
        scope = self._command_scope(call)
        commands = check_commands(call.json)
        self.command_syncs.append(CommandSync(scope, copy.deepcopy(commands)))
        stored = []
        version = str(self._snowflake())
        for command in commands:
            kind = command.get("type", 1)
            # Overwriting keeps a command's id when its name and type stay, as Discord does.
            key = (scope, kind, command["name"])
            command_id = self._command_ids.setdefault(key, self._snowflake())
            entry: dict[str, Any] = {
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": version,
                "type": kind,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description", ""),
                "description_localizations": command.get("description_localizations"),
                "default_member_permissions": command.get("default_member_permissions"),
                "dm_permission": command.get("dm_permission", True),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types") or [0],
                "nsfw": bool(command.get("nsfw", False)),
            }
            if command.get("options"):
                entry["options"] = copy.deepcopy(command["options"])
            if scope is not None:
                entry["guild_id"] = str(scope)
            stored.append(entry)
        self._commands[scope] = stored
        self._signal()
        return copy.deepcopy(stored)

    # ----- REST handlers: channels and messages -------------------------------------------------

    def _channel_param(self, call: _Call) -> _Channel:
        channel = self._channels.get(_snowflake_param(call, "channel_id"))
        if channel is None:
            raise error(404, 10003)
        if channel.guild_id is not None:
            guild = self._guilds[channel.guild_id]
            if not self._permissions(guild, self.application_id, channel) & Permission.VIEW_CHANNEL:
                raise error(403, 50001)
        return channel

    def _message_param(self, call: _Call, channel: _Channel) -> dict[str, Any]:
        message = self._messages.get(_snowflake_param(call, "message_id"))
        if message is None or message["channel_id"] != str(channel.id):
            raise error(404, 10008)
        return message

    async def _get_channel(self, call: _Call) -> dict[str, Any]:
        channel = self._channel_param(call)
        if channel.type == DM:
            assert channel.recipient_id is not None
            return channel.to_json(self._users[channel.recipient_id])
        return {**channel.to_json(), "guild_id": str(channel.guild_id)}

    async def _typing(self, call: _Call) -> object:
        channel = self._channel_param(call)
        self._check_can_send(channel, [])
        self.typing_channel_ids.append(channel.id)
        return _NO_CONTENT

    async def _create_message(self, call: _Call) -> dict[str, Any]:
        channel = self._channel_param(call)
        body = self._message_body(call)
        self._check_can_send(channel, call.files)
        body = self._strip_embeds_without_permission(channel, body)
        message = self._new_message(channel, self.bot_user, body, call.files, None)
        self._record_sent(message, "channel", body, call.files, None)
        return message

    async def _get_message(self, call: _Call) -> dict[str, Any]:
        channel = self._channel_param(call)
        return self._message_param(call, channel)

    async def _patch_message(self, call: _Call) -> dict[str, Any]:
        channel = self._channel_param(call)
        message = self._message_param(call, channel)
        if message["author"]["id"] != self.bot_user["id"]:
            raise error(403, 50005)
        body = self._message_body(call, creating=False)
        return self._edit_message(channel, message, body, call.files, "channel")

    async def _delete_message(self, call: _Call) -> object:
        channel = self._channel_param(call)
        message = self._message_param(call, channel)
        if message["author"]["id"] != self.bot_user["id"]:
            guild = self._guilds.get(channel.guild_id) if channel.guild_id else None
            allowed = (
                guild is not None
                and self._permissions(guild, self.application_id, channel)
                & Permission.MANAGE_MESSAGES
            )
            if not allowed:
                raise error(403, 50013)
        self._delete(channel, message)
        return _NO_CONTENT

    def _delete(self, channel: _Channel, message: dict[str, Any]) -> None:
        message_id = int(message["id"])
        del self._messages[message_id]
        self.deleted_message_ids.append(message_id)
        data: dict[str, Any] = {"id": str(message_id), "channel_id": str(channel.id)}
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
        intent = Intent.DIRECT_MESSAGES if channel.guild_id is None else Intent.GUILD_MESSAGES
        if not message["flags"] & EPHEMERAL:
            self._dispatch("MESSAGE_DELETE", data, intent)
        self._signal()

    def _message_body(self, call: _Call, *, creating: bool = True) -> dict[str, Any]:
        """The JSON (or payload_json) of a message request, checked against Discord's limits."""
        body = call.json if call.json is not None else {}
        if not isinstance(body, dict):
            raise invalid_form((), "DICT_TYPE_CONVERT", "Only dictionaries may be used")
        errors = FormErrors()
        check_message_body(errors, body)
        errors.raise_if_any()
        if creating and message_is_empty(body) and not call.files:
            raise error(400, 50006)
        return body

    async def _attachment(self, request: web.Request) -> web.Response:
        try:
            data = self._attachments[int(request.match_info["attachment_id"])]
        except (KeyError, ValueError):
            raise web.HTTPNotFound() from None
        content_type = mimetypes.guess_type(request.match_info["filename"])[0]
        return web.Response(body=data, content_type=content_type or "application/octet-stream")

    # ----- REST handlers: interactions and follow-ups -------------------------------------------

    def _log_interaction(
        self, interaction_id: int, kind: str, payload: Any, failure: DiscordError | None
    ) -> None:
        status = failure.status if failure else 200
        code = failure.code if failure else None
        self.interaction_calls.append(
            InteractionCall(interaction_id, kind, status, code, copy.deepcopy(payload))
        )
        self._signal()

    async def _callback(self, call: _Call) -> Any:
        interaction_id = _snowflake_param(call, "interaction_id")
        body = call.json if isinstance(call.json, dict) else {}
        try:
            result = self._answer_interaction(interaction_id, call, body)
        except DiscordError as failure:
            self._log_interaction(interaction_id, "callback", body, failure)
            raise
        self._log_interaction(interaction_id, "callback", body, None)
        return result

    def _answer_interaction(self, interaction_id: int, call: _Call, body: dict[str, Any]) -> Any:
        interaction = self._interactions.get(interaction_id)
        if interaction is None or interaction.token != call.params["interaction_token"]:
            raise error(404, 10062)
        if interaction.response_type is not None:
            raise error(400, 40060)
        if time.monotonic() - interaction.created > self.interaction_window:
            raise error(404, 10062)
        kind = body.get("type")
        allowed = _CALLBACKS_FOR[interaction.type]
        if kind not in allowed:
            raise invalid_form(
                ("type",),
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Value must be one of {sorted(allowed)} for this interaction type.",
            )
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        channel = self._channels[interaction.channel_id]
        message = self._callback_effect(interaction, channel, kind, data, call.files)
        interaction.response_type = kind
        if call.query.get("with_response") not in ("1", "true", "True"):
            return _NO_CONTENT
        return self._callback_response(interaction, kind, message)

    def _callback_effect(
        self,
        interaction: _Interaction,
        channel: _Channel,
        kind: int,
        data: dict[str, Any],
        files: list[UploadedFile],
    ) -> dict[str, Any] | None:
        """Checks a callback's data and does what it asks; returns the message it made or
        changed, if any."""
        errors = FormErrors()
        if kind in (CHANNEL_MESSAGE_WITH_SOURCE, UPDATE_MESSAGE):
            check_message_body(errors, data)
        elif kind == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            choices = _check_list(errors, ("data", "choices"), data.get("choices"), MAX_CHOICES)
            for index, choice in enumerate(choices):
                value = choice.get("value") if isinstance(choice, dict) else None
                check_choice(
                    errors, ("data", "choices", index), choice, 3 if isinstance(value, str) else 10
                )
        elif kind == MODAL:
            check_length(
                errors, ("data", "custom_id"), data.get("custom_id"), 100, minimum=1, required=True
            )
            check_length(errors, ("data", "title"), data.get("title"), 45, minimum=1, required=True)
            _check_list(errors, ("data", "components"), data.get("components"), 5, minimum=1)
        errors.raise_if_any()
        if kind == CHANNEL_MESSAGE_WITH_SOURCE:
            if message_is_empty(data) and not files:
                raise error(400, 50006)
            data = self._strip_embeds_without_permission(channel, data)
            flags = (data.get("flags") or 0) & EPHEMERAL
            message = self._new_message(
                channel, self.bot_user, data, files, interaction, flags=flags
            )
            interaction.original_id = int(message["id"])
            self._record_sent(message, "interaction", data, files, interaction)
            return message
        if kind == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            flags = LOADING | ((data.get("flags") or 0) & EPHEMERAL)
            placeholder: dict[str, Any] = {"content": ""}
            message = self._new_message(
                channel, self.bot_user, placeholder, [], interaction, flags=flags
            )
            interaction.original_id = int(message["id"])
            interaction.loading = True
            return message
        if kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            interaction.original_id = interaction.message_id
            if kind == UPDATE_MESSAGE and interaction.message_id in self._messages:
                target = self._messages[interaction.message_id]
                return self._edit_message(channel, target, data, files, "interaction")
        return None

    def _callback_response(
        self, interaction: _Interaction, kind: int, message: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The interaction callback object discord.py asks for with ?with_response=1."""
        summary: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "activity_instance_id": None,
            "response_message_id": message["id"] if message else None,
            "response_message_loading": bool(message and message["flags"] & LOADING),
            "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL),
        }
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            resource["message"] = message
        return {"interaction": summary, "resource": resource}

    def _webhook_interaction(self, call: _Call, kind: str) -> _Interaction:
        """The interaction an interaction webhook call is about, checked like Discord does."""
        token = call.params["interaction_token"]
        interaction = next((i for i in self._interactions.values() if i.token == token), None)
        if interaction is None or _snowflake_param(call, "application_id") != self.application_id:
            raise error(404, 10015)
        if time.monotonic() - interaction.created > self.token_lifetime:
            failure = DiscordError(401, 50027)
            self._log_interaction(interaction.id, kind, call.json, failure)
            raise failure
        return interaction

    async def _followup(self, call: _Call) -> Any:
        interaction = self._webhook_interaction(call, "followup")
        try:
            message = self._send_followup(interaction, call)
        except DiscordError as failure:
            self._log_interaction(interaction.id, "followup", call.json, failure)
            raise
        self._log_interaction(interaction.id, "followup", call.json, None)
        if call.query.get("wait") in ("1", "true", "True"):
            return message
        return _NO_CONTENT

    def _send_followup(self, interaction: _Interaction, call: _Call) -> dict[str, Any]:
        if interaction.response_type is None:
            raise error(404, 10015)  # no initial response yet: the webhook does not exist
        channel = self._channels[interaction.channel_id]
        body = self._message_body(call)
        if interaction.loading and interaction.original_id in self._messages:
            # After a deferral the first follow-up fills in the loading message (Discord keeps
            # this for compatibility); its ephemeral flag stays the deferral's.
            original = self._messages[interaction.original_id]
            message = self._fill_deferred(interaction, channel, original, body, call.files)
            interaction.followup_ids.append(int(message["id"]))
            self._record_sent(message, "followup", body, call.files, interaction)
            return message
        flags = (body.get("flags") or 0) & EPHEMERAL
        body = self._strip_embeds_without_permission(channel, body)
        message = self._new_message(
            channel, self.bot_user, body, call.files, interaction, flags=flags
        )
        interaction.followup_ids.append(int(message["id"]))
        self._record_sent(message, "followup", body, call.files, interaction)
        return message

    def _fill_deferred(
        self,
        interaction: _Interaction,
        channel: _Channel,
        original: dict[str, Any],
        body: dict[str, Any],
        files: list[UploadedFile],
    ) -> dict[str, Any]:
        """The loading message of a deferral gets its content: an edit that ends LOADING."""
        message = self._edit_message(
            channel, original, body, files, "original", clear_flags=LOADING
        )
        interaction.loading = False
        return message

    def _webhook_message(self, call: _Call, interaction: _Interaction) -> dict[str, Any]:
        raw = call.params["message_id"]
        if raw == "@original":
            message_id = interaction.original_id
        else:
            message_id = _snowflake_param(call, "message_id")
            if message_id not in interaction.followup_ids and message_id != interaction.original_id:
                message_id = None
        message = self._messages.get(message_id) if message_id is not None else None
        if message is None:
            raise error(404, 10008)
        return message

    async def _get_webhook_message(self, call: _Call) -> dict[str, Any]:
        kind = "get_original" if call.params["message_id"] == "@original" else "get_followup"
        interaction = self._webhook_interaction(call, kind)
        try:
            message = self._webhook_message(call, interaction)
        except DiscordError as failure:
            self._log_interaction(interaction.id, kind, None, failure)
            raise
        self._log_interaction(interaction.id, kind, None, None)
        return message

    async def _patch_webhook_message(self, call: _Call) -> dict[str, Any]:
        original = call.params["message_id"] == "@original"
        kind = "edit_original" if original else "edit_followup"
        interaction = self._webhook_interaction(call, kind)
        try:
            message = self._webhook_message(call, interaction)
            channel = self._channels[interaction.channel_id]
            body = self._message_body(call, creating=False)
            if interaction.loading and int(message["id"]) == interaction.original_id:
                message = self._fill_deferred(interaction, channel, message, body, call.files)
                self._record_sent(message, "original", body, call.files, interaction)
            else:
                message = self._edit_message(
                    channel, message, body, call.files, "original" if original else "followup"
                )
        except DiscordError as failure:
            self._log_interaction(interaction.id, kind, call.json, failure)
            raise
        self._log_interaction(interaction.id, kind, call.json, None)
        return message

    async def _delete_webhook_message(self, call: _Call) -> object:
        original = call.params["message_id"] == "@original"
        kind = "delete_original" if original else "delete_followup"
        interaction = self._webhook_interaction(call, kind)
        try:
            message = self._webhook_message(call, interaction)
        except DiscordError as failure:
            self._log_interaction(interaction.id, kind, None, failure)
            raise
        self._delete(self._channels[interaction.channel_id], message)
        self._log_interaction(interaction.id, kind, None, None)
        return _NO_CONTENT

    # ----- the gateway --------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=16 * MAX_GATEWAY_PAYLOAD)
        await ws.prepare(request)
        compress = request.query.get("compress")
        record = GatewayConnection(
            len(self.connections) + 1, request.path, dict(request.query), compress
        )
        self.connections.append(record)
        self._signal()
        await self._gateway_open.wait()
        refusal = self._refusal(request)
        if refusal is not None:
            await ws.close(code=refusal.code, message=refusal.reason.encode())
            record.closed, record.close_code = True, refusal.code
            self._signal()
            return ws
        compressor: _ZlibStream | _ZstdStream | None = None
        if compress == "zlib-stream":
            compressor = _ZlibStream(self.zlib_chunk_size)
        elif compress == "zstd-stream":
            compressor = _ZstdStream()
        connection = _Connection(record, ws, request.transport, compressor)
        self._live.add(connection)
        connection.start()
        hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ['["gateway-fake"]']}
        connection.send(_payload_text(OP_HELLO, hello))
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    self._on_gateway_text(connection, frame.data)
                else:
                    connection.close(4002, "Decode error.")
        finally:
            record.closed = True
            if record.close_code is None:  # the client closed, or the socket broke (1006)
                record.close_code = ws.close_code
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
            self._live.discard(connection)
            await connection.stop()
            self._signal()
        return ws

    @staticmethod
    def _refusal(request: web.Request) -> _Close | None:
        """Connections the gateway closes at once: wrong version, encoding or compression."""
        if request.query.get("v") != str(API_VERSION):
            return _Close(4012, "Invalid API version.")
        if request.query.get("encoding", "json") != "json":
            return _Close(4002, "Decode error.")  # the fake speaks JSON only, not ETF
        compress = request.query.get("compress")
        if compress not in (None, "zlib-stream", "zstd-stream"):
            return _Close(4000, "Unknown compression.")
        if compress == "zstd-stream" and not _zstd_available():
            return _Close(4000, "zstd-stream needs the zstandard module.")
        return None

    def _on_gateway_text(self, connection: _Connection, text: str) -> None:
        if len(text.encode()) > MAX_GATEWAY_PAYLOAD:
            connection.close(4002, "Decode error.")
            return
        try:
            payload = json.loads(text)
            op, d = payload.get("op"), payload.get("d")
        except (json.JSONDecodeError, AttributeError):
            connection.close(4002, "Decode error.")
            return
        self.gateway_received.append(GatewayPayload(connection.record.number, op, d))
        self._signal()
        if op == OP_HEARTBEAT:
            connection.send(_payload_text(OP_HEARTBEAT_ACK, None))
        elif op == OP_IDENTIFY:
            self._identify(connection, d if isinstance(d, dict) else {})
        elif op == OP_RESUME:
            self._resume(connection, d if isinstance(d, dict) else {})
        elif op in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE, OP_REQUEST_GUILD_MEMBERS):
            if connection.session is None:
                connection.close(4003, "Not authenticated.")
            elif op == OP_REQUEST_GUILD_MEMBERS:
                self._members_chunk(connection.session, d if isinstance(d, dict) else {})
        else:
            connection.close(4001, "Unknown opcode.")

    def _identify(self, connection: _Connection, d: dict[str, Any]) -> None:
        if connection.session is not None:
            connection.close(4005, "Already authenticated.")
            return
        if d.get("token") != self.token:
            connection.close(4004, "Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents & ~_ALL_INTENTS:
            connection.close(4013, "Invalid intent(s).")
            return
        if intents & self._rejected_intents:
            connection.close(4014, "Disallowed intent(s).")
            return
        shard = d.get("shard")
        if shard is not None and shard != [0, 1]:  # GET /gateway/bot says 1 shard
            connection.close(4010, "Invalid shard.")
            return
        if self._session is not None:
            # One bot, one shard: a new IDENTIFY replaces the old session.
            self._session.valid = False
        session = _Session(secrets.token_hex(16), intents, shard)
        session.connection = connection
        connection.session = session
        connection.record.session_id = session.id
        self._session = session
        self._session_starts -= 1
        self._emit(session, "READY", self._ready(session))
        if intents & Intent.GUILDS:
            for guild in self._guilds.values():
                self._emit(session, "GUILD_CREATE", self._guild_create(guild, intents))

    def _ready(self, session: _Session) -> dict[str, Any]:
        ready: dict[str, Any] = {
            "v": API_VERSION,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in self._guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["rotterdam", "frankfurt", "london"],
            "user_settings": {},
            "auth": {},
            "_trace": ['["gateway-fake",{"micros":0}]'],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        return ready

    def _resume(self, connection: _Connection, d: dict[str, Any]) -> None:
        if connection.session is not None:
            connection.close(4005, "Already authenticated.")
            return
        if d.get("token") != self.token:
            connection.close(4004, "Authentication failed.")
            return
        session = self._session
        seq = d.get("seq")
        known = (
            session is not None
            and session.valid
            and d.get("session_id") == session.id
            and (seq is None or (isinstance(seq, int) and seq <= session.sequence))
        )
        if not known:
            connection.send(_payload_text(OP_INVALID_SESSION, False))
            return
        assert session is not None
        if session.connection is not None and session.connection is not connection:
            session.connection.abort()  # the old socket is a zombie the client has left
        for number, text in session.events:
            if seq is None or number > seq:
                connection.send(text)
        session.connection = connection
        connection.session = session
        connection.record.session_id = session.id
        connection.record.resumed = True
        self._emit(session, "RESUMED", {"_trace": ['["gateway-fake",{"micros":0}]']})

    def _members_chunk(self, session: _Session, d: dict[str, Any]) -> None:
        """GUILD_MEMBERS_CHUNK for an op 8 request (discord.py chunks guilds at startup when it
        has the members intent)."""
        try:
            guild = self._guilds[int(d.get("guild_id", 0))]
        except (KeyError, TypeError, ValueError):
            return
        query = str(d.get("query") or "").lower()
        wanted = {int(u) for u in d.get("user_ids") or []}
        members = [
            m
            for m in guild.members.values()
            if (not wanted or m.user_id in wanted)
            and self._users[m.user_id]["username"].lower().startswith(query)
        ]
        limit = int(d.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.to_json(self._users[m.user_id]) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in wanted - {m.user_id for m in members}],
        }
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        self._emit(session, "GUILD_MEMBERS_CHUNK", chunk)


class _RateLimited(Exception):
    """A 429 answer: Discord's body and headers."""

    def __init__(self, retry_after: float, bucket: str, *, is_global: bool) -> None:
        super().__init__(retry_after)
        self.body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        self.headers = _rate_limit_headers(1, 0, retry_after, bucket)
        self.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        self.headers["X-RateLimit-Scope"] = "global" if is_global else "user"
        if is_global:
            self.headers["X-RateLimit-Global"] = "true"


def _rate_limit_headers(
    limit: int, remaining: int, reset_after: float, bucket: str
) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket,
    }


def _snowflake_param(call: _Call, name: str) -> int:
    value = call.params[name]
    if not _SNOWFLAKE.fullmatch(value):
        raise invalid_form((name,), "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
    return int(value)


def _file_index(field_name: str) -> int:
    match = _FILE_FIELD.fullmatch(field_name)
    if match is None:
        return 1 << 30
    return int(match.group(1) or match.group(2) or 0)


def contents(messages: Iterable[SentMessage]) -> list[str]:
    """The contents of messages, for readable assertions."""
    return [m.content for m in messages]
