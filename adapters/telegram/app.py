"""The python-telegram-bot Application: commands, bare links and buttons in, core Replies out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    Chat,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from adapters.telegram.outgoing import send_reply
from adapters.telegram.render import TextPart, render_reply
from core.dispatcher import ChatFrontDoor
from core.errors import PricebotError
from core.model import ChatAddress, ChatContext, ChatKind, UserRef
from core.reply import Reply

log = logging.getLogger(__name__)

PLATFORM = "telegram"
APOLOGY = "Sorry, something went wrong on my side. Please try again in a minute."
# Only these commands need to know whether the sender administers the group: asking
# Telegram (getChatMember) for every command would spend rate limit for nothing.
COMMANDS_NEEDING_ADMIN = frozenset({"feed"})
ADMIN_STATUSES = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
CONCURRENT_UPDATES = 32  # a /track waits for a shop page; other chats should not wait for it
RETRY_AFTER_RETRIES = 2
_CHAT_KINDS = {
    ChatType.PRIVATE: ChatKind.PRIVATE,
    ChatType.GROUP: ChatKind.GROUP,
    ChatType.SUPERGROUP: ChatKind.GROUP,
    ChatType.CHANNEL: ChatKind.CHANNEL,
}


class ChatRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter (30 messages/s overall, 20/min per group, retries on RetryAfter)
    plus the one limit it leaves out: about 1 message/s per private chat, with a small burst so
    a reply split in two parts is not held back."""

    _MAX_IDLE_LIMITERS = 512

    def __init__(
        self,
        *,
        max_retries: int = RETRY_AFTER_RETRIES,
        private_chat_burst: float = 3,
        private_chat_period: float = 3,
    ) -> None:
        super().__init__(max_retries=max_retries)
        self._private_chat_burst = private_chat_burst
        self._private_chat_period = private_chat_period
        self._private_chat_limiters: dict[int, AsyncLimiter] = {}

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        limiter = self._private_chat_limiter(data.get("chat_id"))
        if limiter is None:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        async with limiter:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )

    def _private_chat_limiter(self, chat_id: object) -> AsyncLimiter | None:
        try:
            numeric = int(chat_id)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return None
        if numeric <= 0:  # groups and channels have negative ids; the group limiter has them
            return None
        if len(self._private_chat_limiters) > self._MAX_IDLE_LIMITERS:
            # Same minimal pruning as AIORateLimiter: forget limiters with full capacity.
            for key, idle in list(self._private_chat_limiters.items()):
                if key != numeric and idle.has_capacity(idle.max_rate):
                    del self._private_chat_limiters[key]
        limiter = self._private_chat_limiters.get(numeric)
        if limiter is None:
            limiter = AsyncLimiter(self._private_chat_burst, self._private_chat_period)
            self._private_chat_limiters[numeric] = limiter
        return limiter


def file_url_for(base_url: str) -> str:
    """Bot API file URL next to `base_url`: https://api.telegram.org/bot -> .../file/bot."""
    prefix, separator, rest = base_url.rpartition("/bot")
    if not separator:
        raise ValueError(f"base_url should end in /bot (PTB appends the token): {base_url!r}")
    return f"{prefix}/file/bot{rest}"


def command_names(front_door: ChatFrontDoor) -> list[str]:
    """Every command the front door knows, private and group, lower case, no slash."""
    names: list[str] = []
    for kind in ("private", "group"):
        for command, _description in front_door.command_list(kind):
            name = command.lstrip("/").lower()
            if name not in names:
                names.append(name)
    return names


def build_application(
    *,
    token: str,
    base_url: str,
    front_door: ChatFrontDoor,
    rate_limit: bool = True,
) -> Application:
    """A ready-to-start Application: one CommandHandler per command, bare text in private
    chats, button presses. The caller initializes, starts and stops it (bot/runtime.py)."""
    builder = (
        Application.builder()
        .token(token)
        .base_url(base_url)
        .base_file_url(file_url_for(base_url))
        .concurrent_updates(CONCURRENT_UPDATES)
    )
    if rate_limit:
        builder = builder.rate_limiter(ChatRateLimiter())
    application = builder.build()

    handlers = TelegramHandlers(front_door)
    # Edited messages are left out: editing "/track ..." must not track a second time.
    new_posts = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
    for name in command_names(front_door):
        application.add_handler(CommandHandler(name, handlers.on_text, filters=new_posts))
    # Private chats: bare product links, chatter and unknown commands go to the front door,
    # which answers them (an offer to track, or help). In groups other text is not ours.
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.TEXT,
            handlers.on_text,
        )
    )
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_error_handler(handlers.on_error)
    return application


async def register_commands(bot: Bot, front_door: ChatFrontDoor) -> None:
    """The command menus: one list for private chats, one for groups (setMyCommands)."""
    for kind, scope in (
        ("private", BotCommandScopeAllPrivateChats()),
        ("group", BotCommandScopeAllGroupChats()),
    ):
        commands = [
            BotCommand(command.lstrip("/").lower(), description)
            for command, description in front_door.command_list(kind)
        ]
        await bot.set_my_commands(commands, scope=scope)


