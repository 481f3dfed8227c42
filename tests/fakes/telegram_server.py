"""A fake Telegram Bot API server on 127.0.0.1: real HTTP and JSON shapes, strict checks, faults."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.waiting import ChangeWaiter

DEFAULT_TOKEN = "987654321:AAFakeTelegramTokenForPricebotTests-xyz"
DEFAULT_BOT_USERNAME = "PricebotTestBot"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_INLINE_BUTTONS = 100
MAX_BOT_COMMANDS = 100
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# The placeholder users Telegram puts in "from" when a message is sent on behalf of a chat.
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

T = TypeVar("T")


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional parameters."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class HtmlParseError(Exception):
    """Telegram's "can't parse entities" failure for parse_mode=HTML."""


# ----- records the tests inspect ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the bot made: method name as Telegram spells it and its decoded parameters."""

    method: str
    params: dict[str, Any]


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent. `text` is what a user sees (entities parsed, caption for media);
    `raw_text` is what the bot sent, markup included."""

    chat_id: int
    message_id: int
    method: str
    text: str
    raw_text: str | None
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    message_thread_id: int | None
    file: UploadedFile | None = None
    file_reference: str | None = None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row by row flattened."""
        if not self.reply_markup:
            return []
        return [b for row in self.reply_markup.get("inline_keyboard", []) for b in row]


@dataclass(frozen=True, slots=True)
class Edit:
    """An edit the bot made to one of its messages."""

    chat_id: int
    message_id: int
    method: str
    text: str | None
    raw_text: str | None
    parse_mode: str | None
    reply_markup: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AnsweredCallback:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclass(frozen=True, slots=True)
class CommandRegistration:
    """One setMyCommands call."""

    scope: dict[str, Any]
    language_code: str
    commands: list[tuple[str, str]]


@dataclass(slots=True)
class _Failure:
    method: str  # lower case
    remaining: int
    kind: str
    chat_id: int | None
    retry_after: int
    delay: float


@dataclass(slots=True)
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    is_forum: bool = False
    members: set[int] = field(default_factory=set)
    admins: dict[int, str] = field(default_factory=dict)  # user id -> creator|administrator

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.first_name or "User"
        else:
            data["title"] = self.title or f"Chat {self.id}"
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


# ----- HTML parse mode, as https://core.telegram.org/bots/api#html-style documents it -------------

_SIMPLE_TAG_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z][a-zA-Z0-9]*));")
_TAG_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTRIBUTE = re.compile(r"""\s+([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")


def utf16_length(text: str) -> int:
    """Telegram measures text and entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class ParsedText:
    text: str
    entities: list[dict[str, Any]]


def parse_html(source: str) -> ParsedText:
    """Parses Telegram HTML into plain text plus entities; raises HtmlParseError like Telegram.

    Stricter than the live server where the documentation is: every `<`, `>` and `&` that is
    not part of a tag or an entity must be escaped, and only &lt; &gt; &amp; &quot; and numeric
    entities exist.
    """
    out: list[str] = []
    out_units = 0
    open_tags: list[tuple[str, dict[str, Any] | None, int]] = []
    entities: list[dict[str, Any]] = []
    position = 0

    def byte_offset(index: int) -> int:
        return len(source[:index].encode("utf-8"))

    while position < len(source):
        char = source[position]
        if char == "<":
            position = _parse_tag(source, position, out_units, open_tags, entities, byte_offset)
            continue
        if char == "&":
            match = _HTML_ENTITY.match(source, position)
            if match is None:
                raise HtmlParseError(f'Unescaped "&" at byte offset {byte_offset(position)}')
            decoded = _decode_entity(match, byte_offset(position))
            out.append(decoded)
            out_units += utf16_length(decoded)
            position = match.end()
            continue
        if char == ">":
            raise HtmlParseError(f'Unescaped ">" at byte offset {byte_offset(position)}')
        out.append(char)
        out_units += utf16_length(char)
        position += 1
    if open_tags:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParsedText("".join(out), entities)


def _decode_entity(match: re.Match[str], offset: int) -> str:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        if name not in _NAMED_HTML_ENTITIES:
            raise HtmlParseError(f'Unsupported HTML entity "&{name};" at byte offset {offset}')
        return _NAMED_HTML_ENTITIES[name]
    code_point = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code_point == 0 or code_point > 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        raise HtmlParseError(f"Invalid character entity at byte offset {offset}")
    return chr(code_point)


def _parse_tag(
    source: str,
    start: int,
    out_units: int,
    open_tags: list[tuple[str, dict[str, Any] | None, int]],
    entities: list[dict[str, Any]],
    byte_offset: Callable[[int], int],
) -> int:
    """Consumes one tag at `start`; returns the index after it."""
    offset = byte_offset(start)
    closing = source.startswith("</", start)
    name_match = _TAG_NAME.match(source, start + (2 if closing else 1))
    if name_match is None:
        raise HtmlParseError(f"Unexpected end of name token at byte offset {offset}")
    name = name_match.group().lower()
    position = name_match.end()
    attributes: dict[str, str] = {}
    while not closing:
        attribute = _ATTRIBUTE.match(source, position)
        if attribute is None:
            break
        value = attribute.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        attributes[attribute.group(1).lower()] = value
        position = attribute.end()
    while position < len(source) and source[position].isspace():
        position += 1
    if position >= len(source) or source[position] != ">":
        raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
    position += 1

    if closing:
        if not open_tags:
            raise HtmlParseError(f"Unexpected end tag at byte offset {offset}")
        open_name, entity, entity_start = open_tags.pop()
        if open_name != name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", '
                f'found "</{name}>"'
            )
        length = out_units - entity_start
        if entity is not None and length > 0:
            entities.append({**entity, "offset": entity_start, "length": length})
        return position

    open_tags.append((name, _entity_for_tag(name, attributes, offset), out_units))
    return position


