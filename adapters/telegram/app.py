"""The python-telegram-bot Application: commands, bare links and buttons in, core Replies out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
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
    User,
)
from telegram.constants import BotCommandLimit, ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from adapters.telegram.outgoing import send_reply
from adapters.telegram.render import TextPart, render_reply
from core.chat.dispatcher import ChatFrontDoor, apology_for
from core.chat.registry import Registry
from core.model import ChatAddress, ChatContext, ChatKind, UserRef
from core.reply import Reply

log = logging.getLogger(__name__)

PLATFORM = "telegram"
ADMIN_STATUSES = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
CONCURRENT_CHATS = 32  # a /track waits for a shop page; other chats should not wait for it
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


class ChatFairUpdateProcessor(BaseUpdateProcessor):
    """Each chat's updates run one at a time and in order, and at most `concurrency` chats
    are served at once. A flood from one chat (and its replies waiting in that chat's rate
    limiter) then holds one slot, never all of them, so other chats are answered at once.

    PTB's own limit is set far above ours: it holds its slot while an update waits for its
    chat's turn, which is exactly what must not happen."""

    def __init__(self, concurrency: int = CONCURRENT_CHATS) -> None:
        super().__init__(max_concurrent_updates=1_000_000)
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self._chats: dict[object, tuple[asyncio.Lock, int]] = {}

    async def initialize(self) -> None:
        self._slots = asyncio.Semaphore(self._concurrency)

    async def shutdown(self) -> None:
        self._chats.clear()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        key = _chat_key(update)
        lock, users = self._chats.get(key) or (asyncio.Lock(), 0)
        self._chats[key] = (lock, users + 1)
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            lock, users = self._chats[key]
            if users <= 1:
                del self._chats[key]
            else:
                self._chats[key] = (lock, users - 1)


def _chat_key(update: object) -> object:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return update  # no chat: its own queue


def build_bot(token: str, base_url: str, *, rate_limit: bool = True) -> ExtBot[Any]:
    """The bot that both the chat front end and the notifier use: one rate limiter sees
    every message pricebot sends to Telegram."""
    return ExtBot(
        token,
        base_url=base_url,
        base_file_url=file_url_for(base_url),
        rate_limiter=ChatRateLimiter() if rate_limit else None,
    )


def build_application(bot: ExtBot[Any], front_door: ChatFrontDoor) -> Application:
    """A ready-to-start Application whose handlers come from the command registry: one
    CommandHandler per command, bare text in private chats, unknown commands addressed to
    this bot in groups, button presses. The caller initializes, starts and stops it."""
    application = (
        Application.builder().bot(bot).concurrent_updates(ChatFairUpdateProcessor()).build()
    )
    handlers = TelegramHandlers(front_door)
    # Edited messages are left out: editing "/track ..." must not track a second time.
    new_posts = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
    for name in front_door.registry.top_level_names():
        application.add_handler(CommandHandler(name, handlers.on_text, filters=new_posts))
    # Private chats: bare product links, chatter and unknown commands go to the front door,
    # which answers them (an offer to track, or help). In groups other text is not ours,
    # except an unknown command addressed to this very bot, which gets an answer.
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.TEXT,
            handlers.on_text,
        )
    )
    application.add_handler(
        MessageHandler(new_posts & filters.COMMAND & _AddressedToThisBot(), handlers.on_text)
    )
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_error_handler(handlers.on_error)
    return application


class _AddressedToThisBot(filters.MessageFilter):
    """A command written /name@ThisBot."""

    def filter(self, message: Message) -> bool:
        return _names_this_bot(message)


def _names_this_bot(message: Message) -> bool:
    """Whether the message is a command written /name@ThisBot (the bot's username is known
    once it is initialized)."""
    command = _command_word(message)
    bot_name = message.get_bot().username if message.get_bot() else None
    return bool(command and bot_name and command[1].lower() == bot_name.lower())


def menu(registry: Registry, chat_kind: ChatKind) -> list[tuple[str, str]]:
    """(command, description) for one kind of chat: every visible top-level command; a
    group of subcommands ("holdings add", "holdings remove") is one entry."""
    entries: dict[str, str] = {}
    for spec in registry.visible(chat_kind):
        word = spec.words[0]
        if len(spec.words) == 1:
            entries[word] = spec.summary[: BotCommandLimit.MAX_DESCRIPTION]
        else:
            subs = " | ".join(sub.words[1] for sub in registry.subcommands(word))
            entries.setdefault(word, f"/{word} {subs}")
    return list(entries.items())