class TelegramHandlers:
    """Translates updates into front door calls and Replies back into messages."""

    def __init__(self, front_door: ChatFrontDoor) -> None:
        self._front_door = front_door

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command anywhere, or any text in a private chat."""
        message = update.effective_message
        if message is None or message.text is None:
            return
        thread_id = _topic_thread(message)
        try:
            chat_context = await self._context_for_message(message, context.bot)
            reply = await self._front_door.handle_text(chat_context, message.text)
            if reply is not None:
                await send_reply(context.bot, message.chat.id, reply, message_thread_id=thread_id)
        except Exception as error:
            log.exception("handling a message in chat %s failed", message.chat.id)
            await _apologise(context.bot, message.chat.id, thread_id, error)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A callback button: the front door acts, the query is answered, the message edited."""
        query = update.callback_query
        if query is None:
            return
        message = query.message if isinstance(query.message, Message) else None
        if message is None or not query.data:
            # A button on an inline or very old message: nothing we can show it in.
            await _answer(query, "This button has expired.")
            return
        thread_id = _topic_thread(message)
        try:
            reply = await self._front_door.handle_action(
                self._context_for_button(query, message), query.data
            )
        except Exception as error:
            log.exception("handling button %r in chat %s failed", query.data, message.chat.id)
            await _answer(query, _apology_text(error), alert=True)
            return
        if reply.is_error and len(reply.text) <= 200:
            # An error ("that watch is gone") must not wipe out the alert the button is on.
            await _answer(query, reply.text, alert=True)
            return
        await _answer(query)
        try:
            await _show_in_place(context.bot, message, thread_id, reply)
        except Exception as error:
            log.exception("showing the answer to button %r failed", query.data)
            await _apologise(context.bot, message.chat.id, thread_id, error)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Errors outside the handlers above (e.g. polling): logged, never raised."""
        log.error("telegram adapter error", exc_info=context.error)

    async def _context_for_message(self, message: Message, bot: Bot) -> ChatContext:
        chat = message.chat
        kind = _CHAT_KINDS.get(chat.type, ChatKind.GROUP)
        if kind is ChatKind.CHANNEL or message.from_user is None:
            # Channel posts (and anonymous admins) speak as the chat itself.
            sender = message.sender_chat or chat
            user = UserRef(PLATFORM, str(sender.id), sender.title or "")
        else:
            user = UserRef(PLATFORM, str(message.from_user.id), message.from_user.full_name)
        is_admin = False
        if kind is not ChatKind.PRIVATE and _command(message) in COMMANDS_NEEDING_ADMIN:
            is_admin = await _administers(bot, chat, message)
        return ChatContext(
            user=user,
            address=ChatAddress(PLATFORM, str(chat.id), _thread_str(message)),
            chat_kind=kind,
            is_chat_admin=is_admin,
        )

    @staticmethod
    def _context_for_button(query: CallbackQuery, message: Message) -> ChatContext:
        chat = message.chat
        return ChatContext(
            user=UserRef(PLATFORM, str(query.from_user.id), query.from_user.full_name),
            address=ChatAddress(PLATFORM, str(chat.id), _thread_str(message)),
            chat_kind=_CHAT_KINDS.get(chat.type, ChatKind.GROUP),
        )


def _command(message: Message) -> str | None:
    """`feed` for "/feed@PricebotBot on"; None when the message is not a command."""
    entities = message.entities
    if not entities or entities[0].type != MessageEntity.BOT_COMMAND or entities[0].offset:
        return None
    word = message.parse_entity(entities[0])
    return word[1:].split("@", 1)[0].lower()


async def _administers(bot: Bot, chat: Chat, message: Message) -> bool:
    if chat.type == ChatType.CHANNEL:
        return True  # only a channel's admins can post in it
    if message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an anonymous group admin, posting as the group
    if message.from_user is None:
        return False
    try:
        member = await bot.get_chat_member(chat.id, message.from_user.id)
    except TelegramError as error:
        log.warning("getChatMember in chat %s failed: %s", chat.id, error)
        return False
    return member.status in ADMIN_STATUSES


def _topic_thread(message: Message) -> int | None:
    # message_thread_id is also set on replies in non-forum groups; only forum topics count.
    if message.is_topic_message and message.message_thread_id is not None:
        return message.message_thread_id
    return None


def _thread_str(message: Message) -> str | None:
    thread_id = _topic_thread(message)
    return str(thread_id) if thread_id is not None else None


async def _show_in_place(bot: Bot, message: Message, thread_id: int | None, reply: Reply) -> None:
    """Edits the pressed message into `reply`; a reply that cannot replace a text message
    (a chart image, several parts, a pressed photo) is sent as new messages instead."""
    parts = render_reply(reply)
    if len(parts) == 1 and isinstance(parts[0], TextPart) and message.text is not None:
        part = parts[0]
        try:
            await bot.edit_message_text(
                part.html,
                chat_id=message.chat.id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=part.reply_markup,
            )
        except BadRequest as error:
            # A double tap edits to the same content; Telegram refuses that, harmlessly.
            if "message is not modified" not in error.message.lower():
                raise
        return
    await send_reply(bot, message.chat.id, reply, message_thread_id=thread_id)


async def _answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Stops the button's spinner; an expired query must not turn into an error for the user."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as error:
        log.warning("answering callback query failed: %s", error)


def _apology_text(error: Exception) -> str:
    # A core error that escaped the front door still carries words made for the user.
    return error.user_message if isinstance(error, PricebotError) else APOLOGY


async def _apologise(bot: Bot, chat_id: int, thread_id: int | None, error: Exception) -> None:
    try:
        await send_reply(
            bot, chat_id, Reply.error(_apology_text(error)), message_thread_id=thread_id
        )
    except Exception:  # the chat may be why it failed (blocked, gone): nothing more to do
        log.warning("could not send an apology to chat %s", chat_id, exc_info=True)