def _entity_for_tag(name: str, attributes: dict[str, str], offset: int) -> dict[str, Any] | None:
    if name in _SIMPLE_TAG_ENTITIES:
        return {"type": _SIMPLE_TAG_ENTITIES[name]}
    if name == "blockquote":
        return {"type": "expandable_blockquote" if "expandable" in attributes else "blockquote"}
    if name == "a":
        href = attributes.get("href", "")
        return {"type": "text_link", "url": href} if href else None
    if name == "span":
        if attributes.get("class") != "tg-spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        return {"type": "spoiler"}
    if name == "tg-emoji":
        emoji_id = attributes.get("emoji-id")
        if not emoji_id:
            raise HtmlParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}'
            )
        return {"type": "custom_emoji", "custom_emoji_id": emoji_id}
    raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {offset}')


# ----- incoming message entities (what Telegram adds to user messages) ---------------------------

_COMMAND_ENTITY = re.compile(r"(?<!\S)/[a-zA-Z0-9_]{1,32}(?:@[a-zA-Z0-9_]{3,32})?(?![^\s])")
_URL_ENTITY = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)


def _incoming_entities(text: str) -> list[dict[str, Any]]:
    found: list[tuple[int, int, str]] = []
    for pattern, kind in ((_COMMAND_ENTITY, "bot_command"), (_URL_ENTITY, "url")):
        found.extend((m.start(), m.end(), kind) for m in pattern.finditer(text))
    entities = []
    for start, end, kind in sorted(found):
        entities.append(
            {
                "type": kind,
                "offset": utf16_length(text[:start]),
                "length": utf16_length(text[start:end]),
            }
        )
    return entities


# ----- request parameters -----------------------------------------------------------------------