async def register_commands(bot: Bot, registry: Registry) -> None:
    """The command menus: one list for private chats, one for groups (setMyCommands)."""
    for kind, scope in (
        (ChatKind.PRIVATE, BotCommandScopeAllPrivateChats()),
        (ChatKind.GROUP, BotCommandScopeAllGroupChats()),
    ):
        commands = [BotCommand(name, description) for name, description in menu(registry, kind)]
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
            chat_context = self._context_for_message(message, context.bot)
            reply = await self._front_door.handle_text(
                chat_context, message.text, addressed=_names_this_bot(message)
            )
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
                self._context_for_button(query, message, context.bot), query.data
            )
        except Exception as error:
            log.exception("handling button %r in chat %s failed", query.data, message.chat.id)
            await _answer(query, apology_for(error), alert=True)
            return
        if reply is None:
            await _answer(query)
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
        log.error("telegram adapter error: %s", _describe(context.error))

    def _context_for_message(self, message: Message, bot: Bot) -> ChatContext:
        chat = message.chat
        kind = _CHAT_KINDS.get(chat.type, ChatKind.GROUP)
        return ChatContext(
            user=_acting_user(message, kind),
            address=ChatAddress(PLATFORM, str(chat.id), _thread_str(message)),
            chat_kind=kind,
            admin_check=lambda: _administers(bot, chat, message.sender_chat, message.from_user),
        )

    @staticmethod
    def _context_for_button(query: CallbackQuery, message: Message, bot: Bot) -> ChatContext:
        chat = message.chat
        return ChatContext(
            user=UserRef(PLATFORM, str(query.from_user.id), query.from_user.full_name),
            address=ChatAddress(PLATFORM, str(chat.id), _thread_str(message)),
            chat_kind=_CHAT_KINDS.get(chat.type, ChatKind.GROUP),
            admin_check=lambda: _administers(bot, chat, None, query.from_user),
        )


def _acting_user(message: Message, kind: ChatKind) -> UserRef:
    """Who acts: the person, or the chat a message was sent on behalf of.

    Anonymous group admins arrive "from" GroupAnonymousBot and posts sent as a channel "from"
    ChannelBot: the same placeholder user for everyone, so it cannot be who acts. The chat
    they speak for (`sender_chat`) is, scoped to the chat it speaks in: an anonymous admin
    is the group itself, a channel speaking in a group is that channel in that group."""
    chat = message.chat
    sender_chat = message.sender_chat
    if kind is ChatKind.CHANNEL or (sender_chat is not None and sender_chat.id == chat.id):
        return UserRef(PLATFORM, str(chat.id), chat.title or "")
    if sender_chat is not None:
        return UserRef(PLATFORM, f"{sender_chat.id}@{chat.id}", sender_chat.title or "")
    if message.from_user is None:
        return UserRef(PLATFORM, str(chat.id), chat.title or "")
    return UserRef(PLATFORM, str(message.from_user.id), message.from_user.full_name)


def _command_word(message: Message) -> tuple[str, str] | None:
    """('feed', 'PricebotBot') for "/feed@PricebotBot on"; None when it is not a command."""
    entities = message.entities
    if not entities or entities[0].type != MessageEntity.BOT_COMMAND or entities[0].offset:
        return None
    word = message.parse_entity(entities[0])
    name, _, bot_name = word[1:].partition("@")
    return name.lower(), bot_name


async def _administers(bot: Bot, chat: Chat, sender_chat: Chat | None, user: User | None) -> bool:
    # Only admins post in a channel (the post comes from the channel itself) and an anonymous
    # admin speaks as the group itself. Anyone else, such as a subscriber pressing a button
    # under a channel's alert, is asked about.
    if sender_chat is not None:
        return sender_chat.id == chat.id
    if user is None:
        return False
    try:
        member = await bot.get_chat_member(chat.id, user.id)
    except TelegramError as error:
        log.warning("getChatMember in chat %s failed: %s", chat.id, error)
        return False
    return member.status in ADMIN_STATUSES


class _OneLineErrors(logging.Filter):
    """Turns PTB's tracebacks into one warning line. Used while stopping: the last getUpdates,
    which only confirms updates already handled, may time out or be cut off, and PTB logs
    that with a full traceback although nothing is wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            first_line = record.getMessage().split("\n", 1)[0].split(": ", 1)[0]
            record.msg, record.args = f"{first_line} ({_describe(error)})", None
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


@contextlib.contextmanager
def quiet_stop() -> Iterator[None]:
    """While the Application stops, its errors are logged as single lines."""
    quiet = _OneLineErrors()
    loggers = [
        logging.getLogger(name) for name in ("telegram.ext.Updater", "telegram.ext.Application")
    ]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def _describe(error: BaseException | None) -> str:
    """One line for an error PTB hands us outside a handler (the traceback of a failed
    getUpdates says nothing an operator can act on)."""
    if error is None:
        return "unknown error"
    return f"{type(error).__name__}: {error}"


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


async def _apologise(bot: Bot, chat_id: int, thread_id: int | None, error: Exception) -> None:
    try:
        await send_reply(bot, chat_id, Reply.error(apology_for(error)), message_thread_id=thread_id)
    except Exception:  # the chat may be why it failed (blocked, gone): nothing more to do
        log.warning("could not send an apology to chat %s", chat_id, exc_info=True)
