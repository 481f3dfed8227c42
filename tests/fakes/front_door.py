"""A ChatFrontDoor for adapter tests: canned Replies, and a record of every context it was given."""

from __future__ import annotations

from typing import Any

from core.chat.dispatcher import ChatFrontDoor
from core.chat.registry import CommandFamily, Param, Registry, split_command
from core.model import ChatContext, ChatKind
from core.reply import Reply

ALL = frozenset(ChatKind)
GROUPS = frozenset({ChatKind.GROUP, ChatKind.CHANNEL})

_family = CommandFamily("adapter-tests")


async def _unused(call: object, **args: Any) -> Reply:
    raise AssertionError("RecordingFrontDoor answers with canned replies")


def _stub(name: str, doc: str, *, chats: frozenset[ChatKind] = ALL, **options: Any) -> None:
    async def handler(call: object, **args: Any) -> Reply:
        return await _unused(call, **args)

    handler.__doc__ = doc
    _family.command(name, chats=chats, **options)(handler)


_stub("start", "Start here")
_stub("help", "What I can do")
_stub(
    "track",
    "Track a product page",
    params=(Param("link", "The page"), Param("target", "A price", required=False, rest=True)),
)
_stub("watches", "Tracked products")
_stub("untrack", "Stop tracking", params=(Param("watch", "A watch id"),))
_stub("history", "Price history", chats=frozenset({ChatKind.PRIVATE}))
_stub("feed", "Deal feed for this group (admins)", chats=GROUPS, needs_chat_admin=True)

REGISTRY = Registry([_family])
PRIVATE_COMMANDS = [
    ("start", "Start here"),
    ("help", "What I can do"),
    ("track", "Track a product page"),
    ("watches", "Tracked products"),
    ("untrack", "Stop tracking"),
    ("history", "Price history"),
]
GROUP_COMMANDS = [
    ("start", "Start here"),
    ("help", "What I can do"),
    ("track", "Track a product page"),
    ("watches", "Tracked products"),
    ("untrack", "Stop tracking"),
    ("feed", "Deal feed for this group (admins)"),
]

Outcome = Reply | Exception | None


class RecordingFrontDoor(ChatFrontDoor):
    """Answers each command word / action with a canned outcome (a Reply, None, or an exception
    to raise) and records (context, text) and (context, action) in arrival order. For commands
    whose spec needs a chat admin it asks the context, as the real dispatcher does, and records
    the answer in `admin_answers`."""

    registry = REGISTRY

    def __init__(self) -> None:
        self.texts: list[tuple[ChatContext, str]] = []
        self.actions: list[tuple[ChatContext, str]] = []
        self.admin_answers: list[tuple[str, bool]] = []
        self._text_outcomes: dict[str, Outcome] = {}
        self._action_outcomes: dict[str, Outcome] = {}

    def reply_to(self, command: str, outcome: Outcome) -> None:
        """`command` without slash ("track"); "" stands for any non-command text."""
        self._text_outcomes[command] = outcome

    def reply_to_action(self, action: str, outcome: Outcome) -> None:
        self._action_outcomes[action] = outcome

    def contexts_for(self, command: str) -> list[ChatContext]:
        return [ctx for ctx, text in self.texts if _command_word(text) == command]

    async def handle_text(
        self, ctx: ChatContext, text: str, *, addressed: bool = False
    ) -> Reply | None:
        self.texts.append((ctx, text))
        word = _command_word(text)
        spec = self.registry.get(word)
        if spec is not None and spec.needs_chat_admin:
            self.admin_answers.append((ctx.user.user_id, await ctx.administers_chat()))
        if word in self._text_outcomes:
            outcome = self._text_outcomes[word]
        elif word or ctx.chat_kind is ChatKind.PRIVATE:
            outcome = Reply.say(f"you said: {text}")
        else:
            outcome = None  # group chatter is not for the bot
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def handle_action(self, ctx: ChatContext, action: str) -> Reply | None:
        self.actions.append((ctx, action))
        outcome = self._action_outcomes.get(action, Reply.say(f"done: {action}"))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def handle_options(
        self, ctx: ChatContext, name: str, options: dict[str, Any]
    ) -> Reply | None:
        text = f"/{name} " + " ".join(str(value) for value in options.values())
        return await self.handle_text(ctx, text.strip())

    async def complete(self, ctx: ChatContext, source: str, typed: str) -> list[tuple[str, str]]:
        return []


def _command_word(text: str) -> str:
    """ "track" for "/track@PricebotTestBot https://...", "" for text that is not a command."""
    split = split_command(text)
    return split[0] if split is not None and text.startswith("/") else ""