class _Params:
    """Decodes Bot API parameters from query string, form, multipart or JSON bodies."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, UploadedFile):
            raise bad_request(f"{name} must be a String")
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.raw.get(name)
        if value in (None, ""):
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            raise bad_request(f"{name} must be an Integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            return int(value)
        raise bad_request(f"{name} must be an Integer")

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value in (None, ""):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"{name} must be a Number") from None

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if isinstance(value, bool):
            return value
        return isinstance(value, str) and value.lower() in ("true", "1")

    def json(self, name: str) -> Any:
        value = self.raw.get(name)
        if value in (None, ""):
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def file_or_reference(self, name: str) -> UploadedFile | str | None:
        value = self.raw.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = self.raw.get(value.removeprefix("attach://"))
        if value is None or isinstance(value, UploadedFile | str):
            return value
        raise bad_request(f"wrong type of the {name} field")


_INLINE_BUTTON_KINDS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _valid_button_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return bool(parts.hostname) and not any(c.isspace() for c in url)
    return parts.scheme == "tg" and bool(parts.netloc or parts.path)


def validate_reply_markup(markup: Any, *, inline_only: bool) -> dict[str, Any] | None:
    """Checks a reply_markup the way Telegram does; returns it as a dict."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if inline_only:
            raise bad_request("inline keyboard expected")
        if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise bad_request("too many inline keyboard buttons")
    for row in rows:
        for button in row:
            _validate_inline_button(button)
    return markup


def _validate_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    text = button.get("text")
    if not isinstance(text, str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    if not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    kinds = [kind for kind in _INLINE_BUTTON_KINDS if kind in button]
    if not kinds:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(kinds) > 1:
        raise bad_request(
            "can't parse inline keyboard button: exactly one of the optional fields must be used"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if (
            not isinstance(data, str)
            or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
        ):
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not _valid_button_url(url):
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, or a nominal size for other known image formats."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith((b"\xff\xd8\xff", b"GIF87a", b"GIF89a")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    ):
        return 800, 600
    return None


# ----- the server ---------------------------------------------------------------------------------


class FakeTelegram(LoopbackServer, ChangeWaiter):
    """A Bot API server for tests. Use `async with FakeTelegram() as telegram:` and point PTB at
    `telegram.base_url` / `telegram.base_file_url`."""

    shutdown_timeout = 2.0

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = DEFAULT_BOT_USERNAME,
        bot_first_name: str = "Pricebot Test",
    ) -> None:
        self.token = token
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 4242
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[ApiCall] = []
        self.sent_messages: list[SentMessage] = []
        self.edits: list[Edit] = []
        self.answered_callbacks: list[AnsweredCallback] = []
        self.command_registrations: list[CommandRegistration] = []
        self.webhook_url = ""
        self.webhook_secret = ""  # setWebhook's secret_token, sent back in a request header

        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, bytes] = {}
        self._open_callbacks: set[str] = set()
        self._commands: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._failures: list[_Failure] = []
        self._blocked: set[int] = set()
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = False
        handlers: dict[str, Callable[[_Params], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChatMember": self._get_chat_member,
            "getChat": self._get_chat,
            "sendChatAction": self._send_chat_action,
        }
        # Bot API method names are case-insensitive: look them up in lower case.
        self._methods = {name.lower(): (name, handler) for name, handler in handlers.items()}

    # ----- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """For `ApplicationBuilder.base_url` / `Bot(base_url=...)`: PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _before_stop(self) -> None:
        # Long polls are woken, so a short shutdown timeout never cuts a real answer.
        self._closing = True
        self._signal()

    # ----- test helpers: the world outside the bot ---------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "private",
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        is_forum: bool = False,
    ) -> None:
        """Makes a chat known to the server (a chat the bot is in)."""
        if chat_type not in ("private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {chat_type!r}")
        if chat_type == "private" and chat_id <= 0:
            raise ValueError("private chat ids are the user's (positive) id")
        if chat_type != "private" and chat_id >= 0:
            raise ValueError("group, supergroup and channel ids are negative")
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(chat_id, chat_type)
            self._message_ids[chat_id] = itertools.count(1)
        chat.type = chat_type
        chat.title = title or chat.title
        chat.username = username or chat.username
        chat.first_name = first_name or chat.first_name
        chat.is_forum = chat.is_forum or is_forum

    def make_admin(self, chat_id: int, user_id: int, *, status: str = "administrator") -> None:
        """Marks a user as an administrator (or the creator) of a group, for getChatMember."""
        if status not in ("administrator", "creator"):
            raise ValueError("status is administrator or creator")
        self._chats[chat_id].admins[user_id] = status

    def block(self, chat_id: int) -> None:
        """The user blocked the bot (private) or removed it (group): sends get 403 from now on."""
        self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def push_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        chat_type: str = "private",
        message_thread_id: int | None = None,
        username: str | None = None,
        *,
        first_name: str | None = None,
        title: str | None = None,
        anonymous_admin: bool = False,
        as_channel: int | None = None,
        channel_title: str = "A Channel",
    ) -> dict[str, Any]:
        """A user writes `text` in a chat; returns the queued Update (JSON).

        `anonymous_admin`: an admin of the group posting anonymously, as Telegram sends it:
        "from" GroupAnonymousBot and "sender_chat" the group itself. `as_channel`: a user
        posting in the group on behalf of that channel: "from" ChannelBot, "sender_chat"
        the channel."""
        if chat_type == "private" and chat_id != user_id:
            raise ValueError("in a private chat the chat id is the user's id")
        self.add_chat(
            chat_id,
            chat_type,
            title=title,
            first_name=first_name if chat_type == "private" else None,
            username=username if chat_type == "private" else None,
            is_forum=message_thread_id is not None and chat_type == "supergroup",
        )
        user = self._remember_user(user_id, username, first_name)
        chat = self._chats[chat_id]
        chat.members.add(user_id)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(time.time()),
            "chat": chat.to_json(),
            "text": text,
        }
        if chat_type == "channel":
            message["sender_chat"] = chat.to_json()
        elif anonymous_admin:
            message["from"] = dict(GROUP_ANONYMOUS_BOT)
            message["sender_chat"] = chat.to_json()
        elif as_channel is not None:
            message["from"] = dict(CHANNEL_BOT)
            message["sender_chat"] = {"id": as_channel, "title": channel_title, "type": "channel"}
        else:
            message["from"] = user
        entities = _incoming_entities(text)
        if entities:
            message["entities"] = entities
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        self._messages[(chat_id, message["message_id"])] = message
        kind = "channel_post" if chat_type == "channel" else "message"
        return self._push_update({kind: message})

    def push_callback(self, chat_id: int, user_id: int, message_id: int, data: str) -> str:
        """A user presses a callback button of the bot's message; returns the callback query id."""
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        query_id = f"cbq-{next(self._callback_ids)}"
        self._open_callbacks.add(query_id)
        self._chats[chat_id].members.add(user_id)
        self._push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._remember_user(user_id, None, None),
                    "message": message,
                    "chat_instance": f"instance-{chat_id}",
                    "data": data,
                }
            }
        )
        return query_id

    def fail_next(
        self,
        method: str,
        n: int = 1,
        kind: str = "429",
        *,
        chat_id: int | None = None,
        retry_after: int = 1,
        delay: float = 5.0,
    ) -> None:
        """The next `n` calls of `method` (only those for `chat_id`, when given) fail.

        kind: "429"/"retry_after" (Too Many Requests, parameters.retry_after), "403"/"blocked"
        (bot was blocked by the user), "chat_not_found" (400), "500"/"server_error", "502",
        "hang" (answer normally only after `delay` seconds, to provoke client timeouts).
        """
        known = {"429", "retry_after", "403", "blocked", "chat_not_found", "500",
                 "server_error", "502", "hang"}  # fmt: skip
        if kind not in known:
            raise ValueError(f"unknown failure kind {kind!r}")
        self._failures.append(_Failure(method.lower(), n, kind, chat_id, retry_after, delay))

    # ----- test helpers: what the bot did ----------------------------------------------------

    def sent(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent_messages if m.chat_id == chat_id]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """The current state (after edits) of a message, as Telegram would return it."""
        return self._messages[(chat_id, message_id)]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def commands(self, scope_type: str, language_code: str = "") -> list[tuple[str, str]] | None:
        """The command list currently set for a scope type (e.g. "all_private_chats")."""
        return self._commands.get((scope_type, language_code))

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout keeps test code short
    ) -> SentMessage:
        """The first message sent to `chat_id` matching `predicate`, waiting for it if needed."""

        def find() -> SentMessage | None:
            return next((m for m in self.sent(chat_id) if predicate is None or predicate(m)), None)

        try:
            return await self.wait_until(find, timeout)
        except AssertionError:
            texts = [m.text[:80] for m in self.sent(chat_id)]
            raise AssertionError(
                f"no matching message to chat {chat_id} within {timeout}s; sent: {texts}"
            ) from None

    # ----- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        match = re.fullmatch(r"bot([^/]+)/([A-Za-z]+)", request.match_info["tail"])
        if match is None:
            return self._error_response(ApiError(404, "Not Found"))
        if match.group(1) != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        name = match.group(2).lower()
        if name not in self._methods:
            return self._error_response(ApiError(404, "Not Found"))
        canonical_name, handler = self._methods[name]
        try:
            params = _Params(await self._read_params(request))
        except ApiError as error:
            return self._error_response(error)
        self.calls.append(ApiCall(canonical_name, dict(params.raw)))
        self._signal()
        try:
            await self._inject_failure(name, params)
            result = await handler(params)
        except ApiError as error:
            return self._error_response(error)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error_response(error: ApiError) -> web.Response:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": error.code,
            "description": error.description,
        }
        if error.parameters:
            body["parameters"] = error.parameters
        return web.json_response(body, status=error.code)

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                raise bad_request("can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise bad_request("request body must be a JSON object")
            params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
            else:
                params[key] = value
        return params

    async def _inject_failure(self, method: str, params: _Params) -> None:
        for failure in self._failures:
            if failure.method != method or failure.remaining <= 0:
                continue
            if failure.chat_id is not None and self._chat_id_param(params) != failure.chat_id:
                continue
            failure.remaining -= 1
            if failure.kind == "hang":
                await self._sleep_unless_closing(failure.delay)
                return
            if failure.kind in ("429", "retry_after"):
                raise ApiError(
                    429,
                    f"Too Many Requests: retry after {failure.retry_after}",
                    {"retry_after": failure.retry_after},
                )
            if failure.kind in ("403", "blocked"):
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if failure.kind == "chat_not_found":
                raise bad_request("chat not found")
            if failure.kind == "502":
                raise ApiError(502, "Bad Gateway")
            raise ApiError(500, "Internal Server Error")

    async def _sleep_unless_closing(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing and (remaining := deadline - loop.time()) > 0:
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass

    def _chat_id_param(self, params: _Params) -> int | None:
        raw = params.raw.get("chat_id")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            if re.fullmatch(r"-?[0-9]+", raw):
                return int(raw)
            chat = self._chat_by_username(raw)
            return chat.id if chat else None
        return None

    def _chat_by_username(self, reference: str) -> _Chat | None:
        if not reference.startswith("@"):
            return None
        wanted = reference[1:].lower()
        return next(
            (c for c in self._chats.values() if c.username and c.username.lower() == wanted), None
        )

    # ----- shared checks ------------------------------------------------------------------------

    def _chat(self, params: _Params) -> _Chat:
        """The chat named by chat_id: an integer id or an @username the server knows."""
        raw = params.raw.get("chat_id")
        if raw in (None, ""):
            raise bad_request("chat_id is empty")
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise bad_request("chat not found")
        chat_id = self._chat_id_param(params)
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _writable_chat(self, params: _Params) -> _Chat:
        chat = self._chat(params)
        if chat.id in self._blocked:
            if chat.type == "private":
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        return chat

    @staticmethod
    def _thread(chat: _Chat, params: _Params) -> int | None:
        thread_id = params.integer("message_thread_id")
        if thread_id is not None and not chat.is_forum:
            raise bad_request("message thread not found")
        return thread_id

    @staticmethod
    def _parse_text(
        text: str | None, parse_mode: str | None, *, limit: int, caption: bool
    ) -> ParsedText:
        what = "message caption" if caption else "message"
        if text is None or (text == "" and not caption):
            if caption:
                return ParsedText("", [])
            raise bad_request("message text is empty")
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                parsed = parse_html(text)
            except HtmlParseError as error:
                raise bad_request(f"can't parse entities: {error}") from None
        elif mode == "":
            parsed = ParsedText(text, [])
        elif mode in ("markdown", "markdownv2"):
            raise bad_request(f"can't parse entities: the fake server does not parse {parse_mode}")
        else:
            raise bad_request("unsupported parse_mode")
        if not caption and not parsed.text.strip():
            raise bad_request("message text is empty")
        if utf16_length(parsed.text) > limit:
            raise bad_request(f"{what} is too long")
        return parsed

    def _remember_user(
        self, user_id: int, username: str | None, first_name: str | None
    ) -> dict[str, Any]:
        user = self._users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        )
        if username:
            user["username"] = username
        if first_name:
            user["first_name"] = first_name
        return user

    def _push_update(self, content: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **content}
        self._updates.append(update)
        self._signal()
        return update

    def _store_bot_message(
        self,
        chat: _Chat,
        thread_id: int | None,
        content: dict[str, Any],
        reply_markup: dict[str, Any] | None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat.id]),
            "date": int(time.time()),
            "chat": chat.to_json(),
            **content,
        }
        if chat.type == "channel":
            message["sender_chat"] = chat.to_json()
        else:
            message["from"] = self.bot_user
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if reply_markup and "inline_keyboard" in reply_markup:
            message["reply_markup"] = reply_markup
        self._messages[(chat.id, message["message_id"])] = message
        return message

    def _bot_message(self, chat: _Chat, params: _Params) -> dict[str, Any]:
        if params.has("inline_message_id"):
            raise bad_request("the fake server has no inline messages")
        message_id = params.integer("message_id", required=True)
        assert message_id is not None
        message = self._messages.get((chat.id, message_id))
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"] and chat.type != "channel":
            raise bad_request("message can't be edited")
        return message

    def _record_sent(
        self,
        method: str,
        chat: _Chat,
        message: dict[str, Any],
        raw_text: str | None,
        params: _Params,
        reply_markup: dict[str, Any] | None,
        file: UploadedFile | str | None = None,
    ) -> None:
        self.sent_messages.append(
            SentMessage(
                chat_id=chat.id,
                message_id=message["message_id"],
                method=method,
                text=message.get("text", message.get("caption", "")),
                raw_text=raw_text,
                parse_mode=params.text("parse_mode"),
                entities=message.get("entities", message.get("caption_entities", [])),
                reply_markup=reply_markup,
                message_thread_id=message.get("message_thread_id"),
                file=file if isinstance(file, UploadedFile) else None,
                file_reference=file if isinstance(file, str) else None,
            )
        )
        self._signal()

    def _new_file_id(self, data: bytes) -> tuple[str, str]:
        number = next(self._file_ids)
        file_id = f"FAKEFILE{number:06d}"
        self._files[file_id] = data
        return file_id, f"U{number:06d}"

    def _file(self, params: _Params, name: str) -> tuple[UploadedFile | str, bytes]:
        value = params.file_or_reference(name)
        if value is None or value == "":
            raise bad_request(f"there is no {name} in the request")
        if isinstance(value, UploadedFile):
            if not value.data:
                raise bad_request(f"{name.upper()}_FILE_EMPTY")
            if len(value.data) > MAX_UPLOAD_BYTES:
                raise ApiError(413, "Request Entity Too Large")
            return value, value.data
        if value in self._files:
            return value, self._files[value]
        if urlsplit(value).scheme in ("http", "https"):
            return value, b""
        raise bad_request("wrong file identifier/HTTP URL specified")

    # ----- methods ------------------------------------------------------------------------------

    async def _true(self, params: _Params) -> bool:
        return True

    async def _get_me(self, params: _Params) -> dict[str, Any]:
        return self.bot_user

    async def _set_webhook(self, params: _Params) -> bool:
        url = params.text("url") or ""
        if url and urlsplit(url).scheme != "https":
            raise bad_request("bad webhook: HTTPS url must be provided for webhook")
        secret = params.text("secret_token") or ""
        if secret and not _WEBHOOK_SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        self.webhook_url = url
        self.webhook_secret = secret
        return True

    async def _delete_webhook(self, params: _Params) -> bool:
        self.webhook_url = ""
        self.webhook_secret = ""
        if params.flag("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: _Params) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _get_updates(self, params: _Params) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = params.integer("offset")
        limit = min(max(params.integer("limit") or 100, 1), 100)
        timeout = max(params.number("timeout") or 0.0, 0.0)
        allowed = params.json("allowed_updates")
        # Telegram answers an older waiting getUpdates with 409 when a newer one arrives.
        self._poll_generation += 1
        generation = self._poll_generation
        self._signal()
        if offset is not None:
            if offset < 0:
                self._updates = self._updates[offset:]
            else:  # confirmed: forget every update before the offset
                self._updates = [u for u in self._updates if u["update_id"] >= offset]

        def ready() -> list[dict[str, Any]]:
            chosen = [u for u in self._updates if not allowed or any(kind in u for kind in allowed)]
            return chosen[:limit]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            updates = ready()
            remaining = deadline - loop.time()
            if updates or self._closing or remaining <= 0:
                return updates
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass

    async def _send_message(self, params: _Params) -> dict[str, Any]:
        chat = self._writable_chat(params)
        thread_id = self._thread(chat, params)
        raw_text = params.text("text")
        parsed = self._parse_text(
            raw_text, params.text("parse_mode"), limit=MAX_TEXT_LENGTH, caption=False
        )
        markup = validate_reply_markup(params.json("reply_markup"), inline_only=False)
        entities = parsed.entities or params.json("entities") or []
        content: dict[str, Any] = {"text": parsed.text}
        if entities:
            content["entities"] = entities
        message = self._store_bot_message(chat, thread_id, content, markup)
        self._record_sent("sendMessage", chat, message, raw_text, params, markup)
        return message

    def _caption(self, params: _Params) -> tuple[str | None, dict[str, Any]]:
        raw = params.text("caption")
        parsed = self._parse_text(
            raw, params.text("parse_mode"), limit=MAX_CAPTION_LENGTH, caption=True
        )
        content: dict[str, Any] = {}
        if parsed.text:
            content["caption"] = parsed.text
        if parsed.entities:
            content["caption_entities"] = parsed.entities
        return raw, content

    async def _send_photo(self, params: _Params) -> dict[str, Any]:
        chat = self._writable_chat(params)
        thread_id = self._thread(chat, params)
        photo, data = self._file(params, "photo")
        raw_caption, content = self._caption(params)
        size = _image_size(data) if data else (800, 600)
        if size is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        markup = validate_reply_markup(params.json("reply_markup"), inline_only=False)
        file_id, unique_id = photo if isinstance(photo, str) else ("", "")
        if not file_id or file_id not in self._files:
            file_id, unique_id = self._new_file_id(data)
        content["photo"] = [
            {
                "file_id": file_id,
                "file_unique_id": unique_id or f"U{file_id}",
                "width": size[0],
                "height": size[1],
                "file_size": len(data),
            }
        ]
        message = self._store_bot_message(chat, thread_id, content, markup)
        self._record_sent("sendPhoto", chat, message, raw_caption, params, markup, photo)
        return message

    async def _send_document(self, params: _Params) -> dict[str, Any]:
        chat = self._writable_chat(params)
        thread_id = self._thread(chat, params)
        document, data = self._file(params, "document")
        raw_caption, content = self._caption(params)
        markup = validate_reply_markup(params.json("reply_markup"), inline_only=False)
        file_id, unique_id = self._new_file_id(data)
        described: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_size": len(data),
        }
        if isinstance(document, UploadedFile):
            if document.filename:
                described["file_name"] = document.filename
            if document.content_type:
                described["mime_type"] = document.content_type
        content["document"] = described
        message = self._store_bot_message(chat, thread_id, content, markup)
        self._record_sent("sendDocument", chat, message, raw_caption, params, markup, document)
        return message

    async def _edit_message_text(self, params: _Params) -> dict[str, Any]:
        chat = self._chat(params)
        message = self._bot_message(chat, params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        raw_text = params.text("text")
        parsed = self._parse_text(
            raw_text, params.text("parse_mode"), limit=MAX_TEXT_LENGTH, caption=False
        )
        # Telegram drops the inline keyboard when an edit does not repeat it.
        markup = validate_reply_markup(params.json("reply_markup"), inline_only=True)
        if (
            parsed.text == message["text"]
            and parsed.entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message["text"] = parsed.text
        message.pop("entities", None)
        if parsed.entities:
            message["entities"] = parsed.entities
        self._apply_markup(message, markup)
        self._record_edit("editMessageText", chat, message, raw_text, params, markup)
        return message

    async def _edit_message_reply_markup(self, params: _Params) -> dict[str, Any]:
        chat = self._chat(params)
        message = self._bot_message(chat, params)
        markup = validate_reply_markup(params.json("reply_markup"), inline_only=True)
        if markup == message.get("reply_markup"):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        self._apply_markup(message, markup)
        self._record_edit("editMessageReplyMarkup", chat, message, None, params, markup)
        return message

    @staticmethod
    def _apply_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)

    def _record_edit(
        self,
        method: str,
        chat: _Chat,
        message: dict[str, Any],
        raw_text: str | None,
        params: _Params,
        markup: dict[str, Any] | None,
    ) -> None:
        self.edits.append(
            Edit(
                chat_id=chat.id,
                message_id=message["message_id"],
                method=method,
                text=message.get("text") if raw_text is not None else None,
                raw_text=raw_text,
                parse_mode=params.text("parse_mode"),
                reply_markup=markup,
            )
        )
        self._signal()

    async def _answer_callback_query(self, params: _Params) -> bool:
        query_id = params.text("callback_query_id")
        if not query_id or query_id not in self._open_callbacks:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.text("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        self.answered_callbacks.append(
            AnsweredCallback(query_id, text, params.flag("show_alert"), params.text("url"))
        )
        self._signal()
        return True

    @staticmethod
    def _scope_key(params: _Params) -> tuple[dict[str, Any], str]:
        scope = params.json("scope") or {"type": "default"}
        known = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators",
                 "chat", "chat_administrators", "chat_member"}  # fmt: skip
        if not isinstance(scope, dict) or scope.get("type") not in known:
            raise bad_request("unsupported bot command scope type")
        return scope, params.text("language_code") or ""

    async def _set_my_commands(self, params: _Params) -> bool:
        commands = params.json("commands")
        if not isinstance(commands, list):
            raise bad_request("commands must be an Array")
        if len(commands) > MAX_BOT_COMMANDS:
            raise bad_request("too many commands")
        pairs: list[tuple[str, str]] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("BotCommand must be an Object")
            name = command.get("command")
            description = command.get("description")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            pairs.append((name, description))
        scope, language = self._scope_key(params)
        self._commands[(scope["type"], language)] = pairs
        self.command_registrations.append(CommandRegistration(scope, language, pairs))
        self._signal()
        return True

    async def _get_my_commands(self, params: _Params) -> list[dict[str, str]]:
        scope, language = self._scope_key(params)
        pairs = self._commands.get((scope["type"], language), [])
        return [{"command": c, "description": d} for c, d in pairs]

    async def _delete_my_commands(self, params: _Params) -> bool:
        scope, language = self._scope_key(params)
        self._commands.pop((scope["type"], language), None)
        return True

    async def _get_chat(self, params: _Params) -> dict[str, Any]:
        chat = self._chat(params)
        return {**chat.to_json(), "accent_color_id": 0, "max_reaction_count": 11}

    async def _send_chat_action(self, params: _Params) -> bool:
        self._writable_chat(params)
        return True

    async def _get_chat_member(self, params: _Params) -> dict[str, Any]:
        chat = self._chat(params)
        user_id = params.integer("user_id", required=True)
        assert user_id is not None
        if user_id == self.bot_user["id"]:
            return {"status": "member", "user": self.bot_user}
        user = self._users.get(user_id)
        if user is None:
            raise bad_request("user not found")
        status = chat.admins.get(user_id)
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            return {"status": "administrator", "user": user, **_ADMIN_RIGHTS}
        if user_id in chat.members or (chat.type == "private" and chat.id == user_id):
            return {"status": "member", "user": user}
        return {"status": "left", "user": user}


_ADMIN_RIGHTS: dict[str, bool] = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
}


def texts(messages: Iterable[SentMessage]) -> list[str]:
    """The visible texts of messages, for readable assertions."""
    return [m.text for m in messages]
